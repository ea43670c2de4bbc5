/**
 * Every TypeScript block of the README compiles, each as a module of its own in an app where
 * 'tfjs-attention' is this repository's src/index.ts (strict, ES2022 with top-level await, Node's
 * and the DOM's types), so an example cannot use a name it never defines or an API that changed.
 * A block fenced as `ts runnable` (the rest of the info string is invisible on GitHub and npm) also
 * runs, in this process, from the repository's root: it must finish without an error.
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import * as ts from 'typescript';

const ROOT = path.resolve(__dirname, '..');
const README = path.join(ROOT, 'README.md');

interface Block {
  /** The block's first line in README.md, 1-based. */
  line: number;
  code: string;
  runnable: boolean;
  /** Where the compiler sees it: a file name next to the README that exists only in this program. */
  file: string;
}

function readmeBlocks(): Block[] {
  const text = fs.readFileSync(README, 'utf8');
  return [...text.matchAll(/^```(ts|typescript)( [^\n]*)?\n([\s\S]*?)^```$/gm)].map((m, i) => {
    const line = text.slice(0, m.index).split('\n').length + 1;
    const info = (m[2] ?? '').trim().split(/\s+/);
    return { line, code: m[3], runnable: info.includes('runnable'), file: path.join(ROOT, `README.block${i}.ts`) };
  });
}

const blocks = readmeBlocks();

/** Compiles all the blocks in one program; returns each block's errors as `README.md:LINE: message`. */
function compile(): string[] {
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ES2022,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
    types: ['node'],
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    esModuleInterop: true,
    baseUrl: ROOT,
    paths: { 'tfjs-attention': ['src/index.ts'] },
  };
  const host = ts.createCompilerHost(options);
  const byFile = new Map(blocks.map((b) => [b.file, b]));
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (file, language, ...rest) => {
    const block = byFile.get(path.resolve(file));
    return block ? ts.createSourceFile(file, block.code, language) : getSourceFile(file, language, ...rest);
  };
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (file) => byFile.has(path.resolve(file)) || fileExists(file);
  const program = ts.createProgram(
    blocks.map((b) => b.file),
    options,
    host,
  );
  return ts
    .getPreEmitDiagnostics(program)
    .filter((d) => d.file === undefined || byFile.has(path.resolve(d.file.fileName)))
    .map((d) => {
      const message = ts.flattenDiagnosticMessageText(d.messageText, '\n');
      if (d.file === undefined || d.start === undefined) return message;
      const { line } = d.file.getLineAndCharacterOfPosition(d.start);
      return `README.md:${byFile.get(path.resolve(d.file.fileName))!.line + line}: ${message}`;
    });
}

/**
 * Runs a block: its imports stay on top, the rest becomes the body of an async function (top-level
 * await), transpiled to CommonJS and evaluated here with 'tfjs-attention' resolved to the sources
 * and `require.resolve` resolving as a file at the repository's root does.
 */
async function run(block: Block): Promise<void> {
  const source = ts.createSourceFile(block.file, block.code, ts.ScriptTarget.ES2022);
  const imports = source.statements.filter(ts.isImportDeclaration);
  const body = source.statements.filter((s) => !ts.isImportDeclaration(s));
  const text = (nodes: readonly ts.Node[]) => nodes.map((n) => n.getFullText(source)).join('');
  const wrapped = `${text(imports)}\nexport default async function run(): Promise<void> {${text(body)}\n}\n`;
  const { outputText } = ts.transpileModule(wrapped, {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
  });
  const atRoot = createRequire(README);
  const blockRequire = Object.assign((id: string) => (id === 'tfjs-attention' ? require('../src') : require(id)), {
    resolve: atRoot.resolve,
  });
  const module = { exports: {} as { default?: () => Promise<void> } };
  new Function('require', 'module', 'exports', outputText)(blockRequire, module, module.exports);
  await module.exports.default!();
}

test('the README has TypeScript blocks, some marked runnable', () => {
  expect(blocks.length).toBeGreaterThanOrEqual(8);
  expect(blocks.filter((b) => b.runnable).length).toBeGreaterThanOrEqual(2);
});

test('every TypeScript block of the README compiles on its own, against the sources', () => {
  expect(compile()).toEqual([]);
}, 120_000);

describe('the runnable blocks run', () => {
  test.each(blocks.filter((b) => b.runnable).map((b) => [b.line, b] as const))(
    'README.md:%i',
    async (_line, block) => {
      await run(block);
    },
    120_000,
  );
});
