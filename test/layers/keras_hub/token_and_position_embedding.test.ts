import * as tf from '@tensorflow/tfjs';
import { KerasHubTokenAndPositionEmbedding } from '../../../src/layers/keras_hub/token_and_position_embedding';
import { describeEachBackend } from '../../helpers/backends';
import { expectLayerContract } from '../../helpers/layer_contract';
import { ids } from '../../helpers/tensors';
import { hubFixture, maxDiff, t } from './fixtures';

interface TokenFixture {
  tokens: number[][];
  positions: number[][];
  ids: number[][];
  output: number[][][];
}

describeEachBackend('keras_hub TokenAndPositionEmbedding', () => {
  expectLayerContract('keras_hub TokenAndPositionEmbedding', {
    make: () => new KerasHubTokenAndPositionEmbedding({ vocabularySize: 6, sequenceLength: 4, embeddingDim: 3 }),
    inputs: () =>
      ids([
        [0, 1, 2, 3],
        [4, 5, 1, 2],
      ]),
    outputShape: [2, 4, 3],
    weightShapes: [
      [6, 3],
      [4, 3],
    ],
  });

  it('sums token and position embeddings as keras-hub (numpy, 1e-6), and masks id 0 with maskZero', () => {
    const f = hubFixture<TokenFixture>('hub_token_and_position_embedding');
    const layer = new KerasHubTokenAndPositionEmbedding({
      vocabularySize: 9,
      sequenceLength: 6,
      embeddingDim: 4,
      maskZero: true,
    });
    const x = t(f.ids, 'int32');
    tf.dispose(layer.apply(x) as tf.Tensor);
    layer.setWeights([t(f.tokens), t(f.positions)]);
    const y = layer.apply(x) as tf.Tensor & { kerasMask?: tf.Tensor };
    expect(maxDiff(y, f.output)).toBeLessThan(1e-6);
    expect(y.kerasMask!.arraySync()).toEqual(f.ids.map((row) => row.map((id) => (id !== 0 ? 1 : 0))));
    tf.dispose([x, y, y.kerasMask!]);
  });

  it('without tieWeights keeps reverse_embeddings [D, V]; weights and paths in Keras order', () => {
    const layer = new KerasHubTokenAndPositionEmbedding({
      vocabularySize: 7,
      sequenceLength: 5,
      embeddingDim: 3,
      tieWeights: false,
    });
    layer.apply(tf.input({ shape: [5], dtype: 'int32' }));
    expect(layer.weights.map((w) => w.shape)).toEqual([
      [7, 3],
      [3, 7],
      [5, 3],
    ]);
    expect(layer.kerasWeightPaths()).toEqual([
      'token_embedding/vars/0',
      'token_embedding/vars/1',
      'position_embedding/vars/0',
    ]);
    const tied = new KerasHubTokenAndPositionEmbedding({ vocabularySize: 7, sequenceLength: 5, embeddingDim: 3 });
    tied.apply(tf.input({ shape: [5], dtype: 'int32' }));
    expect(tied.kerasWeightPaths()).toEqual(['token_embedding/vars/0', 'position_embedding/vars/0']);
    // keras-hub's default initializer is Keras's 'uniform': RandomUniform(-0.05, 0.05).
    expect(tied.getConfig().embeddingsInitializer).toEqual({
      className: 'RandomUniform',
      config: { minval: -0.05, maxval: 0.05, seed: undefined },
    });
  });

  it('invalid arguments', () => {
    const make = (args: Record<string, unknown>) => () =>
      new KerasHubTokenAndPositionEmbedding({
        vocabularySize: 5,
        sequenceLength: 4,
        embeddingDim: 2,
        name: 'e',
        ...args,
      });
    expect(make({ vocabularySize: 0 })).toThrow(
      "keras_hub TokenAndPositionEmbedding 'e': vocabularySize must be a positive integer, got 0",
    );
    expect(make({ tieWeights: 'yes' })).toThrow(
      "keras_hub TokenAndPositionEmbedding 'e': tieWeights must be true or false, got 'yes'",
    );
    const layer = make({})();
    const x = tf.zeros([2, 3, 1], 'int32');
    expect(() => layer.apply(x)).toThrow(
      "keras_hub TokenAndPositionEmbedding 'e': token ids must have shape (B, T), got shape [2, 3, 1]",
    );
    x.dispose();
  });
});
