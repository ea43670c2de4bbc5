// What readme.cjs and readme.mjs run with the names they imported from 'tfjs-attention' (this file
// imports nothing from the package itself): the README's first example, a padding probe, and the
// shipped reverse model. Returns plain JSON.
'use strict';

/** Tokens; 0 is padding. Row 3 has none. */
const BATCH = [
  [5, 3, 9, 2, 0, 0],
  [7, 1, 8, 0, 0, 0],
  [4, 6, 4, 6, 4, 6],
];
const LENGTHS = [4, 3, 6];
const PADDED = BATCH.map((row) => [...row, 0, 0, 0]);

/** Largest |a - b| over the unpadded positions of (B, T, D) arrays. */
function maxDiffAtTokens(a, b) {
  let max = 0;
  LENGTHS.forEach((length, row) => {
    for (let t = 0; t < length; t++) {
      a[row][t].forEach((value, d) => {
        max = Math.max(max, Math.abs(value - b[row][t][d]));
      });
    }
  });
  return max;
}

/** README "The layers": embedding (maskZero) -> MultiHeadAttention -> pooling -> dense softmax. */
function readmeModel(tf, MultiHeadAttention) {
  const tokens = tf.input({ shape: [null], dtype: 'int32' });
  const embedding = tf.layers.embedding({ inputDim: 1000, outputDim: 64, maskZero: true });
  const attention = new MultiHeadAttention({ numHeads: 4, keyDim: 16 });
  const x = embedding.apply(tokens);
  const attended = attention.apply(x); // padded keys are never attended
  const pooled = tf.layers.globalAveragePooling1d().apply(attended);
  const output = tf.layers.dense({ units: 2, activation: 'softmax' }).apply(pooled);
  const model = tf.model({ inputs: tokens, outputs: output });

  // The same layers, also returning the attention output at every position.
  const probe = tf.model({ inputs: tokens, outputs: [output, attended] });
  // The same attention layer (shared weights) behind an identical embedding without maskZero:
  // what the probe would compute if the padding mask never reached attention.
  const controlTokens = tf.input({ shape: [null], dtype: 'int32' });
  const controlEmbedding = tf.layers.embedding({ inputDim: 1000, outputDim: 64 });
  const control = tf.model({ inputs: controlTokens, outputs: attention.apply(controlEmbedding.apply(controlTokens)) });
  controlEmbedding.setWeights(embedding.getWeights());
  return { model, probe, control };
}

async function readmeChecks({ tf, MultiHeadAttention, loadSeq2Seq, reverseFolder, loadFirst }) {
  const report = { backendChosenAtImport: tf.engine().backendName == null ? null : tf.engine().backendName };
  const ints = (rows) => tf.tensor2d(rows, undefined, 'int32');

  const loadReverse = async () => {
    const reverse = await loadSeq2Seq(reverseFolder);
    report.backendAfterLoad = tf.getBackend();
    report.reversed = await reverse.generate([[3, 4, 5, 6]]);
    report.decoded314 = reverse.tokensToString((await reverse.generate([reverse.stringToTokens('314')]))[0]);
    report.seq2seqClass = reverse.constructor.name;
  };

  if (loadFirst) await loadReverse();

  const { model, probe, control } = readmeModel(tf, MultiHeadAttention);
  report.layerClass = model.layers[2].getClassName();
  const probabilities = model.predict(ints(BATCH));
  report.probabilitiesShape = probabilities.shape;
  report.probabilities = probabilities.arraySync();
  const [probeProbabilities, attendedShort] = probe.predict(ints(BATCH));
  const [, attendedPadded] = probe.predict(ints(PADDED));
  report.probeMatchesModel = JSON.stringify(probeProbabilities.arraySync()) === JSON.stringify(report.probabilities);
  report.attendedShape = attendedShort.shape;
  report.maskedDiff = maxDiffAtTokens(attendedShort.arraySync(), attendedPadded.arraySync());
  report.unmaskedDiff = maxDiffAtTokens(
    control.predict(ints(BATCH)).arraySync(),
    control.predict(ints(PADDED)).arraySync(),
  );
  report.backendAfterModel = tf.getBackend();

  if (!loadFirst) await loadReverse();
  report.backendAtEnd = tf.getBackend();
  return report;
}

module.exports = { readmeChecks };
