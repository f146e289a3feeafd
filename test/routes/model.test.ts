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
    minScale: 0,
    priorBounds: null,
    nBits: 8,
    steps: 0,
    testBpd: null,
    batching: { maxBatch: 64, maxDelayMs: 5 },
  });
  t.ok(m.parameterCount > 1000);
  t.match(m.backend, /^(wasm|cpu|tensorflow)$/);
  t.match(m.checkpoint, /^[0-9a-f]{16}$/);
});
