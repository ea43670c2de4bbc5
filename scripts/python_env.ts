/**
 * The Python environments that check this package against Keras itself (never a dependency of the
 * library): one virtual environment per pinned requirements file of scripts/python/, in the
 * git-ignored `.venv/<name>/`.
 *
 *     npm run python:env              # creates or updates every environment
 *     npm run python:env -- keras3    # only this one
 *
 * Idempotent and cached: an environment is rebuilt only when its requirements file (or the Python
 * it was made with) changed since it was made, which a stamp file inside it records; otherwise this
 * returns at once. pip's own download cache (~/.cache/pip) makes a rebuild cheap. The packages are
 * installed with --no-deps: each file pins every package of a known-good environment, and one of
 * them (tensorflowjs 4.22) declares requirements that no other pin satisfies but does not need.
 * TensorFlow 2.15 has wheels for Python 3.9-3.11 only: the environments use `$PYTHON`, else
 * `python3.11`, else `python3` if that is 3.11.
 *
 * Other scripts get an environment's interpreter with `pythonEnv(name)` (which creates it first
 * when needed).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..');
const REQUIREMENTS = path.join(ROOT, 'scripts/python');

/** The environments: name -> what an import of it must succeed at after installing. */
export const PYTHON_ENVS = {
  /** Keras 3 (JAX backend), keras-hub, tf-keras 2.21 with TensorFlow 2.21. */
  keras3: 'import keras, keras_hub, tf_keras, jax, h5py',
  /** TensorFlow 2.15's tf.keras (Keras 2.15) and tensorflowjs_converter 4.22. */
  'tf2.15': 'import tensorflow, h5py; from tensorflowjs.converters import converter',
} as const;
export type PythonEnvName = keyof typeof PYTHON_ENVS;

const STAMP = '.requirements-sha256';

function basePython(): string {
  const candidates = [process.env.PYTHON, 'python3.11', 'python3'].filter((c): c is string => c != null && c !== '');
  for (const candidate of candidates) {
    const probe = spawnSync(candidate, ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])'], {
      encoding: 'utf8',
    });
    if (probe.status === 0 && probe.stdout.trim() === '3.11') return candidate;
  }
  throw new Error(
    'python:env: needs Python 3.11 (TensorFlow 2.15 has no wheels for later versions); ' +
      `tried ${candidates.join(', ')}; ` +
      'set PYTHON to a Python 3.11 interpreter',
  );
}

/** Where the environment lives and the stamp it must carry to be up to date. */
function envState(name: PythonEnvName, python: string): { dir: string; stamp: string; requirements: string } {
  const requirements = path.join(REQUIREMENTS, `requirements-${name}.txt`);
  const version = execFileSync(python, ['-c', 'import sys; print(sys.version)'], { encoding: 'utf8' });
  const stamp = createHash('sha256').update(fs.readFileSync(requirements)).update(version).digest('hex');
  return { dir: path.join(ROOT, '.venv', name), stamp, requirements };
}

/** The interpreter of `name`'s environment, creating or rebuilding the environment when needed. */
export function pythonEnv(name: PythonEnvName, log: (line: string) => void = () => {}): string {
  const python = basePython();
  const { dir, stamp, requirements } = envState(name, python);
  const interpreter = path.join(dir, 'bin', 'python');
  const stampFile = path.join(dir, STAMP);
  if (fs.existsSync(stampFile) && fs.readFileSync(stampFile, 'utf8') === stamp && fs.existsSync(interpreter)) {
    log(`python:env: .venv/${name} is up to date`);
    return interpreter;
  }
  const started = Date.now();
  log(`python:env: creating .venv/${name} from ${path.relative(ROOT, requirements)}`);
  // A half-made environment (interrupted, or from older requirements) is never reused.
  fs.rmSync(dir, { recursive: true, force: true });
  const run = (command: string, args: string[]) => execFileSync(command, args, { stdio: 'inherit', cwd: ROOT });
  run(python, ['-m', 'venv', dir]);
  run(interpreter, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--no-deps', '-r', requirements]);
  run(interpreter, ['-c', PYTHON_ENVS[name]]);
  fs.writeFileSync(stampFile, stamp);
  log(`python:env: .venv/${name} ready in ${Math.round((Date.now() - started) / 1000)} s`);
  return interpreter;
}

function main(): void {
  const names = process.argv.slice(2);
  const known = Object.keys(PYTHON_ENVS) as PythonEnvName[];
  for (const name of names) {
    if (!known.includes(name as PythonEnvName)) {
      throw new Error(`python:env: unknown environment '${name}'; expected ${known.join(', ')}`);
    }
  }
  for (const name of names.length > 0 ? (names as PythonEnvName[]) : known) pythonEnv(name, console.log);
}

if (require.main === module) {
  try {
    main();
  } catch (error) {
    console.error((error as Error).message);
    process.exit(1);
  }
}
