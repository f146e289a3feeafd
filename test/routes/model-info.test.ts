import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import sharp from 'sharp';
import { buildApp } from '../../src/server/app.ts';
import { makeApp, tempDir, tinyModelDir } from '../fixtures/app.ts';

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
  t.equal(m.engine, 'onnx', 'GLOW_ENGINE=auto serves on ONNX Runtime when it loads');
  t.match(m.checkpoint, /^[0-9a-f]{16}$/);
});

t.test('GLOW_ENGINE=tfjs serves on TF.js, and says so', async (t) => {
  const app = await makeApp(t, { engine: 'tfjs' });
  t.equal((await app.inject('/model')).json().engine, 'tfjs');
  t.match((await app.inject('/metrics')).body, /glow_model_info\{[^}]*engine="tfjs"/);
});

t.test("the model's fit step: its dataset's by default, the manifest's when it names one", async (t) => {
  const app = await makeApp(t);
  t.same((await app.inject('/model')).json().fit, { method: 'digit', box: 20 }, 'mnist without "fit" in the manifest: a digit fit');

  const modelDir = path.join(tempDir(t, 'glow-serve-model-copy-'), 'tiny');
  cpSync(await tinyModelDir(), modelDir, { recursive: true });
  const manifestFile = path.join(modelDir, 'manifest.json');
  const manifest = JSON.parse(readFileSync(manifestFile, 'utf8'));
  writeFileSync(manifestFile, JSON.stringify({ ...manifest, fit: { method: 'centre-crop' } }));
  const cropping = await makeApp(t, { modelDir });
  t.same((await cropping.inject('/model')).json().fit, { method: 'centre-crop' });
  // 56×28: the centred 28×28 square is kept, whatever is in it.
  const wide = await sharp({ create: { width: 56, height: 28, channels: 3, background: '#ffffff' } })
    .png()
    .toBuffer();
  const item = (
    await cropping.inject({ method: 'POST', url: '/encode?fit=true', payload: wide, headers: { 'content-type': 'image/png' } })
  ).json().items[0];
  t.same(
    { ...item.fitted, image: undefined },
    { inverted: false, box: { left: 14, top: 0, width: 28, height: 28 }, scale: 1, shift: { x: 0, y: 0 }, image: undefined },
  );

  writeFileSync(manifestFile, JSON.stringify({ ...manifest, fit: { method: 'sharpen' } }));
  const broken = await buildApp({ config: { modelDir, dataDir: tempDir(t) }, waitForModel: false });
  t.teardown(() => broken.close());
  await broken.models.get().ready.catch(() => {});
  const res = await broken.inject('/model');
  t.equal(res.statusCode, 503);
  t.match(res.json().message, /manifest "fit" is invalid/);
});
