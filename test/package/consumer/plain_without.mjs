// Plain TensorFlow.js as an ES module, without tfjs-attention; plain_with.mjs differs only in its
// import of the package. Prints one line: RESULT <json>.
import spy from './wasm_spy.cjs'; // first: imports evaluate in order
import * as tf from '@tensorflow/tfjs';
import './after_tfjs.cjs';
import plain from './plain_compute.cjs';

const report = plain.plainReport(tf, { atImport: plain.stateAtImport(tf), spy });
report.packageModule = null;
console.log('RESULT ' + JSON.stringify(report));
