import { TASK_NAMES } from '../../src/tasks/tasks';
import {
  DEFAULT_RECIPE,
  describeRecipe,
  formatRecipe,
  parseTrainArgs,
  reproduceCommand,
  resumeOptions,
  TASK_RECIPES,
  TRAIN_USAGE,
  TrainOptions,
  UsageError,
} from '../../src/train/options';

function options(argv: string[]): { options: TrainOptions; explicit: Set<keyof TrainOptions> } {
  const parsed = parseTrainArgs(argv);
  if (parsed.help) throw new Error('unexpected --help');
  return parsed;
}

function usageError(argv: string[]): string {
  try {
    parseTrainArgs(argv);
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as Error).message;
  }
  throw new Error(`no error for ${argv.join(' ')}`);
}

describe('parseTrainArgs', () => {
  it('takes each numeric flag at the edges of its range and refuses the value just past them', () => {
    // [flag, values accepted, where the value lands, values refused, what the message says is expected]
    const get = (o: TrainOptions, key: string): unknown =>
      key.split('.').reduce<unknown>((v, k) => (v as Record<string, unknown>)[k], o);
    const cases: Array<[string, string[], string, string[], string]> = [
      ['lr', ['1e-9', '0.999'], 'lr', ['0', '1'], 'a number in (0, 1)'],
      ['dropout', ['0', '0.999'], 'model.dropout', ['-0.01', '1'], 'a number in [0, 1)'],
      ['beta1', ['0', '0.999'], 'beta1', ['-0.01', '1'], 'a number in [0, 1)'],
      ['beta2', ['0', '0.999'], 'beta2', ['-0.01', '1'], 'a number in [0, 1)'],
      ['clip', ['1e-9'], 'clip', ['0'], 'a positive number'],
      ['label-smoothing', ['0', '0.999'], 'labelSmoothing', ['-0.01', '1'], 'a number in [0, 1)'],
      ['weight-decay', ['0', '0.999'], 'weightDecay', ['-0.01', '1'], 'a number in [0, 1)'],
      ['length-balanced', ['0', '1'], 'lengthBalanced', ['-0.01', '1.01'], 'a number in [0, 1]'],
      ['init-scale', ['1e-9'], 'initScale', ['0'], 'a positive number'],
      ['target-exact-match', ['0', '1'], 'targetExactMatch', ['-0.01', '1.01'], 'a number in [0, 1]'],
      ['max-seconds', ['1e-9'], 'maxSeconds', ['0'], 'a positive number of seconds'],
      ['batch', ['1', '65536'], 'batch', ['0', '65537', '1.5'], 'an integer in [1, 65536]'],
      ['seed', ['0', '4294967295'], 'seed', ['-1', '4294967296'], 'an integer in [0, 4294967295]'],
      ['steps', ['1'], 'steps', ['0'], 'an integer >= 1'],
      ['warmup', ['0'], 'warmup', ['-1'], 'an integer >= 0'],
      ['length-balanced-steps', ['0'], 'lengthBalancedSteps', ['-1'], 'an integer >= 0'],
      ['eval-every', ['1'], 'evalEvery', ['0'], 'an integer >= 1'],
      ['checkpoint-every', ['1'], 'checkpointEvery', ['0'], 'an integer >= 1'],
      ['log-every', ['1'], 'logEvery', ['0'], 'an integer >= 1'],
      ['embedding-dim', ['1'], 'model.embeddingDim', ['0'], 'an integer >= 1'],
      ['heads', ['1'], 'model.numHeads', ['0'], 'an integer >= 1'],
      ['key-dim', ['1'], 'model.keyDim', ['0'], 'an integer >= 1'],
      ['ff', ['1'], 'model.intermediateDim', ['0'], 'an integer >= 1'],
      ['encoder-layers', ['1'], 'model.numEncoderLayers', ['0'], 'an integer >= 1'],
      ['decoder-layers', ['1'], 'model.numDecoderLayers', ['0'], 'an integer >= 1'],
      ['symbols', ['1'], 'taskOptions.numSymbols', ['0'], 'an integer >= 1'],
    ];
    for (const [flag, accepted, key, refused, expected] of cases) {
      for (const value of accepted) expect(get(options([`--${flag}=${value}`]).options, key)).toBe(Number(value));
      for (const value of refused) {
        expect(usageError([`--${flag}=${value}`])).toBe(`--${flag} must be ${expected}, got '${value}'`);
      }
      expect(usageError([`--${flag}= `])).toBe(`--${flag} must be ${expected}, got ' '`);
    }
    // --min-lr up to --lr itself; its default a fraction of the --lr given.
    expect(options(['--lr', '0.01', '--min-lr', '0.01']).options.minLr).toBe(0.01);
    expect(options(['--lr', '0.01', '--min-lr', '0']).options.minLr).toBe(0);
    expect(usageError(['--lr', '0.01', '--min-lr', '0.011'])).toBe(
      "--min-lr must be a number in [0, --lr (0.01)], got '0.011'",
    );
    expect(usageError(['--lr', '0.01', '--min-lr=-0.001'])).toBe(
      "--min-lr must be a number in [0, --lr (0.01)], got '-0.001'",
    );
    const recipe = TASK_RECIPES.reverse;
    expect(options(['--lr', '0.01']).options.minLr).toBeCloseTo(recipe.minLrFraction * 0.01, 15);
    // --layers sets both stacks unless one is given.
    expect(options(['--layers', '3', '--decoder-layers', '1']).options.model).toMatchObject({
      numEncoderLayers: 3,
      numDecoderLayers: 1,
    });
    // --decay-steps must pass --warmup for the cosine, equal included.
    expect(usageError(['--decay', 'cosine', '--warmup', '10', '--decay-steps', '10'])).toBe(
      '--decay-steps must be greater than --warmup (10) for the cosine decay, got 10',
    );
    expect(options(['--decay', 'cosine', '--warmup', '10', '--decay-steps', '11']).options.decaySteps).toBe(11);
  });

  it('defaults to reverse, the reference preset and the recipe, into models/runs/reverse (not the shipped one)', () => {
    const { options: o, explicit } = options([]);
    expect(o).toMatchObject({
      task: 'reverse',
      preset: 'reference',
      steps: DEFAULT_RECIPE.steps,
      batch: 64,
      lr: DEFAULT_RECIPE.lr,
      decay: DEFAULT_RECIPE.decay,
      out: 'models/runs/reverse',
      resume: false,
      targetExactMatch: 0.99,
      backend: 'auto',
    });
    expect(o.model).toEqual({ normalizeFirst: DEFAULT_RECIPE.normalizeFirst });
    expect(explicit.size).toBe(0);
  });

  it.each(TASK_NAMES.map((task) => [task]))("--task %s defaults to the task's recipe, and says so", (task) => {
    const r = TASK_RECIPES[task];
    const { options: o, explicit } = options(['--task', task]);
    expect(o).toMatchObject({
      steps: r.steps,
      batch: r.batch,
      lr: r.lr,
      warmup: r.warmup,
      decay: r.decay,
      decaySteps: r.decaySteps,
      beta1: r.beta1,
      beta2: r.beta2,
      clip: r.clip,
      labelSmoothing: r.labelSmoothing,
      weightDecay: r.weightDecay,
      lengthBalanced: r.lengthBalanced,
      initScale: r.initScale,
      evalEvery: r.evalEvery,
      model: { normalizeFirst: r.normalizeFirst },
    });
    expect(o.minLr).toBeCloseTo(r.minLrFraction * r.lr, 12);
    expect([...explicit]).toEqual(['task']);
    expect(describeRecipe(o)).toBe(`recipe: ${task}'s default (src/train/recipe.ts) ${formatRecipe(r)}`);
    expect(TRAIN_USAGE).toContain(`  ${task.padEnd(9)} ${formatRecipe(r)}`);
  });

  it("a --warmup past the recipe's decay steps moves the cosine's end just past it (no --decay-steps needed)", () => {
    const r = TASK_RECIPES.reverse;
    const { options: o, explicit } = options(['--warmup', String(r.decaySteps + 100)]);
    expect(o).toMatchObject({ warmup: r.decaySteps + 100, decay: 'cosine', decaySteps: r.decaySteps + 101 });
    expect(explicit.has('decaySteps')).toBe(false);
    // Below it, the recipe's own.
    expect(options(['--warmup', '1']).options.decaySteps).toBe(r.decaySteps);
  });

  it('every recipe setting is overridden by its flag, and the first line names what changed', () => {
    const argv = '--task addition --norm post --lr 0.001 --label-smoothing 0.1 --weight-decay 0.01'.split(' ');
    const { options: o } = options([...argv, '--length-balanced', '0.25', '--init-scale', '0.5', '--eval-every', '10']);
    expect(o).toMatchObject({
      lr: 0.001,
      labelSmoothing: 0.1,
      weightDecay: 0.01,
      lengthBalanced: 0.25,
      initScale: 0.5,
    });
    const r = TASK_RECIPES.addition;
    expect(formatRecipe(r)).toContain(`--lr ${r.lr} `);
    expect(describeRecipe(o)).toBe(
      `recipe: addition's default (src/train/recipe.ts) ${formatRecipe(r)}; changed: --norm post --lr 0.001 ` +
        `--min-lr ${r.minLrFraction * 0.001} --label-smoothing 0.1 --weight-decay 0.01 --length-balanced 0.25 ` +
        '--init-scale 0.5 --eval-every 10',
    );
  });

  it('reads sizes, recipe and run flags', () => {
    const { options: o, explicit } = options(
      (
        '--task copy --preset tiny --embedding-dim 48 --heads 3 --layers 2 --ff 96 ' +
        '--norm post --steps 10 --batch 8 --lr 1e-3 ' +
        '--warmup 0 --decay constant --beta2 0.999 --seed 7 --backend cpu ' +
        '--out /tmp/x --resume --max-seconds 2.5 --symbols 5'
      ).split(' '),
    );
    expect(o.model).toEqual({
      embeddingDim: 48,
      numHeads: 3,
      intermediateDim: 96,
      numEncoderLayers: 2,
      numDecoderLayers: 2,
      normalizeFirst: false,
    });
    expect(o).toMatchObject({
      task: 'copy',
      taskOptions: { numSymbols: 5 },
      steps: 10,
      batch: 8,
      lr: 1e-3,
      warmup: 0,
      beta2: 0.999,
    });
    expect(o).toMatchObject({
      seed: 7,
      backend: 'cpu',
      out: '/tmp/x',
      resume: true,
      maxSeconds: 2.5,
      decay: 'constant',
    });
    expect(explicit.has('lr') && explicit.has('model') && !explicit.has('clip')).toBe(true);
  });

  it.each([
    [['--frobnicate'], 'unknown option --frobnicate'],
    [['--taks', 'reverse'], 'unknown option --taks (did you mean --task?)'],
    [['--lr', '0.01', '--evel-every=5'], 'unknown option --evel-every (did you mean --eval-every?)'],
    [['--task', 'juggle'], "--task must be one of copy, reverse, sort, addition, got 'juggle'"],
    [['--steps', 'many'], "--steps must be an integer >= 1, got 'many'"],
    [['--steps', '0'], "--steps must be an integer >= 1, got '0'"],
    [['--steps', '1.5'], "--steps must be an integer >= 1, got '1.5'"],
    [['--lr=-1'], "--lr must be a number in (0, 1), got '-1'"],
    [['--lr', '-1'], "Option '--lr' argument is ambiguous"],
    [['--lr', ''], "--lr must be a number in (0, 1), got ''"],
    [['--beta2', '1'], "--beta2 must be a number in [0, 1), got '1'"],
    [['--seed', '4294967296'], "--seed must be an integer in [0, 4294967295], got '4294967296'"],
    [['--target-exact-match', '1.5'], "--target-exact-match must be a number in [0, 1], got '1.5'"],
    [['--backend', 'gpu'], "--backend must be one of auto, tensorflow, wasm, cpu, got 'gpu'"],
    [['--task', 'addition', '--symbols', '4'], "--task addition: unknown option 'numSymbols'"],
    [
      ['--warmup', '500', '--decay-steps', '400'],
      '--decay-steps must be greater than --warmup (500) for the cosine decay, got 400',
    ],
    [['--label-smoothing', '1'], "--label-smoothing must be a number in [0, 1), got '1'"],
    [['--weight-decay=-0.1'], "--weight-decay must be a number in [0, 1), got '-0.1'"],
    [['--length-balanced', 'half'], "--length-balanced must be a number in [0, 1], got 'half'"],
    [['--init-scale', '0'], "--init-scale must be a positive number, got '0'"],
    [['--length-balanced-steps', '0.5'], "--length-balanced-steps must be an integer >= 0, got '0.5'"],
    [['extra'], "Unexpected argument 'extra'"],
  ])('%j is a UsageError: %s', (argv, message) => {
    expect(usageError(argv as string[])).toContain(message);
  });

  it('--help wins', () => {
    expect(parseTrainArgs(['--steps', '3', '--help'])).toEqual({ help: true });
  });
});

describe('resumeOptions', () => {
  const saved = options(['--task', 'copy', '--lr', '0.004', '--steps', '100']).options;

  it("takes the checkpoint's settings and this command's run controls", () => {
    const now = options(['--steps', '300', '--eval-every', '7']);
    const merged = resumeOptions(saved, now.options, now.explicit);
    expect(merged).toMatchObject({ task: 'copy', lr: 0.004, steps: 300, evalEvery: 7 });
  });

  it('refuses a conflicting explicit setting', () => {
    const now = options(['--lr', '0.001']);
    expect(() => resumeOptions(saved, now.options, now.explicit)).toThrow(
      "--resume continues the checkpoint's run, which has lr 0.004; the command line asks for 0.001",
    );
    const same = options(['--lr', '0.004']);
    expect(resumeOptions(saved, same.options, same.explicit).lr).toBe(0.004);
  });
});

describe('reproduceCommand', () => {
  it('spells out every setting, with the steps taken', () => {
    const o = options(['--task', 'sort', '--preset', 'tiny', '--out', 'my models/sort']).options;
    const command = reproduceCommand(o, 1234);
    expect(command).toMatch(
      /^npm run train -- --task sort --preset tiny --norm (pre|post) --steps 1234 --batch 64 --lr /,
    );
    expect(command).toContain("--out 'my models/sort'");
    // The command parses back to the same settings.
    const args = command
      .replace('npm run train -- ', '')
      .replace("'my models/sort'", 'MY')
      .split(' ')
      .map((a) => (a === 'MY' ? 'my models/sort' : a));
    const again = options(args).options;
    expect({ ...again, steps: o.steps }).toEqual(o);
  });
});
