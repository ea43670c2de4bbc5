/**
 * Runs fuzz cases, each load in a child process with a time and a memory limit, and judges how each
 * ended. Children are long-lived (one tfjs start-up each) and run one case at a time; one that runs
 * out of time or memory is killed and replaced. The child is this repository's TypeScript bundled
 * once by esbuild (tfjs and fflate stay external, from node_modules).
 *
 * Outcomes: 'loaded', 'refused' (an Error whose message names the file, at most 1,000 characters,
 * none of the generic JavaScript messages that say nothing about the file), and the failures
 * 'unclear' (an Error, but not such a message), 'non-error' (something else was thrown), 'crash'
 * (the child died), 'hang' (over the time limit), 'memory' (over the memory limit), 'leak'
 * (tensors left behind).
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as esbuild from 'esbuild';
import type { ChildResult } from './child';
import type { FuzzCase } from './cases';

export type OutcomeKind = 'loaded' | 'refused' | 'unclear' | 'non-error' | 'crash' | 'hang' | 'memory' | 'leak';
export const FAILURES: readonly OutcomeKind[] = ['unclear', 'non-error', 'crash', 'hang', 'memory', 'leak'];

export interface Outcome {
  case: FuzzCase;
  kind: OutcomeKind;
  /** The error message, or what happened to the child. */
  message: string;
  ms: number;
  peakMB: number;
}

export interface RunOptions {
  /** Children running at once. */
  jobs: number;
  /** Wall-clock limit of one load. */
  timeoutMs: number;
  /** Peak resident memory one load may add. */
  memoryMB: number;
  /** Called as each case ends. */
  onOutcome?: (outcome: Outcome) => void;
}

export const DEFAULT_RUN: RunOptions = { jobs: 2, timeoutMs: 5000, memoryMB: 256 };

/** A child is killed when it passes the memory limit by this factor (its peak is judged after the load). */
const KILL_FACTOR = 2;

/**
 * Messages that say nothing about the file: JavaScript's own, from code that met what it did not
 * expect, and numbers or values that were never computed (NaN, undefined) where a value should be.
 */
const GENERIC = new RegExp(
  [
    'Cannot read propert',
    'Cannot set propert',
    'is not a function',
    'is not iterable',
    'is not a constructor',
    'Maximum call stack',
    'Invalid array length',
    'Array buffer allocation failed',
    // JavaScriptCore's "null is not an object (evaluating 'a.b')" (V8 says "Cannot read properties of
    // null"); our own sentences may quote a null value ("dtype policy null is not supported").
    '(null|undefined) is not an object',
    '\\[object Object\\]',
    '\\bNaN\\b(?! or ±Infinity)',
    '\\bundefined\\b(?! \\(missing\\))',
  ].join('|'),
);

/** Judges a finished load. */
export function judge(c: FuzzCase, result: ChildResult, memoryMB: number): Outcome {
  const base = { case: c, ms: result.ms, peakMB: result.peakMB, message: result.message };
  if (result.peakMB > memoryMB) return { ...base, kind: 'memory' };
  if (result.tensorsLeft !== 0)
    return { ...base, kind: 'leak', message: `${result.tensorsLeft} tensors left; ${result.message}` };
  if (result.status === 'loaded') return { ...base, kind: 'loaded' };
  if (!result.isError)
    return { ...base, kind: 'non-error', message: `threw a ${result.errorClass}: ${result.message}` };
  // The message must name the file: the path given, or a file inside the folder given.
  const named = result.message.includes(c.target) || result.message.includes(path.dirname(c.target));
  // tfjs's own text may be quoted at the end, "(tfjs: ...)", after our sentence: judge our sentence.
  const own = result.message.replace(/\(tfjs: [\s\S]*\)[^()]*$/, '');
  const clear = named && result.message.length <= 1000 && !GENERIC.test(own);
  return { ...base, kind: clear ? 'refused' : 'unclear' };
}

let bundled: Promise<string> | null = null;

/** The child and this checkout's library (lib.js, which the child loads) bundled into a temporary folder, once. */
function childScript(): Promise<string> {
  bundled ??= (async () => {
    const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'tfjs-attention-fuzz-child-'));
    const common: esbuild.BuildOptions = {
      bundle: true,
      platform: 'node',
      target: 'node20',
      external: ['@tensorflow/*', 'fflate'],
      // package.json's "sideEffects" names the built files only: keep src's layer registrations.
      ignoreAnnotations: true,
      logLevel: 'error',
    };
    await esbuild.build({
      ...common,
      entryPoints: [path.join(__dirname, 'child.ts')],
      outfile: path.join(folder, 'child.js'),
    });
    await esbuild.build({
      ...common,
      entryPoints: [path.join(__dirname, '../../src/index.ts')],
      outfile: path.join(folder, 'lib.js'),
    });
    return path.join(folder, 'child.js');
  })();
  return bundled;
}

interface Worker {
  process: ChildProcess;
  ready: Promise<void>;
  /** Resident memory after start-up, MB. */
  baseMB: number;
  lines: ((line: string) => void)[];
  exited: Promise<string>;
  stderr: string;
}

async function startWorker(script: string): Promise<Worker> {
  const child = spawn(process.execPath, ['--expose-gc', '--max-old-space-size=2048', '--stack-size=984', script], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, NODE_PATH: path.resolve(__dirname, '../../node_modules') },
  });
  const worker: Worker = {
    process: child,
    ready: Promise.resolve(),
    baseMB: 0,
    lines: [],
    exited: new Promise((resolve) =>
      child.on('exit', (code, signal) => resolve(signal != null ? `killed by ${signal}` : `exited with code ${code}`)),
    ),
    stderr: '',
  };
  let buffered = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    buffered += chunk;
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      worker.lines.shift()?.(line);
    }
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => (worker.stderr = (worker.stderr + chunk).slice(-2000)));
  worker.ready = new Promise<string>((resolve) => worker.lines.push(resolve)).then((line) => {
    worker.baseMB = (JSON.parse(line) as { rssMB: number }).rssMB;
  });
  await Promise.race([
    worker.ready,
    worker.exited.then((how) => Promise.reject(new Error(`fuzz child ${how}: ${worker.stderr}`))),
  ]);
  return worker;
}

function residentMB(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** Runs one case on `worker`; returns the outcome and whether the worker is still usable. */
async function runOne(worker: Worker, c: FuzzCase, options: RunOptions): Promise<{ outcome: Outcome; alive: boolean }> {
  const started = Date.now();
  const reply = new Promise<string>((resolve) => worker.lines.push(resolve));
  worker.process.stdin!.write(`${JSON.stringify({ id: c.id, loader: c.loader, target: c.target })}\n`);
  let watch: NodeJS.Timeout | undefined;
  let peakSeen = 0;
  const limit = new Promise<'hang' | 'memory'>((resolve) => {
    watch = setInterval(() => {
      const rss = residentMB(worker.process.pid!) - worker.baseMB;
      peakSeen = Math.max(peakSeen, rss);
      if (rss > options.memoryMB * KILL_FACTOR) resolve('memory');
      else if (Date.now() - started > options.timeoutMs) resolve('hang');
    }, 25);
  });
  const ended = await Promise.race([reply, limit, worker.exited.then((how) => ({ died: how }))]);
  clearInterval(watch);
  const ms = Date.now() - started;
  if (typeof ended === 'string' && ended !== 'hang' && ended !== 'memory') {
    return { outcome: judge(c, JSON.parse(ended) as ChildResult, options.memoryMB), alive: true };
  }
  worker.process.kill('SIGKILL');
  await worker.exited;
  if (ended === 'hang') {
    return { outcome: { case: c, kind: 'hang', message: `no end after ${ms} ms`, ms, peakMB: peakSeen }, alive: false };
  }
  if (ended === 'memory') {
    return {
      outcome: { case: c, kind: 'memory', message: `killed at ${Math.round(peakSeen)} MB`, ms, peakMB: peakSeen },
      alive: false,
    };
  }
  const died = (ended as { died: string }).died;
  const last = worker.stderr.trim().split('\n').slice(-3).join(' | ');
  return {
    outcome: { case: c, kind: 'crash', message: `the child ${died}: ${last}`, ms, peakMB: peakSeen },
    alive: false,
  };
}

/**
 * Runs every case `next` gives (null: no more), `options.jobs` at a time; each case's folder is
 * removed after its load. Returns the outcomes in the order the cases ended.
 */
export async function runCases(next: () => FuzzCase | null, options: RunOptions = DEFAULT_RUN): Promise<Outcome[]> {
  const script = await childScript();
  const outcomes: Outcome[] = [];
  const lane = async () => {
    let worker = await startWorker(script);
    try {
      for (let c = next(); c != null; c = next()) {
        const { outcome, alive } = await runOne(worker, c, options);
        fs.rmSync(c.dir, { recursive: true, force: true });
        outcomes.push(outcome);
        options.onOutcome?.(outcome);
        if (!alive) worker = await startWorker(script);
      }
    } finally {
      worker.process.stdin!.end();
      worker.process.kill('SIGKILL');
      await worker.exited;
    }
  };
  await Promise.all(Array.from({ length: options.jobs }, lane));
  return outcomes;
}
