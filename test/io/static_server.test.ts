/**
 * The demo's static server: it serves the mounted folders and nothing else. Traversal in every
 * spelling, absolute paths, hidden files, symbolic links out of a mount, files outside an
 * allow-list and folders all get 404 (issue 8, "demo server"). Requests are sent raw over HTTP,
 * because `fetch` and `URL` would normalise `a/../b` before it ever reached the server.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';

import {
  demoMounts,
  modelsIndex,
  Mount,
  resolveRequest,
  RunningServer,
  safePathSegments,
  startStaticServer,
} from '../../src/io/static_server';

const ROOT = path.resolve(__dirname, '../..');
const SECRET = 'top secret: must never be served';

let tree: string;
let server: RunningServer;
let mounts: Mount[];

/** A site folder, a models folder, an allow-listed vendor folder, and secrets around them. */
function makeTree(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'static-server-'));
  const write = (file: string, text: string) => {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.writeFileSync(path.join(dir, file), text);
  };
  write('secret.txt', SECRET);
  write('site/index.html', '<!doctype html><title>demo</title>');
  write('site/app.js', 'console.log(1)');
  write('site/.env', SECRET);
  write('models/reverse/model.json', '{"modelTopology":{}}');
  write(
    'models/reverse/task.json',
    JSON.stringify({ task: { name: 'reverse' }, metrics: { heldOutExactMatch: 0.995 } }),
  );
  write('models/reverse/weights.bin', 'weights');
  write('models/reverse/study.json', '{}');
  write('models/reverse/.weights.bin.tmp-1-abc', SECRET);
  write('models/copy/model.json', '{}');
  write('models/copy/task.json', JSON.stringify({ task: { name: 'copy' } }));
  write('models/broken/model.json', '{}'); // no task.json: not listed
  write('models/zeta/model.json', '{}');
  write('models/zeta/task.json', JSON.stringify({ task: { name: 'reverse' } }));
  write('models/.git/config', SECRET);
  write('vendor/tf.min.js', 'var tf = {}');
  write('vendor/tf.js', SECRET); // present but not allow-listed
  write('vendor/backend.wasm', '\0asm');
  fs.symlinkSync(path.join(dir, 'secret.txt'), path.join(dir, 'models', 'link-out.txt'));
  fs.symlinkSync(path.join(dir), path.join(dir, 'models', 'link-dir'));
  return dir;
}

beforeAll(async () => {
  tree = makeTree();
  mounts = [
    { prefix: '/', dir: path.join(tree, 'site'), index: 'index.html' },
    { prefix: '/models/', dir: path.join(tree, 'models') },
    { prefix: '/vendor/tfjs/', dir: path.join(tree, 'vendor'), files: ['tf.min.js', 'backend.wasm'] },
  ];
  server = await startStaticServer(
    { mounts, generated: { '/models/index.json': () => modelsIndex(path.join(tree, 'models')) } },
    0,
  );
});

afterAll(async () => {
  await server?.close();
  fs.rmSync(tree, { recursive: true, force: true });
});

interface Reply {
  status: number;
  type: string | undefined;
  body: string;
}

/** Sends `target` byte for byte as the request target (no URL normalisation). */
function request(target: string, method = 'GET'): Promise<Reply> {
  const { port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: target }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, type: res.headers['content-type'], body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('serves what is mounted', () => {
  test.each([
    ['/', 'text/html; charset=utf-8', '<!doctype html><title>demo</title>'],
    ['/index.html', 'text/html; charset=utf-8', '<!doctype html><title>demo</title>'],
    ['/?model=reverse&input=314', 'text/html; charset=utf-8', '<!doctype html><title>demo</title>'],
    ['/app.js', 'text/javascript; charset=utf-8', 'console.log(1)'],
    ['/models/reverse/model.json', 'application/json; charset=utf-8', '{"modelTopology":{}}'],
    ['/models/reverse/weights.bin', 'application/octet-stream', 'weights'],
    ['/models/rev%65rse/model.json', 'application/json; charset=utf-8', '{"modelTopology":{}}'],
    ['/vendor/tfjs/tf.min.js', 'text/javascript; charset=utf-8', 'var tf = {}'],
    ['/vendor/tfjs/backend.wasm', 'application/wasm', '\0asm'],
  ])('GET %s', async (target, type, body) => {
    expect(await request(target)).toEqual({ status: 200, type, body });
  });

  test('HEAD answers without a body; other methods get 405', async () => {
    expect(await request('/app.js', 'HEAD')).toEqual({ status: 200, type: 'text/javascript; charset=utf-8', body: '' });
    expect((await request('/app.js', 'POST')).status).toBe(405);
    expect((await request('/app.js', 'PUT')).status).toBe(405);
  });

  test('/models/index.json lists the model folders with a task.json (toy tasks first) and their studies', async () => {
    const reply = await request('/models/index.json');
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.body)).toEqual({
      models: [
        { name: 'copy', task: 'copy' },
        { name: 'reverse', task: 'reverse', heldOutExactMatch: 0.995, study: 'study.json' },
        { name: 'zeta', task: 'reverse' },
      ],
    });
  });
});

describe('404 for everything else (issue 8: no traversal, no listing)', () => {
  test.each([
    // parent segments, plain and percent-encoded in every case
    '/../secret.txt',
    '/models/../secret.txt',
    '/models/../../secret.txt',
    '/models/reverse/../../secret.txt',
    '/models/%2e%2e/secret.txt',
    '/models/%2E%2E/secret.txt',
    '/models/.%2e/secret.txt',
    '/%2e%2e/%2e%2e/secret.txt',
    '/models/%2e%2e%2fsecret.txt',
    '/models/..%2Fsecret.txt',
    '/models/..%5csecret.txt',
    '/models/reverse/./model.json',
    // backslashes, raw and encoded
    '/models\\..\\secret.txt',
    '/models/reverse\\model.json',
    '/models/%5c..%5csecret.txt',
    // absolute paths and other hosts
    '//etc/passwd',
    '/%2fetc%2fpasswd',
    '/etc/passwd',
    '/models/C:%5cWindows%5cwin.ini',
    'http://127.0.0.1/secret.txt',
    '/secret.txt',
    // NUL and malformed encodings
    '/models/reverse/model.json%00',
    '/models/reverse/model.json%00.png',
    '/models/%zz',
    // hidden files: dotfiles, a save's temporary file, .git
    '/.env',
    '/models/.git/config',
    '/models/reverse/.weights.bin.tmp-1-abc',
    // symbolic links that lead out of the mount
    '/models/link-out.txt',
    '/models/link-dir/secret.txt',
    // not on the mount's allow-list
    '/vendor/tfjs/tf.js',
    '/vendor/tfjs/',
    // folders: no listing
    '/models/',
    '/models',
    '/models/reverse/',
    '/models/reverse',
    '/models//reverse/model.json',
    // simply missing
    '/models/reverse/missing.json',
    '/nothing-here.js',
  ])('%s', async (target) => {
    const reply = await request(target);
    expect({ target, status: reply.status }).toEqual({ target, status: 404 });
    expect(reply.body).not.toContain(SECRET);
  });

  test('resolveRequest agrees without a server', () => {
    expect(resolveRequest(mounts, '/models/../secret.txt')).toBeNull();
    expect(resolveRequest(mounts, '/models/reverse/model.json')).toBe(
      fs.realpathSync(path.join(tree, 'models/reverse/model.json')),
    );
  });
});

test('safePathSegments decodes each segment and refuses unsafe ones', () => {
  expect(safePathSegments('/models/rev%65rse/model.json?x=1#y')).toEqual(['models', 'reverse', 'model.json']);
  expect(safePathSegments('/')).toEqual(['']);
  expect(safePathSegments('/models/')).toEqual(['models', '']);
  for (const bad of [
    '',
    '*',
    'models/x',
    '/a/../b',
    '/a/%2e%2e/b',
    '/a%2fb',
    '/a%5cb',
    '/a\\b',
    '/a//b',
    '/.x',
    '/a:b',
    '/a%00',
  ]) {
    expect({ bad, segments: safePathSegments(bad) }).toEqual({ bad, segments: null });
  }
});

test("the demo's mounts point at files that exist: tfjs's script and the wasm binaries", () => {
  const found = demoMounts(ROOT)
    .filter((mount) => mount.files !== undefined)
    .flatMap((mount) => mount.files!.map((file) => fs.existsSync(path.join(mount.dir, file))));
  expect(found.length).toBeGreaterThanOrEqual(5);
  expect(found.every(Boolean)).toBe(true);
  expect(demoMounts(ROOT).map((m) => m.prefix)).toEqual([
    '/',
    '/dist/browser/',
    '/vendor/tfjs/',
    '/vendor/tfjs-backend-wasm/',
    '/models/',
  ]);
});

test('a taken port is a readable error', async () => {
  const { port } = new URL(server.url);
  await expect(startStaticServer({ mounts }, Number(port))).rejects.toThrow(
    `port ${port} on 127.0.0.1 is already in use; choose another with --port N`,
  );
});

test('npm run demo: a bad --port exits with code 2 and one line, saying where the options are', () => {
  const run = spawnSync(
    process.execPath,
    ['-r', 'ts-node/register/transpile-only', 'scripts/demo.ts', '--port', 'eighty'],
    {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, TS_NODE_PROJECT: path.join(ROOT, 'tsconfig.json') },
    },
  );
  expect(run.status).toBe(2);
  expect(run.stderr).toBe(
    'error: --port must be an integer in [0, 65535], got "eighty"; npm run demo -- --help lists every option\n',
  );
  expect(run.stderr).not.toMatch(/\n\s+at /); // no stack trace
});
