/**
 * A browser app that uses the ES module bundle the way an app with a bundler does: it imports
 * dist/browser/tfjs-attention.esm.js and @tensorflow/tfjs, and the app's bundler (esbuild here)
 * puts one copy of tfjs in the app. test/browser/bundles.test.ts bundles and opens it.
 */
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
// The test's bundler resolves this to the built dist/browser/tfjs-attention.esm.js (an app would
// write 'tfjs-attention'); the path keeps `npm run typecheck` checking this file against the sources.
import { initBackend, loadSeq2Seq, TransformerEncoderBlock } from '../../../src/browser';

async function main() {
  // wasm rather than the automatic webgl: it exercises the bundled wasm backend and its binaries,
  // and headless Chromium's software WebGL is slow to compile shaders.
  setWasmPaths('/vendor/tfjs-backend-wasm/');
  const backend = await initBackend('wasm');
  const reverse = await loadSeq2Seq('/models/reverse');
  const inputs = ['314', '0123456789', '98'];
  const outputs = await reverse.generate(inputs.map((text) => reverse.stringToTokens(text)));
  const plain = await tf.loadLayersModel('/models/reverse/model.json');
  return {
    backend,
    tfBackend: tf.getBackend(),
    inputs,
    decoded: outputs.map((ids) => reverse.tokensToString(ids)),
    plainLoadUsesOurClass: plain.getLayer('encoder_block_0') instanceof TransformerEncoderBlock,
  };
}

(globalThis as unknown as { result: Promise<unknown> }).result = main();
