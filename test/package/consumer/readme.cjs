// A CommonJS consumer, as a Node user writes one: require by the package's plain name, no setup
// call. The README's first example runs first (on tfjs's own default backend), then the shipped
// reverse model loads from the installed package. Prints one line: RESULT <json>.
'use strict';
const path = require('node:path');
const tf = require('@tensorflow/tfjs');
const { MultiHeadAttention, loadSeq2Seq } = require('tfjs-attention');
const { readmeChecks } = require('./readme_checks.cjs');

async function main() {
  // The models/* subpath of the package's exports map.
  const reverseFolder = path.dirname(require.resolve('tfjs-attention/models/reverse/model.json'));
  const report = await readmeChecks({ tf, MultiHeadAttention, loadSeq2Seq, reverseFolder, loadFirst: false });
  report.resolved = require.resolve('tfjs-attention');
  report.reverseFolder = reverseFolder;
  console.log('RESULT ' + JSON.stringify(report));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
