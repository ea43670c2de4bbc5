// A browser app as a consumer writes it: tfjs and tfjs-attention by their plain names, bundled
// by the app's own esbuild (build.mjs). It loads the shipped reverse model from the models/ folder
// the build copied next to the page (a URL relative to it), decodes a few sequences and shows the
// backend the library chose. The test reads `window.result`.
import * as tf from '@tensorflow/tfjs';
import { loadSeq2Seq } from 'tfjs-attention';

async function main() {
  const reverse = await loadSeq2Seq('models/reverse');
  document.querySelector('#backend').textContent = tf.getBackend();
  const inputs = ['314', '0123456789', '98'];
  const outputs = await reverse.generate(inputs.map((text) => reverse.stringToTokens(text)));
  const decoded = outputs.map((ids) => reverse.tokensToString(ids));
  document.querySelector('#log').textContent = inputs.map((text, i) => `${text} -> ${decoded[i]}`).join('\n');
  return {
    inputs,
    decoded,
    reversed: await reverse.generate([[3, 4, 5, 6]]),
    shownBackend: document.querySelector('#backend').textContent,
    tfBackend: tf.getBackend(),
  };
}

window.result = main();
