// Imported right after '@tensorflow/tfjs' (ES modules evaluate their imports in order): keeps the
// WebAssembly counts at that point, so a script can tell what the imports after it added.
'use strict';
require('./wasm_spy.cjs').mark('afterTfjs');
