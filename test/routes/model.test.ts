import t from 'tap';
import { makeApp } from '../fixtures/app.ts';

t.test('GET /model describes the checkpoint', async (t) => {
  const app = await makeApp(t);
  const m = (await app.inject('/model')).json();
  t.match(m, {
    name: 'tiny',
    dataset: 'mnist',
    image: { height: 28, width: 28, channels: 1 },
    latentDim: 784,
    levels: 2,
    depth: 2,
    hidden: 16,
    coupling: 'affine',
    priorMinSd: 0,
    nBits: 8,
    steps: 0,
    testBpd: null,
    batching: { maxBatch: 64, maxDelayMs: 5 },
  });
  t.ok(m.parameterCount > 1000);
  t.match(m.backend, /^(wasm|cpu|tensorflow)$/);
  t.equal(m.engine, 'onnx', 'GLOW_ENGINE=auto serves on ONNX Runtime when it loads');
  t.match(m.checkpoint, /^[0-9a-f]{16}$/);
});

t.test('GLOW_ENGINE=tfjs serves on TF.js, and says so', async (t) => {
  const app = await makeApp(t, { engine: 'tfjs' });
  t.equal((await app.inject('/model')).json().engine, 'tfjs');
  t.match((await app.inject('/metrics')).body, /glow_model_info\{[^}]*engine="tfjs"/);
});
