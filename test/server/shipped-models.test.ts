// `npm start` on a fresh clone: the real entry point with no model settings serves every checkpoint
// committed in models/, each with its built-in attributes (which must match the weights: a
// checkpoint retrained without re-running its attributes script fails here), MNIST the default.
import { readdirSync, existsSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import t from 'tap';
import { noiseImages } from '../../src/eval/robustness.ts';
import { encodeRawPng } from '../../src/images/png.ts';
import { decodePng, mnistPng, tempDir } from '../fixtures/app.ts';
import { killHard, startServer } from '../fixtures/server-process.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const shipped = readdirSync(path.join(ROOT, 'models')).filter((d) => existsSync(path.join(ROOT, 'models', d, 'manifest.json')));

t.test('the shipped models, served together', async (t) => {
  t.ok(shipped.includes('mnist'), 'models/mnist is shipped');
  const server = await startServer(
    { GLOW_DATA_DIR: tempDir(t), DATABASE_URL: '', GLOW_MODELS: '', GLOW_MODEL_DIR: '', GLOW_MODELS_DIR: '' },
    { timeoutMs: 180_000 },
  );
  t.teardown(() => killHard(server));
  const get = async (url: string) => (await fetch(`${server.base}${url}`)).json();

  const list = await get('/models');
  t.equal(list.default, 'mnist');
  t.same(list.models.map((m: { model: string }) => m.model).sort(), [...shipped].sort(), 'every checkpoint in models/');
  for (const m of list.models) {
    t.equal(m.state, 'ready', `${m.model} ready`);
    t.ok(m.testBpd > 0, `${m.model}: test bpd ${m.testBpd} in its manifest`);
    const png = await fetch(`${server.base}/sample?model=${m.model}&t=0.7&seed=3`);
    t.equal(png.status, 200);
    const meta = await sharp(Buffer.from(await png.arrayBuffer())).metadata();
    t.same(
      [meta.width, meta.height, meta.channels === 1 ? 1 : 3],
      [m.image.width, m.image.height, m.image.channels],
      `${m.model}: a sample of the model's size`,
    );
    const attributes = (await get(`/attributes?model=${m.model}`)).attributes.filter((a: { source: string }) => a.source === 'builtin');
    t.ok(attributes.length > 0, `${m.model}: ${attributes.length} built-in attributes, made for these weights`);
  }

  // A uniform-noise image is as far from the digits as an upload gets: its latent leaves [−5, 5], where
  // the server checks the float32 round trip and falls back to the precise path (docs/stability.md).
  // It must come back exactly, through ?verify=true and through its JSON latent sent to /decode.
  const noisePng = await encodeRawPng(noiseImages({ height: 28, width: 28, channels: 1 }, 1, 5).pixels, 28, 28, 1);
  const images = [(await mnistPng(0)).toString('base64'), noisePng.toString('base64')];
  const post = (url: string, body: unknown) =>
    fetch(`${server.base}${url}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const [digit, noise] = (await (await post('/encode?verify=true', { images })).json()).items;
  const exact = { exact: true, maxError: 0, wrongValues: 0, nonFinite: 0 };
  t.same(digit.roundTrip, exact, 'test digit 0 decodes back exactly');
  t.ok(
    Number.isFinite(noise.bpd) && (noise.latent as number[]).some((v) => Math.abs(v) > 5),
    `noise: bpd ${noise.bpd}, a latent out of [−5, 5]`,
  );
  t.same(noise.roundTrip, exact, 'the noise image decodes back exactly too');
  const decoded = await post('/decode', { latents: [noise.latent] });
  t.equal(decoded.status, 200);
  t.equal(decoded.headers.get('x-non-finite-values'), '0', 'x-non-finite-values: 0');
  t.same(
    (await decodePng(Buffer.from(await decoded.arrayBuffer()))).pixels,
    (await decodePng(noisePng)).pixels,
    'its JSON latent, sent to /decode, gives back its very pixels',
  );
  server.child.kill('SIGTERM');
  t.equal((await server.exited).code, 0);
});
