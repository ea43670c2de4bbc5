/**
 * Writes the Keras fixtures of test/fixtures/keras_written/ with Keras itself, or checks them.
 *
 *     npm run fixtures:keras             # rewrites test/fixtures/keras_written/ (files + manifest.json)
 *     npm run fixtures:keras -- --check  # CI: writes them again into a temporary folder and fails if
 *                                        # Keras's predictions differ from the committed manifest, or
 *                                        # if loadKerasModel does not match Keras on the new files
 *
 * The Python environments come from `npm run python:env` (created here when missing). Each group of
 * scripts/keras_fixtures/make_fixtures.py runs in its environment (keras3: Keras 3 + JAX, keras-hub,
 * and tf-keras 2.21; tf2.15: tf.keras 2.15 and tensorflowjs_converter) and writes its files and a
 * manifest part, merged here into manifest.json.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  compareWithKeras,
  KERAS_WRITTEN,
  KerasWrittenEntry,
  KerasWrittenManifest,
  KNOWN_GAPS,
  refusalOptions,
} from '../test/helpers/keras_written';
import { loadKerasModel } from '../src';
import { PythonEnvName, pythonEnv } from './python_env';

/** Largest |new - committed| allowed between two runs of the same pinned Keras on the same inputs. */
const RERUN_TOLERANCE = 1e-6;
/** Largest |tfjs - Keras| allowed (the acceptance). */
const TOLERANCE = 1e-5;

const GROUPS: [group: string, env: PythonEnvName][] = [
  ['keras3', 'keras3'],
  ['tf_keras', 'keras3'],
  ['tf2.15', 'tf2.15'],
];

function generate(dir: string): KerasWrittenManifest {
  const script = path.join(__dirname, 'keras_fixtures', 'make_fixtures.py');
  const manifest: KerasWrittenManifest = { writers: [], entries: [] };
  for (const [group, env] of GROUPS) {
    const started = Date.now();
    execFileSync(pythonEnv(env, console.log), [script, group, dir], {
      stdio: ['ignore', 'inherit', 'pipe'],
      env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3', PYTHONHASHSEED: '0' },
      maxBuffer: 1 << 26,
    });
    const part = path.join(dir, `${group}.json`);
    const written = JSON.parse(fs.readFileSync(part, 'utf8')) as { keras: string; entries: KerasWrittenEntry[] };
    fs.rmSync(part);
    manifest.writers.push(written.keras);
    manifest.entries.push(...written.entries);
    console.log(`fixtures:keras: ${group} (${written.keras}) in ${Math.round((Date.now() - started) / 1000)} s`);
  }
  return manifest;
}

function maxDiff(a: unknown, b: unknown): number {
  const flat = (v: unknown): number[] => (Array.isArray(v) ? v.flatMap(flat) : [v as number]);
  const [x, y] = [flat(a), flat(b)];
  if (x.length !== y.length) return Infinity;
  return x.reduce((m, v, i) => Math.max(m, Math.abs(v - y[i])), 0);
}

async function check(): Promise<void> {
  const committed = JSON.parse(
    fs.readFileSync(path.join(KERAS_WRITTEN, 'manifest.json'), 'utf8'),
  ) as KerasWrittenManifest;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keras-written-'));
  let failures = 0;
  let gaps = 0;
  try {
    const fresh = generate(dir);
    const byKey = new Map(committed.entries.map((e) => [`${e.file} ${e.refused ?? ''}`, e]));
    for (const entry of fresh.entries) {
      const key = `${entry.file} ${entry.refused ?? ''}`;
      const old = byKey.get(key);
      byKey.delete(key);
      let problem: string | null = null;
      if (old == null) problem = 'not in the committed manifest (run npm run fixtures:keras and commit)';
      else if (entry.refused == null) {
        const keras = maxDiff(entry.outputs, old.outputs);
        if (!(keras <= RERUN_TOLERANCE)) problem = `Keras now predicts differently (max diff ${keras})`;
        else {
          try {
            const { maxDiff: tfjs, leaked } = await compareWithKeras(entry, dir);
            if (!(tfjs < TOLERANCE) || leaked !== 0) problem = `loadKerasModel differs by ${tfjs}, leaked ${leaked}`;
          } catch (error) {
            problem = `loadKerasModel failed: ${(error as Error).message}`;
          }
        }
      } else {
        try {
          (await loadKerasModel(path.join(dir, entry.file), refusalOptions(entry))).dispose();
          problem = 'loaded, but must be refused';
        } catch (error) {
          if (!(error as Error).message.includes(entry.refused)) problem = `refused with ${(error as Error).message}`;
        }
      }
      if (problem != null && entry.file in KNOWN_GAPS && entry.refused == null) {
        gaps++;
        console.log(`gap  ${entry.file}: ${KNOWN_GAPS[entry.file]} (${problem})`);
        continue;
      }
      if (problem != null) failures++;
      console.log(
        `${problem == null ? 'ok  ' : 'FAIL'} ${entry.file}${entry.refused ? ' (refused)' : ''}: ` +
          `${problem ?? entry.keras}`,
      );
    }
    for (const key of byKey.keys()) {
      failures++;
      console.log(`FAIL ${key}: committed, but no longer written by make_fixtures.py`);
    }
    console.log(`${fresh.entries.length - failures - gaps} passed, ${gaps} known gaps, ${failures} failed`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  if (failures > 0) process.exit(1);
}

async function main(): Promise<void> {
  const flags = process.argv.slice(2);
  if (flags.some((f) => f !== '--check')) throw new Error('usage: npm run fixtures:keras [-- --check]');
  if (flags.includes('--check')) return check();
  fs.rmSync(KERAS_WRITTEN, { recursive: true, force: true });
  const manifest = generate(KERAS_WRITTEN);
  fs.writeFileSync(path.join(KERAS_WRITTEN, 'manifest.json'), `${JSON.stringify(manifest)}\n`);
  console.log(`fixtures:keras: ${manifest.entries.length} entries in ${path.relative(process.cwd(), KERAS_WRITTEN)}`);
}

main().catch((error) => {
  console.error((error as Error).message);
  process.exit(1);
});
