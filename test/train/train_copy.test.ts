/**
 * Issue 4 acceptance: the tiny preset learns copy from scratch to >= 0.9
 * held-out exact match, through the same loop as `npm run train` (seeded
 * init and data, so the run is the same every time on a backend).
 */
import { initBackend } from '../../src/backend';
import { TASK_RECIPES } from '../../src/train/recipe';
import { runTimeToAccuracy } from '../../src/train/run';
import { recordMargin } from '../helpers/test_output';

beforeAll(() => initBackend('wasm', { quiet: true }));

it('trains the tiny preset on copy to >= 0.9 held-out exact match', async () => {
  const result = await runTimeToAccuracy({
    task: 'copy',
    target: 0.9,
    maxSteps: 300,
    args: [
      '--preset',
      'tiny',
      '--lr',
      '0.01',
      '--warmup',
      '20',
      '--decay-steps',
      '200',
      '--clip',
      '1',
      '--eval-every',
      '25',
      '--seed',
      '1',
    ],
  });
  // Kept in test-output/margins.jsonl: how much margin the budget has.
  recordMargin('train_copy', { exactMatch: result.exactMatch, steps: result.steps, seconds: result.seconds });
  expect(result.reached).toBe(true);
  expect(result.exactMatch).toBeGreaterThanOrEqual(0.9);
  expect(result.steps).toBeLessThanOrEqual(300);
  expect(result.history.map((h) => h.step)).toEqual(Array.from({ length: result.steps / 25 }, (_v, i) => 25 * (i + 1)));
  expect(result.command).toContain('--task copy --preset tiny');
  // What the bench hands the torch peer: the flags given, the recipe's other settings, Adam's epsilon.
  expect(result.recipe).toEqual({
    ...TASK_RECIPES.copy,
    steps: 300, // maxSteps
    lr: 0.01,
    warmup: 20,
    decaySteps: 200,
    clip: 1,
    evalEvery: 25,
    minLrFraction: expect.closeTo(0.1, 12),
    minLr: expect.closeTo(0.001, 12),
    epsilon: 1e-9,
  });
});
