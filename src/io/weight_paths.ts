import { describeValue } from '../describe';

/**
 * A weights-manifest path names a file in model.json's own folder or below it: an absolute path,
 * a drive letter or a `..` segment would read files the model does not own (`"../secret.bin"`),
 * so it is refused. Used by this loader and by `loadSeq2Seq` for URLs.
 */
export function checkWeightPath(path: string, modelJSON: string): void {
  const parts = path.split(/[/\\]/);
  if (path === '' || /^([a-zA-Z]:|[/\\])/.test(path) || /^[a-z][a-z0-9+.-]*:/i.test(path) || parts.includes('..')) {
    throw new Error(
      `Cannot load model: ${modelJSON} lists the weights file ${describeValue(path)}, which is outside the ` +
        'model\'s folder; weight paths must be relative names inside it (e.g. "weights.bin")',
    );
  }
}
