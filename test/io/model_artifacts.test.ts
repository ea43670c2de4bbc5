/**
 * The non-finite count every loader runs over the weights (src/io/model_artifacts.ts): its fast
 * path (four running sums of x * 0) must see a NaN or an infinity wherever it is, the tail past the
 * last whole group of four included, and count exactly; and every stored form of a weight is
 * checked: float16 storage, and float32 values that start at an offset that is not a multiple of 4
 * (after a uint8-quantized weight of odd size).
 */
import * as tf from '@tensorflow/tfjs';
import { MODEL_LOAD_DEFAULTS } from '../../src/io/limits';
import { checkArtifacts, countNonFinite } from '../../src/io/model_artifacts';

describe('countNonFinite', () => {
  const finite = () => Float32Array.from({ length: 11 }, (_v, i) => (i % 2 ? -1 : 1) * 3.4e38 * (i / 11));

  it('is 0 for finite values, ±0 and the largest float32 among them', () => {
    const values = finite();
    values[0] = -0;
    values[1] = 3.4028234663852886e38;
    values[2] = -3.4028234663852886e38;
    expect(countNonFinite(values)).toBe(0);
    expect(countNonFinite(new Float32Array(0))).toBe(0);
  });

  it.each([NaN, Infinity, -Infinity])('finds %s at every position (each of the four sums and the tail)', (bad) => {
    for (let at = 0; at < 11; at++) {
      const values = finite();
      values[at] = bad;
      expect([at, countNonFinite(values)]).toEqual([at, 1]);
    }
  });

  it('counts every one, of any kind', () => {
    const values = finite();
    values[1] = NaN;
    values[6] = Infinity;
    values[10] = -Infinity;
    expect(countNonFinite(values)).toBe(3);
  });
});

describe('checkArtifacts: non-finite values in every stored form', () => {
  /** A small model's saved artifacts, with the weights replaced by `specs` and `bytes`. */
  async function artifacts(specs: tf.io.WeightsManifestEntry[], bytes: Uint8Array): Promise<tf.io.ModelArtifacts> {
    const model = tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [2] })] });
    let saved: tf.io.ModelArtifacts | undefined;
    await model.save(tf.io.withSaveHandler(async (a) => ((saved = a), { modelArtifactsInfo: {} as never })));
    model.dispose();
    return { ...saved!, weightSpecs: specs, weightData: bytes.slice().buffer };
  }
  const options = MODEL_LOAD_DEFAULTS;

  it('float16 storage: infinities and NaN (0x7c00, 0xfc00, 0x7e00) refused, the largest half not', async () => {
    const spec = { name: 'k', shape: [3], dtype: 'float32' as const, quantization: { dtype: 'float16' as const } };
    const halves = (values: number[]) => new Uint8Array(Uint16Array.from(values).buffer);
    await expect(
      artifacts([spec], halves([0x3c00, 0x7bff, 0xfbff])).then((a) => checkArtifacts(a, 'm.json', options)),
    ).resolves.toBeDefined();
    for (const bad of [0x7c00, 0xfc00, 0x7e00]) {
      const a = await artifacts([spec], halves([0x3c00, bad, 0]));
      expect(() => checkArtifacts(a, 'm.json', options)).toThrow("m.json: weight 'k' holds 1 non-finite value(s)");
    }
  });

  it('float32 values at an offset that is not a multiple of 4 are checked too', async () => {
    const specs = [
      { name: 'q', shape: [3], dtype: 'float32' as const, quantization: { dtype: 'uint8' as const, scale: 1, min: 0 } },
      { name: 'k', shape: [2], dtype: 'float32' as const },
    ];
    const bytes = new Uint8Array(3 + 8);
    new DataView(bytes.buffer).setFloat32(3, 1.5, true);
    new DataView(bytes.buffer).setFloat32(7, NaN, true);
    const a = await artifacts(specs, bytes);
    expect(() => checkArtifacts(a, 'm.json', options)).toThrow(
      "m.json: weight 'k' holds 1 non-finite value(s) (NaN or ±Infinity) of 2",
    );
  });
});
