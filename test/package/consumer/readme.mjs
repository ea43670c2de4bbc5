// An ES module consumer: `import { ... } from 'tfjs-attention'` by the plain name, no setup call.
// It loads the shipped reverse model first, so the library picks the backend (nothing was chosen
// yet), then runs the README's first example on that backend. The WebAssembly counters (loaded
// first) show what the import did (nothing) and what choosing the backend did (compile and
// allocate). Prints one line: RESULT <json>.
import spy from './wasm_spy.cjs'; // first: imports evaluate in order
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { MultiHeadAttention, loadSeq2Seq } from 'tfjs-attention';
import checks from './readme_checks.cjs';

const wasmAtImport = spy.wasmCalls();
// The models/* subpath of the package's exports map.
const reverseFolder = path.dirname(fileURLToPath(import.meta.resolve('tfjs-attention/models/reverse/model.json')));
const report = await checks.readmeChecks({ tf, MultiHeadAttention, loadSeq2Seq, reverseFolder, loadFirst: true });
report.resolved = fileURLToPath(import.meta.resolve('tfjs-attention'));
report.reverseFolder = reverseFolder;
// One copy of the code whichever way the package is loaded: require gives the same class.
report.sameClassAsRequire = createRequire(import.meta.url)('tfjs-attention').MultiHeadAttention === MultiHeadAttention;
report.wasmAtImport = wasmAtImport;
report.wasmAtEnd = spy.wasmCalls();
console.log('RESULT ' + JSON.stringify(report));
