/**
 * The child process of the model-file fuzzer (runner.ts starts it, bundled by esbuild): reads one
 * case a line on stdin (`{"id", "loader", "target"}`), loads it with the loader named, and writes
 * one line of JSON per case on stdout: how the load ended, its message, its time, the peak
 * resident memory it added (the kernel's high-water mark, reset before each case) and the tensors
 * it left. The parent kills this process when a case runs out of time or memory.
 */
import * as fs from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import * as path from 'node:path';
import type { Loader } from './cases';

type Library = Pick<typeof import('../../src'), 'loadKerasModel' | 'loadSeq2Seq'>;

/**
 * The library tried: this checkout's, bundled next to this script by the runner (lib.js), or another
 * build named by the FUZZ_LIB environment variable (to measure another version against the same
 * cases). Loaded by a computed name, so that one child serves both.
 */
function library(): Library {
  return require(process.env.FUZZ_LIB ?? path.join(__dirname, 'lib.js'));
}

interface Request {
  id: number;
  loader: Loader;
  target: string;
}

/** What the child reports of one case. */
export interface ChildResult {
  id: number;
  /** 'loaded', or 'threw' with the thrown value described. */
  status: 'loaded' | 'threw';
  isError: boolean;
  errorClass: string;
  message: string;
  ms: number;
  /** Peak resident memory during the case minus the resident memory before it, in MB. */
  peakMB: number;
  tensorsLeft: number;
}

const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);

function residentMB(field: 'VmRSS' | 'VmHWM'): number {
  const status = fs.readFileSync('/proc/self/status', 'utf8');
  const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(status);
  return match ? Number(match[1]) / 1024 : NaN;
}

function resetPeak(): void {
  try {
    // Linux: writing 5 resets the peak resident set size (VmHWM) to the current one.
    fs.writeFileSync('/proc/self/clear_refs', '5');
  } catch {
    // Not Linux, or not allowed: the peak then covers the child's whole life, an upper bound.
  }
}

async function load(request: Request): Promise<void> {
  const { loadKerasModel, loadSeq2Seq } = library();
  switch (request.loader) {
    case 'keras':
      (await loadKerasModel(request.target)).dispose();
      return;
    case 'seq2seq':
      (await loadSeq2Seq(request.target)).dispose();
      return;
    case 'file':
      (await tf.loadLayersModel(`file://${request.target}`)).dispose();
      return;
  }
}

async function run(request: Request): Promise<ChildResult> {
  gc();
  resetPeak();
  const before = residentMB('VmRSS');
  const tensors = tf.memory().numTensors;
  const started = performance.now();
  let result: Pick<ChildResult, 'status' | 'isError' | 'errorClass' | 'message'>;
  try {
    await load(request);
    result = { status: 'loaded', isError: false, errorClass: '', message: '' };
  } catch (error) {
    const isError = error instanceof Error;
    const text = isError ? error.message : String(error);
    result = {
      status: 'threw',
      isError,
      errorClass: isError ? error.constructor.name : typeof error,
      // Long enough to judge; the parent flags any message over 1,000 characters.
      message: text.length > 4000 ? `${text.slice(0, 4000)}… (${text.length} characters)` : text,
    };
  }
  const ms = performance.now() - started;
  const peakMB = residentMB('VmHWM') - before;
  return { id: request.id, ...result, ms, peakMB, tensorsLeft: tf.memory().numTensors - tensors };
}

async function main(): Promise<void> {
  library(); // loaded (and its layers and file:// route registered) before the first case
  await tf.setBackend(process.env.FUZZ_BACKEND ?? 'cpu');
  tf.env().set('PROD', true); // no "Hi, looks like you are running TensorFlow.js in Node.js" per process
  process.stdout.write(`${JSON.stringify({ ready: true, rssMB: residentMB('VmRSS') })}\n`);
  let buffered = '';
  let queue = Promise.resolve();
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk: string) => {
    buffered += chunk;
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      const request = JSON.parse(line) as Request;
      queue = queue.then(async () => {
        process.stdout.write(`${JSON.stringify(await run(request))}\n`);
      });
    }
  });
  process.stdin.on('end', () => void queue.then(() => process.exit(0)));
}

void main();
