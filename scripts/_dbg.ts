import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend';
import { decode } from '../src/decode/decode';
import { createTransformer } from '../src/model/transformer';
import { presetConfig } from '../src/model/config';
import { createTask, generateSamples } from '../src/tasks';
(async () => {
  await initBackend('wasm', { quiet: true } as any);
  const task = createTask('reverse');
  const model = createTransformer(presetConfig('reference', task));
  const sources = generateSamples(task, 1, 7).map((s) => s.source);
  for (const m of [2, 6]) {
    let n = 0; const names: string[] = []; const orig = tf.engine().runKernel.bind(tf.engine());
    (tf.engine() as any).runKernel = (...a: any[]) => { n++; names.push(a[0]); return (orig as any)(...a); };
    const r = decode(model, sources, { maxLength: m, ignoreEos: true });
    (tf.engine() as any).runKernel = orig;
    console.log(m, JSON.stringify(r), 'runKernel calls', n); if (m === 6) { const c: Record<string, number> = {}; for (const k of names) c[k] = (c[k] ?? 0) + 1; console.log(Object.entries(c).sort((x, y) => y[1] - x[1]).map(([k, v]) => `${k} ${v}`).join(', ')); console.log(names.slice(names.length - 138 - 20, names.length - 20).join(' ')); }
  }
})();
