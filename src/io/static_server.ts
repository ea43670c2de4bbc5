/**
 * The demo's static file server (Node only; `npm run demo` starts it through scripts/demo.ts).
 *
 * It serves a fixed set of folders ("mounts") under URL prefixes, and nothing else:
 *
 *     /                          dist/demo            the demo page (index.html for '/')
 *     /dist/browser/             dist/browser         the bundles
 *     /vendor/tfjs/              tfjs's dist          only tf.min.js (+ map)
 *     /vendor/tfjs-backend-wasm/ tfjs-backend-wasm    only its script and .wasm binaries
 *     /models/                   models               the trained models; /models/index.json lists them
 *
 * Every request path is checked segment by segment before it touches the disk: a `.` or `..`
 * segment (also percent-encoded: `%2e%2e`), a segment that decodes to a slash or backslash, a raw
 * backslash, a drive letter or other colon, a NUL, an empty segment (`//etc/passwd`), a hidden
 * file (`.git`), an absolute-form target (`http://host/...`) and any path that resolves, through
 * symbolic links, outside its mount all get 404, as does a folder (no directory listing). The raw
 * path is used, not a WHATWG URL, because URL parsing would silently collapse `a/../b` into `b`.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';

import { TASK_NAMES } from '../tasks/tasks';

/** A folder served under a URL prefix. */
export interface Mount {
  /** URL path prefix, starting and ending with '/' ('/' for the site root, '/models/'). */
  prefix: string;
  /** The folder served under `prefix`. */
  dir: string;
  /** When given, only these paths (relative to `dir`, '/'-separated) are served. Default: every file. */
  files?: readonly string[];
  /** File served for the prefix itself (e.g. 'index.html' for '/'). Default: none (404). */
  index?: string;
}

/** Options of `createStaticServer`. */
export interface StaticServerOptions {
  /** The folders to serve; a path matches the mount with the longest matching prefix. */
  mounts: readonly Mount[];
  /** JSON documents computed per request, by exact URL path (e.g. '/models/index.json'). Default none. */
  generated?: Readonly<Record<string, () => unknown>>;
  /**
   * Serve every response with the headers that make a page cross-origin isolated
   * (Cross-Origin-Opener-Policy: same-origin, Cross-Origin-Embedder-Policy: require-corp), which
   * browsers require before they give a page SharedArrayBuffer, and so threads: tfjs's threaded
   * wasm build and this library's kernel threads. Default false.
   */
  crossOriginIsolated?: boolean;
}

/** One entry of the models index: a folder with model.json and task.json. */
export interface ModelIndexEntry {
  /** Folder name, also the URL path under /models/. */
  name: string;
  /** task.task.name. */
  task: string;
  /** task.json's metrics.heldOutExactMatch, when present. */
  heldOutExactMatch?: number;
  /** 'study.json' when the folder has the study `npm run study` writes. */
  study?: string;
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.jsonl': 'application/x-ndjson; charset=utf-8',
  // instantiateStreaming, which tfjs-backend-wasm prefers, requires exactly this type.
  '.wasm': 'application/wasm',
  '.bin': 'application/octet-stream',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * The URL path of a request target, split into decoded segments, or null when the target is not
 * a safe origin-form path (see the file comment). A trailing slash gives a final '' segment.
 */
export function safePathSegments(target: string): string[] | null {
  if (!target.startsWith('/') || target.startsWith('//')) return null; // absolute-form or //host
  const pathOnly = target.split(/[?#]/, 1)[0];
  if (pathOnly.includes('\\')) return null;
  const raw = pathOnly.slice(1).split('/');
  const segments: string[] = [];
  for (let i = 0; i < raw.length; i++) {
    let segment: string;
    try {
      segment = decodeURIComponent(raw[i]);
    } catch {
      return null; // malformed percent-encoding
    }
    const last = i === raw.length - 1;
    if (segment === '') {
      if (last) {
        segments.push('');
        continue;
      }
      return null;
    }
    if (
      segment.startsWith('.') || // '.', '..', and hidden files such as .git or a write's .tmp file
      /[/\\:\0]/.test(segment)
    ) {
      return null;
    }
    segments.push(segment);
  }
  return segments;
}

/**
 * The file a request target maps to, or null (answer 404). Checks the path (`safePathSegments`),
 * the mount's allow-list, that the real path (symbolic links resolved) stays inside the mount's
 * folder, and that it is a regular file.
 */
export function resolveRequest(mounts: readonly Mount[], target: string): string | null {
  const segments = safePathSegments(target);
  if (segments === null) return null;
  const urlPath = '/' + segments.join('/');
  const mount = [...mounts]
    .sort((a, b) => b.prefix.length - a.prefix.length)
    .find((m) => urlPath.startsWith(m.prefix) || urlPath === m.prefix.slice(0, -1));
  if (mount === undefined) return null;

  let relative = urlPath.slice(mount.prefix.length);
  if (relative === '' || urlPath === mount.prefix.slice(0, -1)) {
    if (mount.index === undefined) return null;
    relative = mount.index;
  }
  if (relative.endsWith('/')) return null; // a folder: no listing
  if (mount.files !== undefined && !mount.files.includes(relative)) return null;

  let root: string;
  let file: string;
  try {
    root = fs.realpathSync(mount.dir);
    file = fs.realpathSync(path.join(mount.dir, ...relative.split('/')));
  } catch {
    return null; // missing
  }
  if (!file.startsWith(root + path.sep)) return null;
  try {
    if (!fs.statSync(file).isFile()) return null;
  } catch {
    return null;
  }
  return file;
}

/** The models under `dir`: every non-hidden folder with model.json and a readable task.json. */
export function modelsIndex(dir: string): { models: ModelIndexEntry[] } {
  let names: string[];
  try {
    names = fs
      .readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
      .map((e) => e.name);
  } catch {
    return { models: [] };
  }
  const models: ModelIndexEntry[] = [];
  for (const name of names) {
    const folder = path.join(dir, name);
    if (!fs.existsSync(path.join(folder, 'model.json'))) continue;
    let info: { task?: { name?: unknown }; metrics?: { heldOutExactMatch?: unknown } };
    try {
      info = JSON.parse(fs.readFileSync(path.join(folder, 'task.json'), 'utf8'));
    } catch {
      continue; // no usable task.json: loadSeq2Seq would refuse it too
    }
    if (typeof info?.task?.name !== 'string') continue;
    const entry: ModelIndexEntry = { name, task: info.task.name };
    const exact = info.metrics?.heldOutExactMatch;
    if (typeof exact === 'number') entry.heldOutExactMatch = exact;
    if (fs.existsSync(path.join(folder, 'study.json'))) entry.study = 'study.json';
    models.push(entry);
  }
  // The four toy tasks in the README's order, then anything else by name.
  const rank = (name: string) => {
    const i = (TASK_NAMES as readonly string[]).indexOf(name);
    return i < 0 ? TASK_NAMES.length : i;
  };
  models.sort((a, b) => rank(a.name) - rank(b.name) || a.name.localeCompare(b.name));
  return { models };
}

/** The site `npm run demo` serves: `demoMounts(root)` and models/index.json, on `port` (0: a free one). */
export function startDemoServer(root: string, port: number): Promise<RunningServer> {
  const modelsDir = path.join(root, 'models');
  return startStaticServer(
    { mounts: demoMounts(root), generated: { '/models/index.json': () => modelsIndex(modelsDir) } },
    port,
  );
}

/** The demo's mounts for a checkout at `root` (see the file comment). */
export function demoMounts(root: string): Mount[] {
  const packageDist = (name: string) =>
    path.join(path.dirname(require.resolve(`${name}/package.json`, { paths: [root] })), 'dist');
  return [
    { prefix: '/', dir: path.join(root, 'dist', 'demo'), index: 'index.html' },
    { prefix: '/dist/browser/', dir: path.join(root, 'dist', 'browser') },
    { prefix: '/vendor/tfjs/', dir: packageDist('@tensorflow/tfjs'), files: ['tf.min.js', 'tf.min.js.map'] },
    {
      prefix: '/vendor/tfjs-backend-wasm/',
      dir: packageDist('@tensorflow/tfjs-backend-wasm'),
      files: [
        'tf-backend-wasm.min.js',
        'tf-backend-wasm.min.js.map',
        'tfjs-backend-wasm.wasm',
        'tfjs-backend-wasm-simd.wasm',
        'tfjs-backend-wasm-threaded-simd.wasm',
      ],
    },
    { prefix: '/models/', dir: path.join(root, 'models') },
  ];
}

/** A server for `options` (not yet listening). GET and HEAD only. */
export function createStaticServer(options: StaticServerOptions): http.Server {
  const mounts = [...options.mounts];
  for (const mount of mounts) {
    if (!mount.prefix.startsWith('/') || !mount.prefix.endsWith('/')) {
      throw new Error(`static server: mount prefix ${JSON.stringify(mount.prefix)} must start and end with '/'`);
    }
  }
  const generated = options.generated ?? {};

  return http.createServer((request, response) => {
    const reply = (status: number, body: string, headers: http.OutgoingHttpHeaders = {}) => {
      response.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', ...headers });
      response.end(request.method === 'HEAD' ? undefined : body);
    };
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      reply(405, 'method not allowed\n', { Allow: 'GET, HEAD' });
      return;
    }
    const target = request.url ?? '';
    const common: http.OutgoingHttpHeaders = { 'Cache-Control': 'no-cache', 'X-Content-Type-Options': 'nosniff' };
    if (options.crossOriginIsolated) {
      common['Cross-Origin-Opener-Policy'] = 'same-origin';
      common['Cross-Origin-Embedder-Policy'] = 'require-corp';
    }

    const segments = safePathSegments(target);
    const urlPath = segments === null ? null : '/' + segments.join('/');
    if (urlPath !== null && Object.prototype.hasOwnProperty.call(generated, urlPath)) {
      let body: string;
      try {
        body = JSON.stringify(generated[urlPath](), null, 2) + '\n';
      } catch (error) {
        reply(500, `could not build ${urlPath}: ${(error as Error).message}\n`);
        return;
      }
      reply(200, body, { ...common, 'Content-Type': CONTENT_TYPES['.json'] });
      return;
    }

    const file = resolveRequest(mounts, target);
    if (file === null) {
      reply(404, 'not found\n', common);
      return;
    }
    const type = CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
    const size = fs.statSync(file).size;
    response.writeHead(200, { ...common, 'Content-Type': type, 'Content-Length': size });
    if (request.method === 'HEAD') {
      response.end();
      return;
    }
    const stream = fs.createReadStream(file);
    stream.on('error', () => response.destroy());
    stream.pipe(response);
  });
}

/** A running server and its base URL ('http://127.0.0.1:8080/'). */
export interface RunningServer {
  server: http.Server;
  url: string;
  close(): Promise<void>;
}

/**
 * Starts `createStaticServer(options)` on 127.0.0.1 (never on other interfaces: it is a
 * development server). Port 0 picks a free port. Rejects with a readable error when the port is taken.
 */
export function startStaticServer(options: StaticServerOptions, port: number): Promise<RunningServer> {
  const server = createStaticServer(options);
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      reject(
        error.code === 'EADDRINUSE'
          ? new Error(`port ${port} on 127.0.0.1 is already in use; choose another with --port N`)
          : error,
      );
    });
    server.listen(port, '127.0.0.1', () => {
      const { port: actual } = server.address() as AddressInfo;
      resolve({
        server,
        url: `http://127.0.0.1:${actual}/`,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}
