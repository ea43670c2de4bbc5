// Plain TensorFlow.js in CommonJS; with --with-package it requires 'tfjs-attention' first, which
// is then what loads tfjs. The WebAssembly counters go in before anything else. Prints one line:
// RESULT <json>.
'use strict';
const spy = require('./wasm_spy.cjs');
const withPackage = process.argv.includes('--with-package');
if (withPackage) require('tfjs-attention');
const tf = require('@tensorflow/tfjs');
spy.mark('afterTfjs');
const { stateAtImport, plainReport } = require('./plain_compute.cjs');

const report = plainReport(tf, { atImport: stateAtImport(tf), spy });
report.packageModule = withPackage ? require.resolve('tfjs-attention') : null;
console.log('RESULT ' + JSON.stringify(report));
