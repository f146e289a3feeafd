import path from 'node:path';
import t from 'tap';
import { loadConfig } from '../../src/server/config.ts';

t.test('defaults match the documented ones', async (t) => {
  const c = loadConfig({});
  t.match(c, { port: 8080, host: '0.0.0.0', maxBatch: 64, maxDelayMs: 5, bodyLimit: 10 * 1024 * 1024, backend: 'auto' });
  t.equal(c.modelDir, undefined);
  t.same(
    c.models[0],
    { name: 'mnist', dir: path.resolve('models/mnist') },
    'every checkpoint in models/, the shipped MNIST one first (the default)',
  );
  t.equal(c.dataDir, path.resolve('data'));
});

t.test('environment overrides, and bad values fail at start-up', async (t) => {
  const c = loadConfig({
    PORT: '9000',
    GLOW_MAX_BATCH: '1',
    GLOW_MAX_DELAY_MS: '0.5',
    GLOW_MAX_QUEUE: '10',
    GLOW_BACKEND: 'cpu',
    GLOW_MODEL_DIR: '/m',
  });
  t.match(c, { port: 9000, maxBatch: 1, maxDelayMs: 0.5, maxQueue: 10, backend: 'cpu', modelDir: '/m' });
  t.throws(() => loadConfig({ GLOW_MAX_BATCH: '0' }), /GLOW_MAX_BATCH/);
  t.throws(() => loadConfig({ GLOW_MAX_BATCH: '2.5' }), /integer/);
  t.throws(() => loadConfig({ PORT: 'http' }), /PORT/);
  t.throws(() => loadConfig({ GLOW_BACKEND: 'gpu' }), /GLOW_BACKEND/);
});

t.test('GLOW_ENGINE and GLOW_ONNX_THREADS: auto and 2 by default, checked at start-up', async (t) => {
  t.match(loadConfig({}), { engine: 'auto', onnxThreads: 2 });
  t.match(loadConfig({ GLOW_ENGINE: 'tfjs', GLOW_ONNX_THREADS: '1' }), { engine: 'tfjs', onnxThreads: 1 });
  t.throws(() => loadConfig({ GLOW_ENGINE: 'pytorch' }), /GLOW_ENGINE must be auto, onnx, tfjs, not "pytorch"/);
  t.throws(() => loadConfig({ GLOW_ONNX_THREADS: '0' }), /GLOW_ONNX_THREADS/);
});
