import t from 'tap';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { WEIGHTS_FILE } from '../../src/glow/checkpoint.ts';
import { decodeSafetensors, encodeSafetensors } from '../../src/glow/safetensors.ts';
import { decodePng, json, makeApp, tempDir, tinyModelDir } from '../fixtures/app.ts';

t.test('POST /decode', async (t) => {
  const app = await makeApp(t);
  const sample = (await app.inject({ url: '/sample?n=3&seed=5', headers: { accept: 'application/json' } })).json();

  t.test('the latents of /sample decode to the same images', async (t) => {
    const res = await app.inject({ method: 'POST', url: '/decode?format=json', ...json({ latents: sample.latents }) });
    t.equal(res.statusCode, 200);
    t.same(res.json().images, sample.images);
  });

  t.test('PNG by default: one image, or a grid for several', async (t) => {
    const one = await app.inject({ method: 'POST', url: '/decode', ...json({ latents: [sample.latents[0]] }) });
    t.equal(one.headers['content-type'], 'image/png');
    t.same((await decodePng(one.rawPayload)).width, 28);
    const grid = await app.inject({ method: 'POST', url: '/decode', ...json({ latents: sample.latents }) });
    const g = await decodePng(grid.rawPayload);
    t.same([g.width, g.height], [2 * 28 + 3 * 2, 2 * 28 + 3 * 2]);
    t.equal(grid.headers['x-image-count'], '3');
  });

  t.test('bad latents are 400 and name the problem', async (t) => {
    const good = sample.latents[0] as number[];
    const cases: [string, string, RegExp][] = [
      ['wrong length', JSON.stringify({ latents: [good.slice(1)] }), /has 783 values; this model's latents have 784/],
      [
        '1e309 (Infinity)',
        JSON.stringify({ latents: [good.slice(1)] }).replace('[[', '[[1e309,'),
        /latents\[0\]\[0\] is not a finite number/,
      ],
      ['null inside', JSON.stringify({ latents: [[null, ...good.slice(1)]] }), /must be number/],
      ['string inside', JSON.stringify({ latents: [['0.5', ...good.slice(1)]] }), /must be number/],
      ['not an array', JSON.stringify({ latents: 'abc' }), /must be array/],
      ['no latents', JSON.stringify({ latents: [] }), /fewer than 1/],
      ['missing field', JSON.stringify({ z: [good] }), /must have required property 'latents'/],
      ['too many', JSON.stringify({ latents: Array.from({ length: 65 }, () => good) }), /more than 64/],
      ['nested 10,000 deep', JSON.stringify({ latents: [] }).replace('[]', '['.repeat(10_000) + ']'.repeat(10_000)), /must be number/],
      ['NaN literal (not JSON)', '{"latents": [[NaN]]}', /JSON/],
    ];
    for (const [name, payload, message] of cases) {
      const res = await app.inject({ method: 'POST', url: '/decode', payload, headers: { 'content-type': 'application/json' } });
      t.equal(res.statusCode, 400, name);
      t.match(res.json().message, message, `${name}: ${res.json().message}`);
    }
  });

  t.test('non-JSON bodies are 415, oversized bodies 413', async (t) => {
    const png = await app.inject({
      method: 'POST',
      url: '/decode',
      payload: Buffer.from([1, 2, 3]),
      headers: { 'content-type': 'image/png' },
    });
    t.equal(png.statusCode, 415);
    t.match(png.json().message, /application\/json/);
    const huge = await app.inject({
      method: 'POST',
      url: '/decode',
      payload: `{"latents":[[${'0,'.repeat(6 * 1024 * 1024)}0]]}`,
      headers: { 'content-type': 'application/json' },
    });
    t.equal(huge.statusCode, 413);
    t.equal((await app.inject('/healthz')).statusCode, 200);
  });
});

t.test('POST /decode with raw little-endian float32 latents', async (t) => {
  const app = await makeApp(t);
  const sample = (await app.inject({ url: '/sample?n=2&seed=8', headers: { accept: 'application/json' } })).json();
  const raw = Buffer.from(Float32Array.from(sample.latents.flat() as number[]).buffer);
  const res = await app.inject({
    method: 'POST',
    url: '/decode?format=json',
    payload: raw,
    headers: { 'content-type': 'application/octet-stream' },
  });
  t.equal(res.statusCode, 200);
  t.same(res.json().images, sample.images);
  const short = await app.inject({
    method: 'POST',
    url: '/decode',
    payload: raw.subarray(0, 100),
    headers: { 'content-type': 'application/octet-stream' },
  });
  t.equal(short.statusCode, 400);
  t.match(short.json().message, /not a multiple of 3136/);
  const inf = Buffer.from(raw);
  inf.writeFloatLE(Infinity, 8);
  const bad = await app.inject({ method: 'POST', url: '/decode', payload: inf, headers: { 'content-type': 'application/octet-stream' } });
  t.equal(bad.statusCode, 400);
  t.match(bad.json().message, /latent 0 value 2 is not finite/);
});

t.test(
  'an image the reverse leaves NaN or ±Inf is still answered, with its count in x-non-finite-values / nonFinite and in /metrics',
  async (t) => {
    // The tiny model with a gain of e³ in its last reverse step (the first actnorm): a latent of 3e38
    // decodes beyond float32's range even in float64, where such a latent is decoded.
    const modelDir = tempDir(t, 'glow-serve-model-');
    cpSync(await tinyModelDir(), modelDir, { recursive: true });
    const file = path.join(modelDir, WEIGHTS_FILE);
    const { tensors, metadata } = decodeSafetensors(readFileSync(file));
    tensors.get('levels.0.steps.0.actnorm.log_scale')!.data.fill(-3);
    writeFileSync(file, encodeSafetensors(tensors, metadata));
    const app = await makeApp(t, { modelDir });
    const sample = (await app.inject({ url: '/sample?n=2&seed=3', headers: { accept: 'application/json' } })).json();
    t.same(sample.nonFinite, [0, 0], 'sound samples say 0');
    const far = new Array(784).fill(3e38); // finite float32, far beyond anything the prior gives
    const png = await app.inject({ method: 'POST', url: '/decode', ...json({ latents: [sample.latents[0], far] }) });
    t.equal(png.statusCode, 200);
    const [sound, bad] = String(png.headers['x-non-finite-values']).split(',').map(Number);
    t.equal(sound, 0);
    t.ok(bad > 0 && bad <= 784, `the far latent's image has ${bad} non-finite values`);
    const res = await app.inject({ method: 'POST', url: '/decode?format=json', ...json({ latents: [far, sample.latents[1]] }) });
    t.same(res.json().nonFinite, [bad, 0]);
    t.equal(res.json().images[1], sample.images[1], 'the sound image in the same batch is untouched');
    const metrics = (await app.inject('/metrics')).body;
    t.match(metrics, /glow_nonfinite_images_total\{model="[^"]+",operation="decode"\} 2\b/);
    t.notMatch(metrics, /glow_nonfinite_images_total\{[^}]*operation="sample"/);
  },
);
