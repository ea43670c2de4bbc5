/**
 * Entry point of the browser bundles (built by scripts/build_browser.ts):
 *
 * - `dist/browser/tfjs-attention.esm.js`: an ES module that imports `@tensorflow/tfjs` (and
 *   `@tensorflow/tfjs-backend-wasm`, for the wasm backend), for bundlers;
 * - `dist/browser/tfjs-attention.min.js`: a script-tag bundle that uses the page's global `tf`
 *   (TensorFlow.js's own `tf.min.js`, loaded first) and defines the global `tfAttention`.
 *
 * It is the package's API unchanged, so code moves between Node and the browser without edits.
 * Loading it registers every custom layer with the page's tfjs (the same `tf` the page uses), so
 * plain `tf.loadLayersModel(url)` rebuilds models that contain them. The Node-only parts
 * (`fileSystem`, `atomicWriteFile`, loading a model from a folder) stay in the API but throw a
 * clear error in a browser: Node's `fs` and `path` are never bundled.
 *
 * ```html
 * <script src="https://cdn.jsdelivr.net/npm/@tensorflow/tfjs@4.22.0/dist/tf.min.js"></script>
 * <script src="tfjs-attention.min.js"></script>
 * <script>
 *   tfAttention.loadSeq2Seq('/models/reverse').then(async (reverse) => {
 *     const [out] = await reverse.generate([reverse.stringToTokens('314')]);
 *     console.log(reverse.tokensToString(out)); // '413'
 *   });
 * </script>
 * ```
 */
export * from './index';
