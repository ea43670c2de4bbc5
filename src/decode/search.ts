/**
 * The generation loops over a StepRunner (src/decode/runner.ts): one loop for the samplers that
 * choose one token per row (greedy, random, top-k, top-p) and beam search.
 *
 * Prompts may differ in length. Every row advances at the same position each step, as in
 * keras-hub's generate loop: the common prefix runs at once (the prefill), then each step feeds
 * one position of every row, the prompt's own token while the row is still inside its prompt and
 * the chosen token after it. So no row is ever padded, and the cache holds only real tokens.
 *
 * A loop is a generator that yields what it needs from outside, a log-probability tensor to read
 * or a callback's result to wait for, so that one loop serves a synchronous caller (`runSync`:
 * `decode`) and an asynchronous one (`runAsync`: `generate`, which reads with `data()` and lets a
 * page render between steps).
 */
import * as tf from '@tensorflow/tfjs';
import { logProbabilities, type StepRunner } from './runner';

/** What every search takes. */
export interface SearchOptions {
  /** Most tokens generated per row, a stop token included. */
  maxNewTokens: number;
  /** A row ends at the first of these it generates (left out of its result, counted in its score). */
  stopTokenIds: ReadonlySet<number>;
  /** Never generated. */
  suppressed: ReadonlySet<number>;
  /** Keep stepping every row to the length limit after stop tokens (a fixed amount of work, for benchmarks). */
  runAllSteps?: boolean;
  /**
   * Called after each step with each row's new token, null for a row that generated none (inside its
   * prompt, or ended).
   */
  onToken?: (tokens: Array<number | null>, step: number) => void | Promise<void>;
}

export interface SearchResult {
  /** Each row's generated tokens, without its prompt and stop token. */
  tokens: number[][];
  /** Each result's total log-probability under the model (its stop token included). */
  logProbs: number[];
}

/** What a search asks its driver for: a tensor's values (the driver disposes it), or to wait. */
export type SearchRequest = { read: tf.Tensor } | { wait: void | Promise<void> };
export type Search = Generator<SearchRequest, SearchResult, Float32Array | undefined>;

/** Runs a search to the end synchronously (`dataSync`). */
export function runSync(search: Search): SearchResult {
  let step = search.next();
  try {
    while (!step.done) {
      const request = step.value;
      if ('read' in request) {
        const data = request.read.dataSync() as Float32Array;
        request.read.dispose();
        step = search.next(data);
      } else {
        step = search.next(undefined);
      }
    }
    return step.value;
  } catch (error) {
    search.return(undefined as unknown as SearchResult);
    throw error;
  }
}

/** Runs a search to the end, reading with `data()` and awaiting callbacks. */
export async function runAsync(search: Search): Promise<SearchResult> {
  let step = search.next();
  try {
    while (!step.done) {
      const request = step.value;
      if ('read' in request) {
        const data = (await request.read.data()) as Float32Array;
        request.read.dispose();
        step = search.next(data);
      } else {
        await request.wait;
        step = search.next(undefined);
      }
    }
    return step.value;
  } catch (error) {
    search.return(undefined as unknown as SearchResult);
    throw error;
  }
}

/** Feeds the runner and reads each row's log-probabilities of the next token, (rows x V). */
function* advance(
  runner: StepRunner,
  tokens: Int32Array,
  n: number,
  index: number,
): Generator<SearchRequest, Float32Array, Float32Array | undefined> {
  const values = (yield { read: runner.advance(tokens, n, index) })!;
  return logProbabilities(values, runner.rows, runner.probabilities);
}

/** The shape of a generation: where rows start and where the last one ends. */
function extent(prompts: number[][], maxNewTokens: number) {
  const lengths = prompts.map((p) => p.length);
  const common = Math.min(...lengths);
  // Positions < end: each row's prompt, then up to maxNewTokens generated tokens.
  const end = Math.max(...lengths) + maxNewTokens;
  return { lengths, common, end };
}

/** The common prefix of every row (rows x common), row-major. */
function prefix(prompts: number[][], common: number): Int32Array {
  const tokens = new Int32Array(prompts.length * common);
  prompts.forEach((p, r) => tokens.set(p.slice(0, common), r * common));
  return tokens;
}

/**
 * One token per row and step, chosen by `choose(logProbs, row)` from the log-probabilities (V)
 * of the row's next token (greedy, random, top-k, top-p: src/decode/samplers.ts).
 */
export function* samplingSearch(
  runner: StepRunner,
  prompts: number[][],
  choose: (logProbs: Float32Array, row: number) => number,
  options: SearchOptions,
): Search {
  const rows = prompts.length;
  const { lengths, common, end } = extent(prompts, options.maxNewTokens);
  const tokens: number[][] = prompts.map(() => []);
  const logProbs = new Array<number>(rows).fill(0);
  const generated = new Array<number>(rows).fill(0);
  const ended = new Array<boolean>(rows).fill(false);
  const fed = new Int32Array(rows);
  let data = yield* advance(runner, prefix(prompts, common), common, 0);
  for (let index = common; index < end; index++) {
    const emitted: Array<number | null> = [];
    const vocabulary = data.length / rows;
    for (let r = 0; r < rows; r++) {
      if (index < lengths[r]) {
        fed[r] = prompts[r][index];
        emitted.push(null);
        continue;
      }
      if (ended[r]) {
        emitted.push(null);
        continue;
      }
      const row = data.subarray(r * vocabulary, (r + 1) * vocabulary);
      const token = choose(row, r);
      logProbs[r] += row[token];
      generated[r]++;
      if (options.stopTokenIds.has(token)) ended[r] = true;
      else tokens[r].push(token);
      if (generated[r] >= options.maxNewTokens) ended[r] = true;
      fed[r] = token;
      emitted.push(token);
    }
    if (options.onToken) yield { wait: options.onToken(emitted, index - common) };
    if (index === end - 1 || (ended.every(Boolean) && !options.runAllSteps)) break;
    data = yield* advance(runner, fed, 1, index);
  }
  return { tokens, logProbs };
}

interface Hypothesis {
  tokens: number[];
  logProb: number;
  /** Generated tokens so far, a stop token included. */
  generated: number;
  /** It ended with a stop token. */
  stopped: boolean;
  /** It takes no more tokens (stopped, or at maxNewTokens). */
  finished: boolean;
}

/**
 * Beam search over `runner`'s rows, `beamWidth` per prompt (row p * beamWidth + w), ranking
 * hypotheses by total log-probability (no length penalty). Finished ones (a stop token, or
 * maxNewTokens) stay in the beam with their score. The answer is the best hypothesis that
 * stopped (any, when none did); where `baseline` (a greedy result) scores higher, it is the
 * answer instead, so beam search never does worse than greedy decoding (plain beam search can
 * prune the greedy path). Ties go to the earlier beam, then the lower token id, so width 1 is
 * exactly greedy.
 */
export function* beamSearch(
  runner: StepRunner,
  prompts: number[][],
  beamWidth: number,
  options: SearchOptions,
  baseline: SearchResult | null,
): Search {
  const count = prompts.length;
  const rows = count * beamWidth;
  const expanded = prompts.flatMap((p) => Array.from({ length: beamWidth }, () => p));
  const { lengths, common, end } = extent(prompts, options.maxNewTokens);
  // Only the first beam of each prompt is live at the start.
  let beams: Hypothesis[] = Array.from({ length: rows }, (_x, r) => ({
    tokens: [],
    logProb: r % beamWidth === 0 ? 0 : -Infinity,
    generated: 0,
    stopped: false,
    finished: false,
  }));
  let fed = new Int32Array(rows);
  let data = yield* advance(runner, prefix(expanded, common), common, 0);
  for (let index = common; index < end; index++) {
    const vocabulary = data.length / rows;
    const next: Hypothesis[] = [];
    const parents = new Int32Array(rows);
    const nextFed = new Int32Array(rows);
    for (let p = 0; p < count; p++) {
      const candidates: Array<{ parent: number; token: number; logProb: number }> = [];
      for (let w = 0; w < beamWidth; w++) {
        const r = p * beamWidth + w;
        const h = beams[r];
        if (h.logProb === -Infinity) continue;
        if (index < lengths[p]) {
          // Inside the prompt: its own token, not scored.
          candidates.push({ parent: r, token: prompts[p][index], logProb: h.logProb });
        } else if (h.finished) {
          candidates.push({ parent: r, token: -1, logProb: h.logProb });
        } else {
          for (let v = 0; v < vocabulary; v++) {
            if (options.suppressed.has(v)) continue;
            candidates.push({ parent: r, token: v, logProb: h.logProb + data[r * vocabulary + v] });
          }
        }
      }
      // Stable: equal scores keep beam order, then token order.
      candidates.sort((x, y) => y.logProb - x.logProb);
      for (let w = 0; w < beamWidth; w++) {
        const r = p * beamWidth + w;
        const c = candidates[w];
        if (c == null) {
          next[r] = { tokens: [], logProb: -Infinity, generated: 0, stopped: false, finished: true };
          parents[r] = p * beamWidth;
          nextFed[r] = fed[p * beamWidth];
          continue;
        }
        const parent = beams[c.parent];
        parents[r] = c.parent;
        if (index < lengths[p] || c.token === -1) {
          next[r] = parent;
          nextFed[r] = c.token === -1 ? fed[c.parent] : c.token;
          continue;
        }
        const stopped = options.stopTokenIds.has(c.token);
        const generated = parent.generated + 1;
        next[r] = {
          tokens: stopped ? parent.tokens : [...parent.tokens, c.token],
          logProb: c.logProb,
          generated,
          stopped,
          finished: stopped || generated >= options.maxNewTokens,
        };
        nextFed[r] = c.token;
      }
    }
    runner.reorder(parents);
    beams = next;
    fed = nextFed;
    if (index === end - 1 || !beams.some((h) => h.logProb > -Infinity && !h.finished)) break;
    data = yield* advance(runner, fed, 1, index);
  }
  const result: SearchResult = { tokens: [], logProbs: [] };
  for (let p = 0; p < count; p++) {
    const mine = beams.slice(p * beamWidth, (p + 1) * beamWidth).filter((h) => h.logProb > -Infinity);
    const pool = mine.some((h) => h.stopped) ? mine.filter((h) => h.stopped) : mine;
    const best = pool.reduce((x, y) => (y.logProb > x.logProb ? y : x));
    const useBaseline = baseline != null && baseline.logProbs[p] > best.logProb;
    result.tokens.push(useBaseline ? baseline.tokens[p] : best.tokens);
    result.logProbs.push(useBaseline ? baseline.logProbs[p] : best.logProb);
  }
  if (options.onToken) {
    // A beam's tokens are final only at the end: they are streamed then, a position at a time.
    const longest = Math.max(0, ...result.tokens.map((t) => t.length));
    for (let step = 0; step < longest; step++) {
      yield {
        wait: options.onToken(
          result.tokens.map((t) => t[step] ?? null),
          step,
        ),
      };
    }
  }
  return result;
}
