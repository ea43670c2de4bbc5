// plain_without.mjs plus `import 'tfjs-attention'` after tfjs, so that what the package's import
// does is the difference between the 'afterTfjs' mark and the counts at the top of the script.
// Prints one line: RESULT <json>.
import spy from './wasm_spy.cjs'; // first: imports evaluate in order
import * as tf from '@tensorflow/tfjs';
import './after_tfjs.cjs';
import 'tfjs-attention';
import plain from './plain_compute.cjs';

const report = plain.plainReport(tf, { atImport: plain.stateAtImport(tf), spy });
report.packageModule = import.meta.resolve('tfjs-attention');
console.log('RESULT ' + JSON.stringify(report));
