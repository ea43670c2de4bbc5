/**
 * The one error shape of the model loaders (`loadKerasModel`, `loadSeq2Seq`, the `file://` route of
 * `tf.loadLayersModel`): whatever goes wrong with a file from outside, the caller gets a
 * `ModelLoadError` whose message names the file (and the entry, for a file inside an archive:
 * `model.keras!config.json`), says what is wrong in a sentence, and quotes at most ~200 characters
 * of any value (`describeValue`), so that a crafted 100 MB string never becomes a 100 MB message.
 * Errors thrown by tfjs or by a reader deep inside are wrapped into this shape at the loader's
 * boundary (`ModelLoadError.wrap`), their text kept.
 */

/** Longest message a load error carries; a longer one keeps its head and tail. */
const MAX_MESSAGE = 1000;

/** A model file (or a file of a model folder) that cannot be loaded, and why. */
export class ModelLoadError extends Error {
  /** The file, as the caller named it: a path, a URL, 'the given bytes', or `archive!entry`. */
  readonly file: string;

  /**
   * @param file The file at fault.
   * @param message What is wrong, in a sentence; prefixed with `file: ` unless it already names it.
   */
  constructor(file: string, message: string) {
    super(clampMessage(message.includes(file) ? message : `${file}: ${message}`));
    this.name = 'ModelLoadError';
    this.file = file;
  }

  /**
   * `error` in the loaders' shape: a ModelLoadError as it is, any other error's text (or a thrown
   * non-Error, which jsfive-like libraries throw) kept and prefixed with the file unless it names it.
   */
  static wrap(error: unknown, file: string): ModelLoadError {
    if (error instanceof ModelLoadError) return error;
    const text = error instanceof Error ? error.message : `${String(error)}`;
    const wrapped = new ModelLoadError(file, text || 'failed without a message');
    (wrapped as { cause?: unknown }).cause = error;
    return wrapped;
  }
}

/** A message cut to MAX_MESSAGE characters, its head and tail kept. */
export function clampMessage(message: string): string {
  if (message.length <= MAX_MESSAGE) return message;
  const head = 700;
  const tail = MAX_MESSAGE - head - 40; // 40: room for the marker
  return `${message.slice(0, head)} …(${message.length - head - tail} characters omitted)… ${message.slice(-tail)}`;
}
