/**
 * What every model loader accepts from a file before it parses or allocates anything: the options
 * a caller may set (`ModelLoadOptions`) and the fixed limits on the JSON a model file holds
 * (`JSON_LIMITS`). The README's "Untrusted model files" lists them.
 *
 * JSON text is scanned once, linearly and without recursion, before `JSON.parse` builds anything:
 * its size, nesting depth, number of values and longest string are each bounded, so that a crafted
 * file (nesting 10,000 deep, a million manifest entries, a 100 MB string) is refused in
 * milliseconds with a sentence, instead of exhausting the stack or the heap of whatever walks it
 * later (tfjs's deserializer and config converter recurse).
 */
import { describeValue } from '../describe';
import { checkOptionNames, optionNames } from '../options';
import { ModelLoadError } from './load_error';

/** What to do with weights that hold NaN or ±Infinity. */
export type NonFiniteWeights = 'refuse' | 'warn';

/** Options of every model loader (`loadKerasModel`, `loadSeq2Seq`, `fileSystem(path, options)`). */
export interface ModelLoadOptions {
  /** 'refuse' (the default) throws naming the weight; 'warn' loads it and warns once per weight. */
  nonFiniteWeights?: NonFiniteWeights;
  /**
   * Most bytes the model's weights may take once loaded (4 per value), whatever the file declares.
   * Default `DEFAULT_MAX_WEIGHT_BYTES` (2 GiB, more than the wasm backend can hold); `Infinity` for
   * no limit. The weights must also fit what the file really holds, whatever this is.
   */
  maxWeightBytes?: number;
}

/** The default of `ModelLoadOptions.maxWeightBytes`: 2 GiB. */
export const DEFAULT_MAX_WEIGHT_BYTES = 2 ** 31;

/** The options every loader takes, with their defaults. */
export const MODEL_LOAD_DEFAULTS: Required<ModelLoadOptions> = {
  nonFiniteWeights: 'refuse',
  maxWeightBytes: DEFAULT_MAX_WEIGHT_BYTES,
};

/** Limits on the JSON of a model file (config.json, model_config, model.json, task.json). */
export const JSON_LIMITS = {
  /**
   * Bytes of one JSON document (a Keras config of 2,000 layers is about 3 MB), checked before it is
   * read or inflated; its text then has at most as many characters.
   */
  maxBytes: 16 * 2 ** 20,
  /** Nesting of arrays and objects (Keras configs nest about 15 deep). */
  maxDepth: 100,
  /** Values, keys included. */
  maxValues: 1_000_000,
  /** Characters of one string. */
  maxStringLength: 2 ** 20,
} as const;

/**
 * Layers in one model, nested models' included (the largest Keras applications have about 1,000;
 * tfjs builds about one a millisecond, so this bounds a load's time too).
 */
export const MAX_LAYERS = 5_000;

/**
 * Calls on the longest path from an input to an output (ResNet-152 is about 500 deep): tfjs's model
 * constructor recurses once a call, and runs out of stack between 3,000 and 6,000.
 */
export const MAX_DEPTH = 2_000;

/** The names of `ModelLoadOptions`, which every loader takes. */
export const MODEL_LOAD_OPTION_NAMES = optionNames<ModelLoadOptions>({ nonFiniteWeights: true, maxWeightBytes: true });

/**
 * `options` checked and completed with the defaults; an unknown name is an error with the nearest
 * known one (src/options.ts). `caller` names the function in messages; `known` lists every option it
 * takes (a loader with options of its own adds them to `MODEL_LOAD_OPTION_NAMES`).
 */
export function checkLoadOptions(
  caller: string,
  options: unknown,
  known: readonly string[] = MODEL_LOAD_OPTION_NAMES,
): Required<ModelLoadOptions> {
  if (options == null || typeof options !== 'object' || Array.isArray(options)) {
    throw new Error(`${caller}: options is ${describeValue(options)}; expected an object`);
  }
  checkOptionNames(caller, options, known);
  // An option given as undefined takes its default, as an absent one does.
  const given = options as ModelLoadOptions;
  const nonFiniteWeights = given.nonFiniteWeights ?? MODEL_LOAD_DEFAULTS.nonFiniteWeights;
  const maxWeightBytes = given.maxWeightBytes ?? MODEL_LOAD_DEFAULTS.maxWeightBytes;
  if (nonFiniteWeights !== 'refuse' && nonFiniteWeights !== 'warn') {
    throw new Error(`${caller}: nonFiniteWeights is ${describeValue(nonFiniteWeights)}; expected 'refuse' or 'warn'`);
  }
  if (typeof maxWeightBytes !== 'number' || !(maxWeightBytes > 0)) {
    throw new Error(
      `${caller}: maxWeightBytes is ${describeValue(maxWeightBytes)}; expected a positive number of bytes ` +
        '(Infinity for no limit)',
    );
  }
  return { nonFiniteWeights, maxWeightBytes };
}

/** A JSON document's size in bytes, checked against JSON_LIMITS.maxBytes before it is read or inflated. */
export function checkJsonBytes(bytes: number, file: string): void {
  if (bytes > JSON_LIMITS.maxBytes) {
    throw new ModelLoadError(
      file,
      `is ${bytes} bytes, more than the ${JSON_LIMITS.maxBytes} a JSON file of a model may have`,
    );
  }
}

/** UTF-8 bytes as text; invalid UTF-8 is an error naming the file. */
export function decodeUtf8(bytes: Uint8Array, file: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new ModelLoadError(file, 'is not valid UTF-8 text; a JSON file of a model is UTF-8');
  }
}

/** Checks JSON text against JSON_LIMITS (see the module comment) without parsing it. */
export function checkJsonText(text: string, file: string): void {
  const { maxBytes, maxDepth, maxValues, maxStringLength } = JSON_LIMITS;
  if (text.length > maxBytes) {
    throw new ModelLoadError(
      file,
      `is ${text.length} characters of JSON, more than the ${maxBytes} a model file may have`,
    );
  }
  let depth = 0;
  let values = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // A string (a key or a value): skip to its closing quote, escapes included.
      const start = i;
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) i++;
        else if (d === 0x22) break;
      }
      if (i - start - 1 > maxStringLength) {
        throw new ModelLoadError(
          file,
          `holds a string of ${i - start - 1} characters (at offset ${start}), more than the ${maxStringLength} ` +
            'a model file may have',
        );
      }
      values++;
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > maxDepth) {
        throw new ModelLoadError(file, `nests arrays and objects more than ${maxDepth} deep (at offset ${i})`);
      }
      values++;
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    } else if (c === 0x2c) {
      values++;
    }
    if (values > maxValues) throw new ModelLoadError(file, `holds more than ${maxValues} JSON values`);
  }
}

/** JSON text parsed after `checkJsonText`; a syntax error names the file. */
export function parseJson(text: string, file: string): unknown {
  checkJsonText(text, file);
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ModelLoadError(file, `is not valid JSON (${(error as Error).message})`);
  }
}

/**
 * Checks an already-parsed value (a tfjs `IOHandler`'s artifacts, JSON fetched by tfjs) against
 * JSON_LIMITS, iteratively; also refuses what JSON cannot hold (functions, cycles run into the
 * value limit).
 */
export function checkJsonValue(value: unknown, file: string): void {
  const { maxDepth, maxValues, maxStringLength } = JSON_LIMITS;
  const stack: [unknown, number][] = [[value, 1]];
  let values = 0;
  while (stack.length > 0) {
    const [item, depth] = stack.pop()!;
    if (++values > maxValues) throw new ModelLoadError(file, `holds more than ${maxValues} JSON values`);
    if (typeof item === 'string') {
      if (item.length > maxStringLength) {
        throw new ModelLoadError(
          file,
          `holds a string of ${item.length} characters, more than the ${maxStringLength} a model file may have`,
        );
      }
    } else if (item != null && typeof item === 'object') {
      if (depth > maxDepth) throw new ModelLoadError(file, `nests arrays and objects more than ${maxDepth} deep`);
      if (ArrayBuffer.isView(item) || item instanceof ArrayBuffer) continue;
      for (const [key, child] of Object.entries(item)) {
        stack.push([key, depth + 1], [child, depth + 1]);
      }
    } else if (typeof item === 'function' || typeof item === 'symbol') {
      throw new ModelLoadError(file, `holds a ${typeof item}, which JSON cannot`);
    }
  }
}
