/**
 * 200 training steps of a tiny causal decoder on the fused attention path (the shape of
 * scripts/bench/gpt_char.ts's model, scaled down) leave tf.memory() exactly where step 10 left it:
 * the fused kernels, their gradients and our Adam allocate nothing that outlives a step. Step 10,
 * not step 1, because Adam's moments and tfjs's lazily built kernels exist only after the first steps.
 */
import * as tf from '@tensorflow/tfjs';

import { initBackend } from '../../src/backend';
import { MaskedLayerNormalization } from '../../src/layers/masked_layer_normalization';
import { TokenAndPositionEmbedding } from '../../src/layers/token_and_position_embedding';
import { TransformerEncoderBlock } from '../../src/layers/transformer_encoder_block';
import { Random } from '../../src/tasks/random';
import { Adam } from '../../src/train/adam';
import { maskedSoftmaxCrossEntropy } from '../../src/train/losses';
import { withSeededRandom } from '../../src/train/seed';
import { FUSED_ATTENTION, FUSED_ATTENTION_GRAD, profiled } from '../helpers/kernel_paths';

/** Vocabulary V, length T, width D (2 heads of 16: a multiple of 4, so the fused kernels run), batch B. */
const [V, T, D, HEADS, BLOCKS, B] = [12, 16, 32, 2, 2, 4];

function causalDecoder(): tf.LayersModel {
  const tokens = tf.input({ shape: [T], dtype: 'int32' });
  let x = new TokenAndPositionEmbedding({ vocabularySize: V, sequenceLength: T, embeddingDim: D }).apply(
    tokens,
  ) as tf.SymbolicTensor;
  for (let i = 0; i < BLOCKS; i++) {
    x = new TransformerEncoderBlock({
      numHeads: HEADS,
      intermediateDim: 2 * D,
      causal: true,
      normalizeFirst: true,
    }).apply(x) as tf.SymbolicTensor;
  }
  x = new MaskedLayerNormalization().apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: tokens, outputs: tf.layers.dense({ units: V }).apply(x) as tf.SymbolicTensor });
}

/**
 * Windows of T + 1 ids counting up by a per-row stride from a random start (ids 1..V-1, never the
 * PAD 0 the loss skips): the next id follows from the two before it, so a causal model can learn it.
 */
function countingWindows(rng: Random): Int32Array {
  const out = new Int32Array(B * (T + 1));
  for (let b = 0; b < B; b++) {
    const start = rng.nextInt(0, V - 2);
    const stride = rng.nextInt(1, 3);
    for (let t = 0; t <= T; t++) out[b * (T + 1) + t] = 1 + ((start + stride * t) % (V - 1));
  }
  return out;
}

// wasm only, as the Trainer's own memory test: 200 steps on the cpu backend take ~25 s here.
beforeAll(() => initBackend('wasm', { quiet: true }));

describe('training a causal decoder on the fused attention path', () => {
  it('holds the same tensors and bytes after step 200 as after step 10, and the loss falls', async () => {
    const model = withSeededRandom(3, causalDecoder);
    const optimizer = new Adam({ learningRate: 3e-3 });
    const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const rng = new Random(5);
    const step = () =>
      tf.tidy(() => {
        const windows = tf.tensor2d(countingWindows(rng), [B, T + 1], 'int32');
        const inputs = windows.slice([0, 0], [B, T]);
        const targets = windows.slice([0, 1], [B, T]);
        return optimizer.minimize(
          () => maskedSoftmaxCrossEntropy(model.apply(inputs, { training: true }) as tf.Tensor, targets),
          true,
          variables,
        ) as tf.Scalar;
      });

    const read = async (loss: tf.Scalar) => {
      const value = (await loss.data())[0];
      loss.dispose();
      return value;
    };
    // The test is about the fused path, so step 1 runs under tf.profile to show that it took it.
    const first = await profiled(step);
    expect(first.kernels).toEqual(expect.arrayContaining([FUSED_ATTENTION, FUSED_ATTENTION_GRAD]));
    const losses = [await read(first.result)];
    const memory: Record<number, { numTensors: number; numBytes: number }> = {};
    for (let i = 2; i <= 200; i++) {
      losses.push(await read(step()));
      if (i === 10 || i === 200) {
        const { numTensors, numBytes } = tf.memory();
        memory[i] = { numTensors, numBytes };
      }
    }

    expect(memory[200]).toEqual(memory[10]);
    // The first step is at about chance, log(V - 1) ~ 2.4 over the 11 ids; the rule is learnt far below it.
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(losses[0]).toBeGreaterThan(2);
    expect(mean(losses.slice(-10))).toBeLessThan(0.5);
    model.dispose();
    optimizer.dispose();
  });
});
