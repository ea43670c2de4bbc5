/**
 * Every figure of the README's "Speed" table (and the figures of the prose around it) is a
 * figure of the kept benchmark run, models/BENCHMARKS.jsonl, to the digits shown; the
 * shipped-models table's held-out and training columns are the models' own task.json. The
 * shipped-models table's fresh and held-out exact match columns and its sizes are recomputed
 * from the weights and the folders by test/model/shipped_models.test.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { BENCHMARKS as BENCH_NAMES } from '../scripts/bench/cases';
import { TASK_NAMES } from '../src/tasks/tasks';
import { parseTrainArgs, reproduceCommand } from '../src/train/options';
import {
  figuresIn,
  matchesShown,
  readmeSection,
  readmeTable,
  readReadme,
  ShownFigure,
  toDigitsShown,
} from './helpers/readme_tables';

const ROOT = path.join(__dirname, '..');
const BENCHMARKS = path.join(ROOT, 'models', 'BENCHMARKS.jsonl');
const SPEED_HEADER = ['benchmark', 'tfjs-attention (wasm)', 'PyTorch peer', 'ratio (higher is better for us)'];
/** The second table's: the same benchmarks on another class of CPU, named in its first cell. */
const SECOND_CLASS_HEADER = ['benchmark (family 26)', ...SPEED_HEADER.slice(1)];
const RECIPES_HEADER = [
  'task',
  'seed',
  'steps to 0.99',
  'training seconds',
  'ms/step',
  'held-out exact match',
  'load average (1 min)',
];
const MODELS_HEADER = ['model', 'held-out exact match (512)', 'fresh exact match (400)', 'training', 'size (bytes)'];

type Line = Record<string, unknown> & {
  name: string;
  date: string;
  startedAt: string;
  benchCommand: string;
  peer?: Record<string, unknown>;
  machine: Record<string, unknown>;
};

const readme = readReadme();
/** The Speed section with every run of white space one space: the prose as read, not as wrapped. */
const speed = readmeSection(readme, 'Speed').replace(/\s+/g, ' ');
const kept: Line[] = fs
  .readFileSync(BENCHMARKS, 'utf8')
  .split('\n')
  .filter((line) => line.trim() !== '')
  .map((line) => JSON.parse(line) as Line);

/**
 * The run the README names by its command and date: the kept lines of that command and date, which
 * must be one run (other kept runs, such as the per-task time-to-accuracy ones, have other commands).
 */
function runOfReadme(lead = ''): Line[] {
  const named = new RegExp(
    lead + String.raw`one run of \`(npm run bench[^\`]*)\` on (\d{4}-\d{2}-\d{2})(?: at (\d\d:\d\d) UTC)?`,
  ).exec(speed);
  if (!named)
    throw new Error(
      `the Speed section does not say the date of its run ("${lead}one run of \`npm run bench ...\` on")`,
    );
  const [, command, date, time] = named;
  // The start time tells apart two runs of one command on one day.
  const started = time == null ? date : `${date}T${time}`;
  const lines = kept.filter(
    (line) => line.date === date && line.benchCommand === command && line.startedAt.startsWith(started),
  );
  const runs = new Set(lines.map((line) => line.startedAt));
  if (runs.size !== 1)
    throw new Error(`models/BENCHMARKS.jsonl has ${runs.size} runs of \`${command}\` started ${started}, expected 1`);
  return lines;
}

/** A field of a kept line, by its path ('peer.msPerStep'); throws when the line does not have it as a number. */
function field(line: Line, key: string): number {
  const value = key.split('.').reduce<unknown>((at, part) => (at as Record<string, unknown> | undefined)?.[part], line);
  if (typeof value !== 'number') throw new Error(`the ${line.name} line has no number ${key}`);
  return value;
}

/** Each README row: the kept line it shows and, per column, the fields its figures are (in order). */
interface RowSpec {
  line: (candidate: Line) => boolean;
  ours: string[];
  peer: string[];
  ratio: string[];
}

function rowSpec(label: string): RowSpec {
  const attention = /B(\d+) T(\d+) D(\d+) H(\d+)( forward only)?$/.exec(label);
  if (attention) {
    const [B, T, D, H] = attention.slice(1, 5).map(Number);
    const mode = attention[5] ? 'forward' : 'forward-backward';
    return {
      // Runs before forward-only lines were added have no mode: those are forward + backward.
      line: (l) =>
        l.name === 'attention-forward-backward' &&
        (l.mode ?? 'forward-backward') === mode &&
        l.B === B &&
        l.T === T &&
        l.D === D &&
        l.H === H,
      ours: ['msPerCall'],
      peer: ['peer.msPerCall'],
      ratio: ['speedRatio'],
    };
  }
  const decode = /^`decode-greedy` batch (\d+), ms\/sequence$/.exec(label);
  if (decode) {
    const batch = Number(decode[1]);
    return {
      line: (l) => l.name === 'decode-greedy' && l.batch === batch,
      ours: ['msPerSequenceCached', 'msPerSequenceUncached'],
      peer: ['peer.msPerSequence'],
      ratio: ['speedRatioCachedVsPeerUncached', 'speedRatioUncached'],
    };
  }
  if (label === '`generate-gpt` ms/token, 8 + 120 tokens, batch 1') {
    return {
      line: (l) => l.name === 'generate-gpt',
      ours: ['msPerTokenCached', 'msPerTokenUncached'],
      peer: ['peer.msPerTokenCached', 'nanogpt.msPerTokenCached'],
      ratio: ['speedRatio', 'speedRatioNanogpt'],
    };
  }
  if (label === '`train-reference`: ms/step on identical batches (tokens/s)') {
    return {
      line: (l) => l.name === 'train-reference',
      ours: ['msPerStep', 'tokensPerSecond'],
      peer: ['peer.msPerStep', 'peer.tokensPerSecond'],
      ratio: ['msPerStepRatio'],
    };
  }
  const gptChar = /^`train-gpt-char` ms\/step, final norm `(\S+)`$/.exec(label);
  if (gptChar) {
    return {
      line: (l) => l.name === 'train-gpt-char' && l.finalNorm === gptChar[1],
      ours: ['msPerStep'],
      peer: ['peer.msPerStep'],
      ratio: ['tokensPerSecondRatio'],
    };
  }
  // Runs before installLayerFixes timed tfjs's layer call on both sides; later ones time it against ours.
  if (
    label === "`tfjs-layer-norm-step` ms/step (kernels), against tfjs's own `Tile` gradient" ||
    label === "`tfjs-layer-norm-step` ms/step (kernels), against tfjs's own layer calls and `Tile` gradient"
  ) {
    return {
      line: (l) => l.name === 'tfjs-layer-norm-step',
      ours: ['msPerStep', 'kernelsPerStep'],
      peer: ['msPerStepTfjsTileGradient', 'kernelsPerStepTfjsTileGradient'],
      ratio: ['ratio'],
    };
  }
  if (label === '`time-to-accuracy`: reverse to 0.99 held-out exact match') {
    return {
      line: (l) =>
        l.name === 'time-to-accuracy' &&
        l.peer?.target === 0.99 &&
        String(l.command).includes('--target-exact-match 0.99 '),
      ours: ['steps', 'seconds'],
      peer: ['peer.steps', 'peer.seconds'],
      ratio: ['speedRatio', 'stepsRatio'],
    };
  }
  throw new Error(`README Speed table: no kept benchmark is known for the row "${label}"`);
}

/** Compares the figures shown with the fields they stand for, reporting each one as text. */
function expectFigures(shown: ShownFigure[], line: Line, keys: string[]): void {
  expect(shown.map((figure) => figure.text)).toHaveLength(keys.length);
  expect(shown.map((figure, i) => `${keys[i]} ${toDigitsShown(field(line, keys[i]), figure)}`)).toEqual(
    shown.map((figure, i) => `${keys[i]} ${figure.text.replace(/,/g, '')}`),
  );
}

describe('models/BENCHMARKS.jsonl', () => {
  test('each kept line carries its date, the exact command that printed it and the machine', () => {
    expect(kept.length).toBeGreaterThan(0);
    for (const line of kept) {
      expect(line.date).toMatch(/^\d{4}-\d{2}-\d{2}$/);
      expect(line.startedAt.slice(0, 10)).toBe(line.date);
      expect(line.benchCommand).toMatch(/^npm run bench -- /);
      // kernelThreads since the kernels have threads (src/kernels/threads.ts), the CPU's vector
      // extensions and whether the kernels ran relaxed SIMD since they can, its x86 family and
      // model numbers since 2026-12-06's second class of "AMD EPYC", whether tfjs's tensors were
      // in the kernels' memory (initBackend's sharedHeap) since 2026-12-07; older lines lack them.
      const since = ['kernelThreads', 'vectorExtensions', 'relaxedSimd'];
      const family = ['cpuFamily', 'cpuModelNumber'];
      const later = [...since, ...family, 'sharedHeap'];
      const keys = Object.keys(line.machine).filter((key) => !later.includes(key));
      expect(keys.sort()).toEqual(['backend', 'cores', 'cpu', 'node', 'tfjs', 'wasmThreads']);
      if ('relaxedSimd' in line.machine) expect(Object.keys(line.machine)).toEqual(expect.arrayContaining(since));
      if ('cpuFamily' in line.machine) expect(Object.keys(line.machine)).toEqual(expect.arrayContaining(family));
    }
  });

  test("a peer that tried its thread configurations names the fastest, each one's figure and its BLAS", () => {
    for (const line of kept.filter((l) => typeof l.peer?.threads === 'object')) {
      const peer = line.peer!;
      const configs = peer.threadConfigs as Array<Record<string, number>>;
      expect(configs.length).toBeGreaterThan(0);
      expect(configs).toContainEqual(expect.objectContaining(peer.threads as object));
      expect(typeof peer.blas).toBe('string');
      expect(peer).toHaveProperty('openblasCore');
    }
  });
});

describe("the README's Speed section", () => {
  // The first table's run (the prose below it is that run's too) and the second table's, on
  // another class of CPU.
  const secondRun = () => runOfReadme('The second table is ');
  const tables: Array<[string, string[], () => Line[]]> = [
    ['the first table', SPEED_HEADER, () => runOfReadme()],
    ['the second table', SECOND_CLASS_HEADER, secondRun],
  ];

  test.each(tables)('%s names the command, the machine and the versions of its run', (_name, _header, runOf) => {
    const run = runOf();
    const { benchCommand, machine } = run[0];
    expect(benchCommand).toBe('npm run bench -- --json --peer torch'); // the full bench, with the peer
    expect(new Set(run.map((line) => line.name))).toEqual(new Set(BENCH_NAMES));
    const started = `${run[0].date} at ${run[0].startedAt.slice(11, 16)} UTC`;
    expect(speed).toContain(`one run of \`${benchCommand}\` on ${started}`);
    // The CPU class: its vector extensions (AVX-512 or not changes the ratios) and its x86 family
    // and model numbers (two hosts of one name and one set of extensions can differ), where the run
    // recorded them.
    const extensions = machine.vectorExtensions as string[] | undefined;
    const family = machine.cpuFamily == null ? '' : `, family ${machine.cpuFamily} model ${machine.cpuModelNumber}`;
    const cpuClass = (extensions ? `, ${extensions.join(', ')}` : '') + family;
    expect(speed).toContain(`(\`machine.cpu\` "${machine.cpu}"${cpuClass}, ${machine.cores} cores)`);
    expect(speed).toContain(`Node ${String(machine.node).replace(/^v(\d+)\..*/, '$1')}, `);
    expect(speed).toContain(`tfjs ${String(machine.tfjs).replace(/^(\d+\.\d+)\..*/, '$1')}, `);
    const threads = `tfjs's own kernels on ${machine.wasmThreads} thread, ours on ${machine.kernelThreads}`;
    expect(speed).toContain(`${machine.backend} backend: ${threads}`);
    expect(speed).toContain(`PyTorch ${String(run[0].peer!.torch).replace(/^(\d+\.\d+)\..*/, '$1')}`);
  });

  test('the two tables are runs on two classes of CPU', () => {
    const [first, second] = [runOfReadme()[0].machine, secondRun()[0].machine];
    expect(second.cpuFamily).not.toBeUndefined();
    expect([second.cpuFamily, second.cpuModelNumber]).not.toEqual([first.cpuFamily, first.cpuModelNumber]);
  });

  test.each(tables)(
    'every row of %s is a kept line, every figure its figure to the digits shown',
    (_name, header, runOf) => {
      const run = runOf();
      const rows = readmeTable(readme, header);
      expect(rows.length).toBeGreaterThan(0);
      const used = new Set<Line>();
      for (const [label, ours, peer, ratio] of rows) {
        const spec = rowSpec(label);
        const matching = run.filter(spec.line);
        expect({ label, lines: matching.length }).toEqual({ label, lines: 1 });
        const [line] = matching;
        expect(used.has(line)).toBe(false);
        used.add(line);
        expectFigures(figuresIn(ours), line, spec.ours);
        expectFigures(figuresIn(peer), line, spec.peer);
        expectFigures(figuresIn(ratio), line, spec.ratio);
      }
      // The run measured nothing the table leaves out.
      expect(used.size).toBe(run.length);
    },
  );

  test("the prose's load average and KV-cache speed-ups are the run's", () => {
    const run = runOfReadme();
    const load = /load average was (\S+) to (\S+) on its (\d+) cores/.exec(speed);
    expect(load).not.toBeNull();
    const loads = run.filter((line) => line.peer != null).map((line) => field(line, 'peer.loadAvg1m'));
    const [low, high, cores] = figuresIn(load!.slice(1).join(' '));
    expect(matchesShown(Math.min(...loads), low)).toBe(true);
    expect(matchesShown(Math.max(...loads), high)).toBe(true);
    expect(cores.value).toBe(run[0].machine.cores);

    const cache = /KV cache made greedy decoding (\S+)x faster [^.]* at batch (\d+) and (\S+)x at batch (\d+)/.exec(
      speed,
    );
    expect(cache).not.toBeNull();
    for (const [speedup, batch] of [
      [cache![1], cache![2]],
      [cache![3], cache![4]],
    ]) {
      const line = run.find((l) => l.name === 'decode-greedy' && l.batch === Number(batch))!;
      expect(`batch ${batch}: ${toDigitsShown(field(line, 'cacheSpeedup'), figuresIn(speedup)[0])}x`).toBe(
        `batch ${batch}: ${speedup}x`,
      );
    }
  });
});

describe("the README's shipped models", () => {
  const rows = readmeTable(readme, MODELS_HEADER);
  const info = (task: string) =>
    JSON.parse(fs.readFileSync(path.join(ROOT, 'models', task, 'task.json'), 'utf8')) as {
      metrics: { heldOutExactMatch: number; heldOutSize: number };
      training: { steps: number; seconds: number; lr: number };
    };

  test('one row per shipped model', () => {
    expect(rows.map(([model]) => model)).toEqual(TASK_NAMES.map((task) => `\`models/${task}\``));
  });

  test.each(TASK_NAMES.map((task) => [task]))(
    "%s: held-out exact match and training are its task.json's, to the digits shown",
    (task) => {
      const [, heldOut, fresh, training, size] = rows.find(([model]) => model === `\`models/${task}\``)!;
      const { metrics, training: trained } = info(task);
      expect(metrics.heldOutSize).toBe(512);
      const [shownHeldOut] = figuresIn(heldOut);
      expect(toDigitsShown(metrics.heldOutExactMatch, shownHeldOut)).toBe(heldOut);
      // "1,000 steps, 245 s", or "6,000 steps at peak lr 1e-3, 813 s" when the peak lr is not the recipe's.
      const parts = /^([\d,]+) steps(?: at peak lr (\S+))?, ([\d,]+) s$/.exec(training);
      expect(parts).not.toBeNull();
      const [steps, seconds] = [figuresIn(parts![1])[0], figuresIn(parts![3])[0]];
      expect([steps.value, toDigitsShown(trained.seconds, seconds)]).toEqual([trained.steps, parts![3]]);
      if (parts![2] !== undefined) expect(Number(parts![2])).toBe(trained.lr);
      // Checked against the weights and the folder by test/model/shipped_models.test.ts.
      expect(fresh).toMatch(/^[01]\.\d{3,4}$/);
      expect(size).toMatch(/^\d{1,3}(,\d{3})*$/);
    },
  );

  test('the default training sentence is the kept time-to-accuracy run', () => {
    const section = readmeSection(readme, 'Models: train, decode, look inside').replace(/\s+/g, ' ');
    const sentence = new RegExp(
      String.raw`\`npm run train\` stops on reverse at step (\S+) with (\S+) held-out exact match;[^.]*` +
        String.raw`took (\S+) s of training steps \((\S+) s with its evaluations\) in the kept run`,
    ).exec(section);
    expect(sentence).not.toBeNull();
    const line = runOfReadme().find((l) => l.name === 'time-to-accuracy')!;
    expect(line.command).toMatch(/^npm run train -- --task reverse /);
    const [step, exact, seconds, wall] = sentence!.slice(1).map((text) => figuresIn(text)[0]);
    expect([
      toDigitsShown(field(line, 'steps'), step),
      toDigitsShown(field(line, 'exactMatch'), exact),
      toDigitsShown(field(line, 'seconds'), seconds),
      toDigitsShown(field(line, 'wallSeconds'), wall),
    ]).toEqual(sentence!.slice(1));
  });
});

describe("the README's default-recipe table", () => {
  const rows = readmeTable(readme, RECIPES_HEADER);

  test('three seeds per task, each a kept time-to-accuracy run of that task and seed', () => {
    expect(rows.map(([task]) => task.replace(/`/g, ''))).toEqual(TASK_NAMES.flatMap((task) => [task, task, task]));
    for (const task of TASK_NAMES) {
      expect(new Set(rows.filter(([t]) => t === `\`${task}\``).map(([, seed]) => seed)).size).toBe(3);
    }
  });

  test.each(rows.map((row) => [`${row[0]} seed ${row[1]}`, row]))(
    "%s: the kept line's figures to the digits shown, trained with the task's current default recipe",
    (_label, row) => {
      const [taskCell, seed, steps, seconds, msPerStep, exactMatch, load] = row as string[];
      const task = taskCell.replace(/`/g, '');
      const command = `npm run bench -- --json --only time-to-accuracy --task ${task} --seed ${seed}`;
      const lines = kept.filter((l) => l.name === 'time-to-accuracy' && l.benchCommand === command);
      expect({ command, lines: lines.length }).toEqual({ command, lines: 1 });
      const [line] = lines;
      expect([line.task, line.seed, line.reached]).toEqual([task, Number(seed), true]);
      expect(field(line, 'exactMatch')).toBeGreaterThanOrEqual(0.99);
      // The run used exactly the default recipe of today's code: a changed recipe needs new runs.
      // (--out only says where a run would save; a time-to-accuracy run saves nothing.)
      const out = /--out (\S+)$/.exec(line.command as string)![1];
      const parsed = parseTrainArgs(['--task', task, '--target-exact-match', '0.99', '--seed', seed, '--out', out]);
      if (parsed.help) throw new Error('unexpected --help');
      expect(line.command).toBe(reproduceCommand(parsed.options, field(line, 'steps')));
      const loads = line.loadAvg1m as number[];
      const shown = [steps, seconds, msPerStep, exactMatch].map((text) => figuresIn(text)[0]);
      expect([
        toDigitsShown(field(line, 'steps'), shown[0]),
        toDigitsShown(field(line, 'seconds'), shown[1]),
        toDigitsShown(field(line, 'msPerStep'), shown[2]),
        toDigitsShown(field(line, 'exactMatch'), shown[3]),
        figuresIn(load)
          .map((figure, i) => toDigitsShown(loads[i], figure))
          .join(' to '),
      ]).toEqual([steps, seconds, msPerStep, exactMatch, load].map((text) => text.replace(/,/g, '')));
    },
  );
});
