/** Shared set-up of the training tests: a seeded tiny model on a toy task. */
import { presetConfig, PresetName } from '../../src/model/config';
import { createTransformer } from '../../src/model/transformer';
import { createTask, TaskName } from '../../src/tasks';
import { withSeededRandom } from '../../src/train/seed';

export function tinySetup(taskName: TaskName = 'copy', seed = 1, preset: PresetName = 'tiny', normalizeFirst = true) {
  const task = createTask(taskName);
  const config = presetConfig(
    preset,
    { vocabSize: task.vocabSize, maxSourceLength: task.maxSourceLen, maxTargetLength: task.targetLen },
    { normalizeFirst },
  );
  const model = withSeededRandom(seed, () => createTransformer(config));
  return { task, config, model };
}
