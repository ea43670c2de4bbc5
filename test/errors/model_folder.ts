/**
 * A small seq2seq model folder for the error and memory tests: the tiny preset
 * on the reverse task, seeded, saved as training saves it (model.json,
 * weights.bin, task.json).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';

import '../../src/io/file_system'; // file:// in plain Node
import { Seq2SeqTaskInfo, taskInfoFor, writeTaskJson } from '../../src/model/task_json';
import { presetConfig, TransformerConfig } from '../../src/model/config';
import { createTransformer } from '../../src/model/transformer';
import { createTask, Task } from '../../src/tasks';
import { withSeededRandom } from '../../src/train/seed';

export interface TinyReverse {
  task: Task;
  config: TransformerConfig;
  model: tf.LayersModel;
  info: Seq2SeqTaskInfo;
}

/** A seeded tiny model for the reverse task and the task.json that describes it. */
export function tinyReverse(seed = 1): TinyReverse {
  const task = createTask('reverse');
  const config = presetConfig('tiny', task);
  const model = withSeededRandom(seed, () => createTransformer(config));
  const info = taskInfoFor(
    task,
    config,
    { heldOutExactMatch: 0, heldOutTokenAccuracy: 0, heldOutSize: 512 },
    { command: 'untrained (test fixture)', steps: 0, seconds: 0, backend: tf.getBackend(), seed, batch: 8, lr: 1e-3 },
  );
  return { task, config, model, info };
}

/** Saves `model` and `info` into `folder` as training does. */
export async function saveModelFolder(folder: string, model: tf.LayersModel, info: Seq2SeqTaskInfo): Promise<void> {
  await model.save(`file://${folder}`);
  await writeTaskJson(folder, info);
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A copy of the model folder `from` at `to`, to corrupt. */
export function copyFolder(from: string, to: string): string {
  fs.cpSync(from, to, { recursive: true });
  return to;
}
