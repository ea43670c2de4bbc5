/**
 * The fixtures of test/fixtures/keras_written/, written by Keras itself (npm run fixtures:keras:
 * Keras 3.15 with JAX and keras-hub 0.32, tf-keras 2.21, tf.keras 2.15 and tensorflowjs_converter),
 * against Keras's own predictions (manifest.json): each loads with loadKerasModel and predicts what
 * Keras predicted within 1e-5, leaking no tensor, its static output shapes keeping the unknown batch;
 * the ones that must be refused are refused with the reason.
 *
 * KNOWN_GAPS (test/helpers/keras_written.ts) lists the files that do not load or match yet, with
 * what is missing: each is checked to still fail, so that a fix shows up here.
 */
import { compareWithKeras, KNOWN_GAPS, readManifest, refusalOptions } from '../helpers/keras_written';
import * as path from 'node:path';
import { loadKerasModel } from '../../src';
import { KERAS_WRITTEN } from '../helpers/keras_written';

const manifest = readManifest();
const loading = manifest.entries.filter((e) => e.refused == null && !(e.file in KNOWN_GAPS));
const refused = manifest.entries.filter((e) => e.refused != null);

it('the manifest was written by the pinned Keras versions and lists every kind of file', () => {
  expect(manifest.writers).toEqual([
    'keras 3.15.1 (jax backend)',
    'tf-keras 2.21.0',
    'tf.keras 2.15.0 (TensorFlow 2.15.0)',
  ]);
  const files = manifest.entries.map((e) => e.file);
  for (const ending of ['.keras', '.h5', 'model.json']) expect(files.some((f) => f.endsWith(ending))).toBe(true);
});

describe.each(loading.map((e) => [e.file, e] as const))('%s', (_file, entry) => {
  it(`predicts what ${entry.keras} predicted (< 1e-5), no tensor leaked, unknown batch kept`, async () => {
    const { maxDiff, leaked, outputShapes } = await compareWithKeras(entry);
    expect(maxDiff).toBeLessThan(1e-5);
    expect(leaked).toBe(0);
    for (const shape of outputShapes) expect(shape[0]).toBeNull();
  });
});

describe.each(refused.map((e) => [e.file, e] as const))('%s (refused)', (file, entry) => {
  it(`is refused naming ${entry.refused}`, async () => {
    await expect(loadKerasModel(path.join(KERAS_WRITTEN, file), refusalOptions(entry))).rejects.toThrow(entry.refused!);
  });
});

// A loop, not describe.each, which refuses an empty table (there are no known gaps today).
for (const [file, gap] of Object.entries(KNOWN_GAPS)) {
  describe(`${file} (known gap)`, () => {
    it(`does not load or match yet: ${gap}`, async () => {
      const entry = manifest.entries.find((e) => e.file === file && e.refused == null)!;
      expect(entry).toBeDefined();
      const result = await compareWithKeras(entry).catch((error: Error) => error);
      if (!(result instanceof Error)) expect(result.maxDiff).toBeGreaterThan(1e-5);
    });
  });
}

it('a user class with the bare name of one of ours is refused with the customObjects line', async () => {
  const file = path.join(KERAS_WRITTEN, 'k3_keras_io_text_classification.keras');
  await expect(loadKerasModel(file)).rejects.toThrow(
    new RegExp(
      'TokenAndPositionEmbedding is a class of your own.*' +
        'customObjects: \\{TokenAndPositionEmbedding: KerasIoTokenAndPositionEmbedding\\}',
    ),
  );
});

it('a variant of the keras.io TransformerBlock is refused with what differs, even given customObjects', async () => {
  const { KERAS_IO_LAYERS } = await import('../../src');
  await expect(
    loadKerasModel(path.join(KERAS_WRITTEN, 'k3_keras_io_variant.keras'), {
      customObjects: KERAS_IO_LAYERS as never,
    }),
  ).rejects.toThrow(/not the keras.io example's class.*it has dropout_rate.*it lacks rate|it has dropout_rate/);
});
