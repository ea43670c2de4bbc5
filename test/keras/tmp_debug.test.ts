import * as tf from '@tensorflow/tfjs';
import { startStaticServer } from '../../src/io/static_server';
import { convertModelJsonTopology } from '../../src/keras/load';
it('debug', async () => {
  const s = await startStaticServer({ mounts: [{ prefix: '/k/', dir: 'test/fixtures/keras' }] }, 0);
  const url = `${s.url}k/k3_nodes/model.json`;
  const a = await tf.io.http(url).load();
  const t = a.modelTopology as any;
  console.log(Object.keys(t), JSON.stringify(t.model_config.config.layers[2].inbound_nodes).slice(0, 200));
  const c = convertModelJsonTopology(t, 'x') as any;
  console.log(JSON.stringify(c.model_config.config.layers[2].inbound_nodes).slice(0, 200));
  await s.close();
});
