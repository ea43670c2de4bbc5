// The plain TensorFlow.js computation of plain_compute.cjs on a page, without tfjs-attention;
// plain_page_with.js differs only in its import of the package. The test reads `window.result`.
import spy from './wasm_spy.cjs'; // first: imports evaluate in order
import * as tf from '@tensorflow/tfjs';
import './after_tfjs.cjs';
import plain from './plain_compute.cjs';

const atImport = plain.stateAtImport(tf);
window.result = Promise.resolve().then(() => plain.plainReport(tf, { atImport, spy }));
