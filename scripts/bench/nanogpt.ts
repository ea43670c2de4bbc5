/**
 * The JavaScript peer of `generate-gpt` (scripts/bench/generate_gpt.ts): @genai-fi/nanogpt's GPT,
 * generating with its own key/value cache through its public API (`TeachableLLM.create`, then
 * `responses.create`, which runs its `Generator`), on the current tfjs backend, in this process.
 * Node only: the browser bench's page does not bundle it.
 *
 * Model: `GenAI_NanoGPT_v1` with rotary positions at generate-gpt's sizes (4 blocks, width 128, 4
 * heads, feed-forward 4 x 128 with tanh gelu, 65 tokens, 128 positions): the same shapes as ours,
 * not the same layers (RMSNorm, no biases, the output tied to the token embedding). Its learned
 * position embedding (`useRope: false`, like ours) is not an option here: its Generator keeps no
 * cache for that model and reruns it on 128 padded positions every step. The prompt is its
 * begin-of-text token and 7 characters (8 tokens), then 120 tokens; `allowSpecial` so that no
 * token ends it early. Greedy: it has no greedy option and `topK: 1` throws (its multinomial needs
 * two outcomes), so `topP: 1e-9`, which keeps only the most likely token.
 *
 * What stands between nanogpt 1.3.0 and tfjs's wasm backend in Node, each bridged here only:
 * - It is a browser build (Vite) with its own copy of tfjs-core, whose Node `util` import became
 *   an empty module; importing it in Node throws "this.util.TextEncoder is not a constructor"
 *   (the copy sees IS_NODE and builds its Node platform). The copy shares the engine and the
 *   environment with ours (tfjs keeps them on globalThis), so IS_NODE is off while it loads.
 * - Its own kernels (RMSNorm, QKV, Rope, AppendCache, AttentionMask, MatMulGelu, ...) are
 *   registered for cpu, tensorflow, webgl and webgpu, not wasm ("Kernel 'RMSNorm' not registered
 *   for backend 'wasm'"); `TeachableLLM.selectBackend` offers cpu, webgl and webgpu. Its cpu
 *   kernels are compositions of tfjs ops (it registers the same functions for tensorflow), so
 *   they are registered for wasm too.
 * - Its cpu AttentionMask ignores `pastLen`: a cached step's query gets the mask of position 0
 *   and attends to the first key only (its webgl kernel masks key > query + pastLen). Its cached
 *   tokens then differ from its uncached ones; the same ops with the mask's row at `pastLen`
 *   replace it on cpu and wasm, so the peer does the work it means to, at the same cost.
 * Importing it also registers its copies of tfjs's gradients and cpu kernels over the ones in
 * place; the Tile gradient in place before (`initBackend` installs a faster one) is put back.
 */
import type { IGeneratorOutput } from '@genai-fi/nanogpt';
import * as tf from '@tensorflow/tfjs';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

import { GENERATE_GPT, type GenerationPeer } from './generate_gpt';
import { GPT_CHAR } from './gpt_char';

type Nanogpt = typeof import('@genai-fi/nanogpt');
type TeachableLLM = InstanceType<Nanogpt['TeachableLLM']>;

const PACKAGE = '@genai-fi/nanogpt';

/** 7 characters of its fallback character vocabulary (10 special tokens, then ' ' to 'V'). */
const PROMPT_TEXT = 'ABCDEFG';

/**
 * `import()` as Node runs it: the scripts compile to CommonJS, where TypeScript would turn it
 * into `require()`, and nanogpt is an ES module only.
 */
const importModule = new Function('id', 'return import(id)') as (id: string) => Promise<unknown>;

/** Loads nanogpt and registers what it lacks on the current backend (see the file comment). */
async function importNanogpt(): Promise<Nanogpt> {
  const backend = tf.getBackend();
  const cpuKernels = new Set(tf.getKernelsForBackend('cpu').map((k) => k.kernelName));
  const tileGradient = tf.getGradient(tf.Tile);
  const isNode = tf.env().getBool('IS_NODE');
  const warn = console.warn;
  // Its copies of tfjs's kernels and gradients warn once each (~340 lines) that one is registered.
  console.warn = () => undefined;
  tf.env().set('IS_NODE', false);
  let nanogpt: Nanogpt;
  try {
    nanogpt = (await importModule(PACKAGE)) as Nanogpt;
  } finally {
    tf.env().set('IS_NODE', isNode);
    console.warn = warn;
  }
  if (tileGradient != null) tf.registerGradient(tileGradient);
  for (const config of tf.getKernelsForBackend('cpu')) {
    if (!cpuKernels.has(config.kernelName) && tf.getKernel(config.kernelName, backend) === undefined)
      tf.registerKernel({ ...config, backendName: backend });
  }
  if (backend === 'cpu' || backend === 'wasm') {
    tf.unregisterKernel('AttentionMask', backend);
    tf.registerKernel({ kernelName: 'AttentionMask', backendName: backend, kernelFunc: attentionMask });
  }
  return nanogpt;
}

/**
 * nanogpt's cpu AttentionMask (lib/ops/cpu/attentionMask.ts) with the mask's rows from `pastLen`:
 * scores q k^T * divisor (B, H, T, S), -Infinity where key > query + pastLen.
 */
function attentionMask(args: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const { q, k } = args.inputs as { q: tf.Tensor4D; k: tf.Tensor4D };
  const { divisor, pastLen } = args.attrs as { divisor: number; pastLen?: number };
  return tf.tidy(() => {
    const [t, s] = [q.shape[2], k.shape[2]];
    const causal = tf.linalg.bandPart(tf.ones([s, s]), -1, 0).cast('bool');
    const mask = tf.where(causal, tf.zeros([s, s]), tf.fill([s, s], -Infinity)); // (S, S)
    const scores = tf.mul(tf.matMul(q, k, false, true), tf.scalar(divisor)); // (B, H, T, S)
    return tf.add(
      scores,
      mask
        .slice([pastLen ?? 0, 0], [t, s])
        .expandDims(0)
        .expandDims(0),
    );
  });
}

/** nanogpt's generation of GENERATE_GPT's tokens; greedy; the new token ids, checked to be all of them. */
async function generateTokens(llm: TeachableLLM, useCache: boolean): Promise<number[]> {
  const response = await llm.responses.create({
    input: PROMPT_TEXT,
    maxLength: GENERATE_GPT.newTokens,
    topP: 1e-9,
    nonConversational: true,
    allowSpecial: true,
    noCache: !useCache,
  });
  const output: IGeneratorOutput[] = response.output?.[response.output.length - 1]._output ?? [];
  if (output.length !== GENERATE_GPT.newTokens)
    throw new Error(`${PACKAGE} generated ${output.length} tokens, expected ${GENERATE_GPT.newTokens}`);
  return output.map((o) => o.token);
}

/**
 * nanogpt's GPT at generate-gpt's sizes as a `GenerationPeer`, after checking that its cached
 * generation is a real cache (the model runs the 8 prompt tokens once, then one token a step) and
 * gives its uncached generation's tokens. Dispose it when done.
 */
export async function nanogptPeer(): Promise<GenerationPeer & { dispose(): void }> {
  const { vocabulary, length, width, heads, layers, ff } = GPT_CHAR;
  const { TeachableLLM } = await importNanogpt();
  const config = {
    modelType: 'GenAI_NanoGPT_v1',
    useRope: true,
    vocabSize: vocabulary,
    blockSize: length,
    nLayer: layers,
    nHead: heads,
    nEmbed: width,
    mlpFactor: ff / width,
  } as const;
  const llm = TeachableLLM.create('char', config);
  try {
    // Its warm-up (a forward and a training pass) runs in the background; then 'awaitingTokens',
    // as the character tokenizer is untrained (its Generator falls back to a fixed vocabulary).
    while (llm.status === 'warmup') await new Promise((resolve) => setTimeout(resolve, 10));
    if (llm.status === 'error') throw new Error(`${PACKAGE}'s model failed its warm-up on ${tf.getBackend()}`);

    const forward = llm.model.forward.bind(llm.model);
    const lengths: number[] = [];
    llm.model.forward = (attributes, x) => {
      lengths.push(Number(x.shape[1]));
      return forward(attributes, x);
    };
    const cached = await generateTokens(llm, true);
    llm.model.forward = forward;
    const steps = [GENERATE_GPT.prompt, ...Array<number>(GENERATE_GPT.newTokens - 1).fill(1)];
    if (lengths.join() !== steps.join())
      throw new Error(`${PACKAGE}'s cached generation ran the model on ${lengths.join()} tokens, expected ${steps}`);
    const uncached = await generateTokens(llm, false);
    if (cached.join() !== uncached.join())
      throw new Error(`${PACKAGE}'s cached tokens ${cached} differ from its uncached ones ${uncached}`);
  } catch (error) {
    llm.dispose();
    throw error;
  }
  return {
    info: {
      name: PACKAGE,
      version: packageVersion(),
      model: `${config.modelType}, rotary positions, RMSNorm, tied output`,
      sampler: 'topP 1e-9',
      cacheChecked: true,
    },
    generate: () => generateTokens(llm, true).then(() => undefined),
    dispose: () => llm.dispose(),
  };
}

/** The installed version, from its package.json (which its `exports` do not list). */
function packageVersion(): string {
  const main = require.resolve(PACKAGE);
  const file = join(dirname(main), '..', 'package.json');
  return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
}
