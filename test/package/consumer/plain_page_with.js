// plain_page_without.js plus `import 'tfjs-attention'` after tfjs. The test reads `window.result`.
import spy from './wasm_spy.cjs'; // first: imports evaluate in order
import * as tf from '@tensorflow/tfjs';
import './after_tfjs.cjs';
import 'tfjs-attention';
import plain from './plain_compute.cjs';

const atImport = plain.stateAtImport(tf);
window.result = Promise.resolve().then(() => plain.plainReport(tf, { atImport, spy }));
