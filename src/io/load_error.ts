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
   * @param problem What is wrong, in a sentence; the message is `${file}: ${problem}` (unless it
   *   already starts with the file).
   */
  constructor(file: string, problem: string) {
    super(clampMessage(problem.startsWith(file) ? problem : `${file}: ${problem}`));
    this.name = 'ModelLoadError';
    this.file = file;
  }

  /** An error whose `message` is given whole; it must name `file`. */
  static withMessage(file: string, message: string): ModelLoadError {
    const error = new ModelLoadError(file, '');
    error.message = clampMessage(message);
    return error;
  }

  /**
   * `error` in the loaders' shape: a ModelLoadError as it is, any other error's text (or a thrown
   * non-Error's) kept, prefixed with the file unless it already names it.
   */
  static wrap(error: unknown, file: string): ModelLoadError {
    if (error instanceof ModelLoadError) return error;
    const text = (error instanceof Error ? error.message : String(error)) || 'failed without a message';
    const wrapped = text.includes(file) ? ModelLoadError.withMessage(file, text) : new ModelLoadError(file, text);
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
