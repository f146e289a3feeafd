// Every endpoint × every kind of bad input from the reliability issue, as one table. Each case
// must get its specific 4xx with a message saying what was wrong, in the usual JSON error shape,
// without leaking internals; afterwards the server still answers, nothing is queued, no request
// got a 5xx, and the inference worker holds exactly as many tensors as before.
import net from 'node:net';
import t from 'tap';
import sharp from 'sharp';
import type { FastifyInstance } from 'fastify';
import { makeApp, mnistPng, multipart, type Part } from '../fixtures/app.ts';
import { png16, pngHeaderOnly } from '../fixtures/images.ts';
import { mnistImage } from '../fixtures/mnist.ts';
import { parseMetrics } from '../../scripts/lib/traffic.ts';

interface Req {
  method?: 'GET' | 'POST' | 'DELETE';
  url: string;
  payload?: string | Buffer;
  headers?: Record<string, string>;
}
interface Case {
  name: string;
  req: Req;
  status: number;
  message: RegExp;
}

const D = 784; // the tiny checkpoint's latent length
const zeros = (n: number) => new Array(n).fill('0').join(',');
const ZERO = `[${zeros(D)}]`;
const b64 = (b: Buffer) => b.toString('base64');

function jsonReq(url: string, body: string | object): Req {
  return {
    method: 'POST',
    url,
    payload: typeof body === 'string' ? body : JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
  };
}
async function formReq(url: string, parts: Part[]): Promise<Req> {
  const { payload, headers } = await multipart(parts);
  return { method: 'POST', url, payload, headers };
}
/** One sample's value, summed over models; `labels` without the model label, e.g. '{operation="encode"}'. */
function metric(text: string, name: string, labels = ''): number {
  return parseMetrics(text).get(`${name}${labels}`) ?? NaN;
}
async function scrape(app: FastifyInstance): Promise<string> {
  return (await app.inject('/metrics')).payload;
}

/** A fixed pseudo-random byte string (no image format starts like this). */
function noise(n: number): Buffer {
  const out = Buffer.alloc(n);
  let x = 12345;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

async function badImages(png0: Buffer) {
  const frames = Buffer.alloc(28 * 56 * 3, 40);
  frames.fill(220, 0, 28 * 28 * 3); // two different frames (identical ones may be merged into one)
  const animated = (f: 'gif' | 'tiff' | 'webp') => {
    const image = sharp(frames, { raw: { width: 28, height: 56, channels: 3, pageHeight: 28 } as { width: 28; height: 56; channels: 3 } });
    return image[f]({ delay: [100, 100], loop: 0 } as object).toBuffer();
  };
  const bigger = await sharp(Buffer.from(mnistImage(5)), { raw: { width: 28, height: 28, channels: 1 } })
    .resize(280, 280)
    .png({ compressionLevel: 0 })
    .toBuffer();
  return [
    {
      kind: 'random bytes labelled as an image',
      bytes: noise(4096),
      status: 415,
      message: /is not a readable image .*send PNG, JPEG or WebP/,
    },
    {
      kind: 'truncated PNG',
      bytes: bigger.subarray(0, bigger.length >> 1),
      status: 400,
      message: /could not be decoded: it is corrupt or truncated/,
    },
    {
      kind: 'PNG header claiming 50,000×50,000',
      bytes: pngHeaderOnly(50_000, 50_000),
      status: 413,
      message: /50000×50000 = 2500000000 pixels; the limit is 16777216 pixels/,
    },
    { kind: 'animated GIF', bytes: await animated('gif'), status: 415, message: /is gif, which is not accepted/ },
    { kind: 'multi-page TIFF', bytes: await animated('tiff'), status: 415, message: /is tiff, which is not accepted/ },
    {
      kind: 'animated WebP',
      bytes: await animated('webp'),
      status: 400,
      message: /is animated or multi-page \(2 frames\); send a single still image/,
    },
    { kind: '0-byte image', bytes: Buffer.alloc(0), status: 400, message: /is empty \(0 bytes\)|must NOT have fewer than 1 characters/ },
    { kind: 'PNG of 0×0 pixels', bytes: pngHeaderOnly(0, 0), status: 400, message: /is 0×0: it has no pixels/ },
    { kind: 'PNG of 28×0 pixels', bytes: pngHeaderOnly(28, 0), status: 400, message: /is 28×0: it has no pixels/ },
    // Within the pixel count (16,777,216), over the side limit: refused from the header too.
    {
      kind: 'PNG of 16,777,216 × 1 pixels',
      bytes: pngHeaderOnly(16_777_216, 1),
      status: 413,
      message: /is 16777216×1; the limit is 8192 pixels on either side/,
    },
    {
      kind: 'PNG of 1 × 8193 pixels',
      bytes: pngHeaderOnly(1, 8193),
      status: 413,
      message: /is 1×8193; the limit is 8192 pixels on either side/,
    },
    // SVG never reaches an XML parser: no parser text, no entity resolution.
    {
      kind: 'SVG with an external entity',
      bytes: Buffer.from(
        '<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><svg xmlns="http://www.w3.org/2000/svg" width="28" height="28">&xxe;</svg>',
      ),
      status: 415,
      message: /is text \(SVG, XML or HTML\), which is not accepted; send PNG, JPEG or WebP/,
    },
    {
      kind: 'SVG after a BOM and blank lines',
      bytes: Buffer.from('\ufeff\n\n  <svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>'),
      status: 415,
      message: /is text \(SVG, XML or HTML\)/,
    },
    {
      kind: 'GIF signature and nothing else',
      bytes: Buffer.from('GIF89a but not really'),
      status: 415,
      message: /is not a readable image \(unknown format, or a damaged header\); send PNG, JPEG or WebP/,
    },
  ].map((c) => ({ ...c, png0 }));
}

t.test('bad input: a specific 4xx for every endpoint × input, and the server is unharmed', async (t) => {
  const app = await makeApp(t);
  const png0 = await mnistPng(0);
  const good = b64(png0);

  // An attribute for the /manipulate cases (from latents: no model work).
  const made = await app.inject(
    jsonReq('/attributes', `{"name":"thick","positive":[${ZERO}],"negative":[[${new Array(D).fill('0.1').join(',')}]]}`),
  );
  t.equal(made.statusCode, 201, 'fixture attribute');
  // Warm every operation once, then take the baseline.
  t.equal((await app.inject('/sample?n=2&seed=1')).statusCode, 200);
  t.equal((await app.inject({ method: 'POST', url: '/encode', payload: png0, headers: { 'content-type': 'image/png' } })).statusCode, 200);
  const before = await scrape(app);
  const tensorsBefore = metric(before, 'glow_worker_tensors');
  t.ok(tensorsBefore > 0, `worker holds ${tensorsBefore} tensors (the weights)`);

  const cases: Case[] = [];
  const add = (name: string, req: Req, status: number, message: RegExp) => cases.push({ name, req, status, message });

  // ---------------------------------------------------------------- images, every way each endpoint takes one
  for (const img of await badImages(png0)) {
    const { kind, bytes, status, message } = img;
    add(
      `/encode raw: ${kind}`,
      { method: 'POST', url: '/encode', payload: bytes, headers: { 'content-type': 'image/png' } },
      status,
      message,
    );
    add(
      `/encode raw as image/jpeg: ${kind}`,
      { method: 'POST', url: '/encode', payload: bytes, headers: { 'content-type': 'image/jpeg' } },
      status,
      message,
    );
    add(`/encode multipart: ${kind}`, await formReq('/encode', [['image', { data: bytes }]]), status, message);
    add(`/encode JSON: ${kind}`, jsonReq('/encode', { images: [b64(bytes)] }), status, message);
    add(
      `/interpolate multipart: ${kind}`,
      await formReq('/interpolate', [
        ['from', { data: bytes }],
        ['to', { data: png0 }],
      ]),
      status,
      message,
    );
    add(`/interpolate JSON: ${kind}`, jsonReq('/interpolate', { from: { image: b64(bytes) }, to: { image: good } }), status, message);
    add(
      `/manipulate multipart: ${kind}`,
      await formReq('/manipulate', [
        ['image', { data: bytes }],
        ['attribute', 'thick'],
        ['alpha', '1'],
      ]),
      status,
      message,
    );
    add(
      `/manipulate JSON: ${kind}`,
      jsonReq('/manipulate', { image: b64(bytes), edits: [{ attribute: 'thick', alpha: 1 }] }),
      status,
      message,
    );
    add(
      `/attributes multipart: ${kind}`,
      await formReq('/attributes', [
        ['name', 'bad-image'],
        ['positive', { data: bytes }],
        ['negative', { data: png0 }],
      ]),
      status,
      message,
    );
    add(
      `/attributes JSON: ${kind}`,
      jsonReq('/attributes', { name: 'bad-image', positive: [good, b64(bytes)], negative: [good] }),
      status,
      message,
    );
  }
  add('/encode JSON: not base64 at all', jsonReq('/encode', { images: ['%%% not base64 %%%'] }), 400, /images\[0\] is not valid base64/);

  // ---------------------------------------------------------------- JSON latents, every endpoint that takes one
  const latentBodies: Record<string, (l: string) => string> = {
    '/decode': (l) => `{"latents":[${l}]}`,
    '/interpolate': (l) => `{"from":{"latent":${l}},"to":{"latent":${ZERO}}}`,
    '/manipulate': (l) => `{"latent":${l},"edits":[{"attribute":"thick","alpha":1}]}`,
    '/attributes': (l) => `{"name":"bad-latent","positive":[${l}],"negative":[${ZERO}]}`,
  };
  const deep = '['.repeat(10_000) + ']'.repeat(10_000);
  const latents: [string, string, number, RegExp][] = [
    ['latent of 3 values', `[${zeros(3)}]`, 400, /has 3 values; this model's latents have 784/],
    ['latent of 785 values', `[${zeros(D + 1)}]`, 400, /has 785 values; this model's latents have 784/],
    ['empty latent', '[]', 400, /must NOT have fewer than 1 items/],
    ['NaN inside', `[NaN,${zeros(D - 1)}]`, 400, /not valid JSON.*NaN and Infinity are not JSON numbers/],
    ['Infinity inside', `[${zeros(D - 1)},Infinity]`, 400, /not valid JSON.*NaN and Infinity are not JSON numbers/],
    ['-Infinity inside', `[-Infinity,${zeros(D - 1)}]`, 400, /not valid JSON.*NaN and Infinity are not JSON numbers/],
    ['1e309 inside', `[${zeros(5)},1e309,${zeros(D - 6)}]`, 400, /\[5\] is not a finite number/],
    ['-1e309 inside', `[-1e309,${zeros(D - 1)}]`, 400, /\[0\] is not a finite number/],
    ['3.5e38 inside (beyond float32)', `[3.5e38,${zeros(D - 1)}]`, 400, /\[0\] = 3\.5e\+38 is outside the float32 range/],
    ['a string inside', `["0.5",${zeros(D - 1)}]`, 400, /\/0 must be number/],
    ['null inside', `[${zeros(9)},null,${zeros(D - 10)}]`, 400, /\/9 must be number/],
    ['an object inside', `[{},${zeros(D - 1)}]`, 400, /\/0 must be number/],
    ['a boolean inside', `[true,${zeros(D - 1)}]`, 400, /\/0 must be number/],
    ['arrays nested 10,000 deep', deep, 400, /\/0 must be number/],
    ['a 5 MB array', `[${zeros(2_600_000)}]`, 400, /must NOT have more than 262144 items/],
  ];
  for (const [url, body] of Object.entries(latentBodies)) {
    for (const [what, latent, status, message] of latents) add(`${url} JSON: ${what}`, jsonReq(url, body(latent)), status, message);
  }
  add(
    '/decode JSON: a 5 MB array of latents',
    jsonReq('/decode', `{"latents":[${new Array(1700).fill(ZERO).join(',')}]}`),
    400,
    /body\/latents must NOT have more than 64 items/,
  );
  add('/decode JSON: a whole body nested 10,000 deep', jsonReq('/decode', deep), 400, /body must be object/);
  add(
    '/decode JSON: nested 10,000 deep beside the latents',
    jsonReq('/decode', `{"junk":${deep},"latents":[[1]]}`),
    400,
    /latents\[0\] has 1 values/,
  );

  // ---------------------------------------------------------------- raw float32 latents (/decode)
  const f32 = (values: number[]) => Buffer.from(new Float32Array(values).buffer);
  const raw = (payload: Buffer): Req => ({
    method: 'POST',
    url: '/decode',
    payload,
    headers: { 'content-type': 'application/octet-stream' },
  });
  add('/decode float32: 0 bytes', raw(Buffer.alloc(0)), 400, /float32 body is empty \(0 bytes\)/);
  add('/decode float32: 100 bytes', raw(Buffer.alloc(100)), 400, /100 bytes is not a multiple of 3136/);
  add('/decode float32: a NaN', raw(f32([...new Array(D - 1).fill(0), NaN])), 400, /latent 0 value 783 is not finite/);
  add('/decode float32: an Infinity', raw(f32([Infinity, ...new Array(D - 1).fill(0)])), 400, /latent 0 value 0 is not finite/);
  add('/decode float32: 65 latents', raw(Buffer.alloc(65 * 4 * D)), 400, /65 latents; at most 64/);
  // The original Glow demo unpickled client data; here a pickle is just bytes of the wrong length.
  const pickle = Buffer.from('80049520000000000000008c08627569c74696e73948c046576616c9493948c0531202b20319485945294', 'hex');
  add('/decode float32: a pickle sent as octet-stream', raw(pickle), 400, /not a multiple of 3136/);

  // ---------------------------------------------------------------- content types and empty bodies
  const posts: Record<string, string[]> = {
    '/encode': ['application/octet-stream'],
    '/decode': ['image/png', 'image/jpeg', 'multipart/form-data; boundary=x'],
    '/interpolate': ['image/png', 'application/octet-stream'],
    '/manipulate': ['image/webp', 'application/octet-stream'],
    '/attributes': ['image/png', 'application/octet-stream'],
  };
  for (const [url, notHere] of Object.entries(posts)) {
    for (const type of [
      'text/plain',
      'application/xml',
      'application/x-www-form-urlencoded',
      'application/x-python-pickle',
      'application/x-npy',
      'application/msgpack',
    ]) {
      add(
        `${url}: ${type}`,
        { method: 'POST', url, payload: type === 'application/x-python-pickle' ? pickle : 'a=1', headers: { 'content-type': type } },
        415,
        new RegExp(`content type ${type.replace(/[/.+]/g, '\\$&')} is not accepted`),
      );
    }
    for (const type of notHere) {
      const payload = type.startsWith('multipart') ? '--x--\r\n' : png0;
      add(
        `${url}: ${type} (accepted elsewhere, not here)`,
        { method: 'POST', url, payload, headers: { 'content-type': type } },
        415,
        /is not accepted here; send /,
      );
    }
    add(
      `${url}: a body without a content type`,
      { method: 'POST', url, payload: '{"latents":[]}' },
      415,
      /a body without a content type is not accepted/,
    );
    add(`${url}: no body, no content type`, { method: 'POST', url }, 415, /missing content type; send /);
    add(
      `${url}: 0-byte JSON`,
      { method: 'POST', url, payload: '', headers: { 'content-type': 'application/json' } },
      400,
      /the JSON body is empty \(0 bytes\)/,
    );
    add(`${url}: JSON that stops half-way`, jsonReq(url, '{"latents": [[0.1, 0.2'), 400, /the body is not valid JSON/);
    add(
      `${url}: JSON with a __proto__ key`,
      jsonReq(url, '{"__proto__": {"admin": true}, "latents": [[1]]}'),
      400,
      /"__proto__" or "constructor.prototype" key/,
    );
    add(`${url}: JSON that is not an object`, jsonReq(url, '[1, 2, 3]'), 400, /body must be object/);
    add(
      `${url}: a body over the 10 MiB limit`,
      jsonReq(url, `{"x":"${'a'.repeat(10.5 * 1024 * 1024)}"}`),
      413,
      /Request body is too large/,
    );
    if (url !== '/decode') {
      add(
        `${url}: 0-byte multipart`,
        { method: 'POST', url, payload: '', headers: { 'content-type': 'multipart/form-data; boundary=xyz' } },
        400,
        /the multipart body is empty: no fields or files/,
      );
      add(
        `${url}: multipart without a boundary`,
        { method: 'POST', url, payload: 'abc', headers: { 'content-type': 'multipart/form-data' } },
        400,
        /malformed multipart body: .*[Bb]oundary/,
      );
    }
  }
  add(
    '/encode raw: 0-byte image/png',
    { method: 'POST', url: '/encode', payload: Buffer.alloc(0), headers: { 'content-type': 'image/png' } },
    400,
    /image is empty \(0 bytes\)/,
  );

  // ---------------------------------------------------------------- out-of-range parameters
  for (const [q, message] of [
    ['t=-0.1', /querystring\/t must be >= 0/],
    ['t=1.51', /querystring\/t must be <= 1.5/],
    ['t=abc', /querystring\/t must be number/],
    ['t=NaN', /querystring\/t must be number/],
    ['t=Infinity', /querystring\/t must be <= 1.5/],
    ['t=1e309', /querystring\/t must be <= 1.5/],
    ['t=0.5&t=0.6', /querystring\/t must be number/],
    ['n=0', /querystring\/n must be >= 1/],
    ['n=65', /querystring\/n must be <= 64/],
    ['n=1.5', /querystring\/n must be integer/],
    ['n=1e9', /querystring\/n must be <= 64/],
    ['seed=-1', /querystring\/seed must be >= 0/],
    ['seed=4294967296', /querystring\/seed must be <= 4294967295/],
    ['scale=0', /querystring\/scale must be >= 1/],
    ['scale=17', /querystring\/scale must be <= 16/],
    ['format=gif', /querystring\/format must be one of "png", "json"/],
  ] as const) {
    add(`/sample?${q}`, { url: `/sample?${q}` }, 400, message);
  }
  // Query numbers are decimal: JavaScript's 0x/0o/0b forms are not read as numbers.
  for (const q of ['seed=0x10', 'seed=0o17', 'n=0b11', 't=0x1', 'scale=+0x2', 'seed=%200x10']) {
    add(`/sample?${q}`, { url: `/sample?${q}` }, 400, new RegExp(`querystring/${q.split('=')[0]} must be a decimal number`));
  }
  // ?model= is checked before anything else: a name or a 400, never echoed at length.
  for (const [what, value] of [
    ['10,000 characters', 'm'.repeat(10_000)],
    ['empty', ''],
    ['65 characters', 'a'.repeat(65)],
    ['upper case', 'MNIST'],
    ['a path', '..%2F..%2Fetc'],
  ] as const) {
    for (const url of ['/sample', '/model', '/attributes'])
      add(`${url}?model= ${what}`, { url: `${url}?model=${value}` }, 400, /^querystring\/model must be a model name: 1–64 characters/);
  }
  add(
    '/decode?scale=99',
    { ...jsonReq('/decode', `{"latents":[${ZERO}]}`), url: '/decode?scale=99' },
    400,
    /querystring\/scale must be <= 16/,
  );
  add(
    '/interpolate?format=bmp',
    { ...jsonReq('/interpolate', `{"from":{"latent":${ZERO}},"to":{"latent":${ZERO}}}`), url: '/interpolate?format=bmp' },
    400,
    /querystring\/format must be one of/,
  );
  for (const [steps, message] of [
    ['1', /body\/steps must be >= 2/],
    ['65', /body\/steps must be <= 64/],
    ['2.5', /body\/steps must be integer/],
    ['"8"', /body\/steps must be integer/],
    ['null', /body\/steps must be integer/],
    ['1e309', /body\/steps must be integer|must be <= 64/],
  ] as const) {
    add(
      `/interpolate JSON steps=${steps}`,
      jsonReq('/interpolate', `{"from":{"latent":${ZERO}},"to":{"latent":${ZERO}},"steps":${steps}}`),
      400,
      message,
    );
    add(
      `/manipulate JSON steps=${steps}`,
      jsonReq('/manipulate', `{"latent":${ZERO},"edits":[{"attribute":"thick","alpha":1}],"steps":${steps}}`),
      400,
      message,
    );
  }
  for (const steps of ['1', '65', 'abc', '2.5', '', 'Infinity']) {
    add(
      `/interpolate multipart steps="${steps}"`,
      await formReq('/interpolate', [
        ['from', { data: png0 }],
        ['to', { data: png0 }],
        ['steps', steps],
      ]),
      400,
      /field "steps" must be an integer in \[2, 64\]/,
    );
    add(
      `/manipulate multipart steps="${steps}"`,
      await formReq('/manipulate', [
        ['image', { data: png0 }],
        ['attribute', 'thick'],
        ['alpha', '1'],
        ['steps', steps],
      ]),
      400,
      /field "steps" must be an integer in \[2, 64\]/,
    );
  }
  for (const [alpha, message] of [
    ['10.5', /body\/edits\/0\/alpha must be <= 10/],
    ['-11', /body\/edits\/0\/alpha must be >= -10/],
    ['1e309', /body\/edits\/0\/alpha must be <= 10/],
    ['"1"', /body\/edits\/0\/alpha must be number/],
    ['null', /body\/edits\/0\/alpha must be number/],
  ] as const) {
    add(
      `/manipulate JSON alpha=${alpha}`,
      jsonReq('/manipulate', `{"latent":${ZERO},"edits":[{"attribute":"thick","alpha":${alpha}}]}`),
      400,
      message,
    );
  }
  for (const alpha of ['11', '-10.01', 'abc', '', 'NaN', 'Infinity']) {
    add(
      `/manipulate multipart alpha="${alpha}"`,
      await formReq('/manipulate', [
        ['image', { data: png0 }],
        ['attribute', 'thick'],
        ['alpha', alpha],
      ]),
      400,
      /field "alpha" must be a number in \[-10, 10\]/,
    );
  }
  add(
    '/manipulate multipart edits with alpha 11',
    await formReq('/manipulate', [
      ['image', { data: png0 }],
      ['edits', '[{"attribute":"thick","alpha":11}]'],
    ]),
    400,
    /field "edits"\/0\/alpha .*less or equal to 10/,
  );
  // The work budget (GLOW_MAX_WORK, 128 images of model work by default): each field within its limit, the product not.
  const sixteen = Array.from({ length: 16 }, () => ({ attribute: 'thick', alpha: 1 }));
  for (const [what, body, cost] of [
    ['16 edits × steps 64 × passes 32 from a latent', { latent: new Array(D).fill(0), edits: sixteen, steps: 64, passes: 32 }, 4032],
    ['an image, steps 25 × passes 4', { image: good, edits: sixteen, steps: 25, passes: 4 }, 176],
    ['a latent, passes 32 × steps 3', { latent: new Array(D).fill(0), edits: sixteen.slice(0, 1), steps: 3, passes: 32 }, 189],
  ] as const) {
    add(
      `/manipulate JSON over the work budget: ${what}`,
      jsonReq('/manipulate', body),
      400,
      new RegExp(`would cost ${cost} images of model work .*the limit per request is 128 \\(GLOW_MAX_WORK\\)`),
    );
  }
  add(
    '/manipulate multipart over the work budget: steps 64 × passes 2',
    await formReq('/manipulate', [
      ['image', { data: png0 }],
      ['attribute', 'thick'],
      ['alpha', '1'],
      ['steps', '64'],
      ['passes', '2'],
    ]),
    400,
    /would cost 193 images of model work \(1 encode \+ 64 images × \(2 decodes \+ 1 encode\)\)/,
  );
  // Multipart `edits` is refused for prototype keys exactly like a JSON body is.
  for (const [what, edits] of [
    ['__proto__', '[{"attribute":"thick","alpha":1,"__proto__":{"admin":true}}]'],
    ['constructor.prototype', '[{"attribute":"thick","alpha":1,"constructor":{"prototype":{"admin":true}}}]'],
    ['a top-level __proto__', '{"__proto__":[]}'],
  ] as const) {
    add(
      `/manipulate multipart edits with ${what}`,
      await formReq('/manipulate', [
        ['image', { data: png0 }],
        ['edits', edits],
      ]),
      400,
      /field "edits" has a "__proto__" or "constructor.prototype" key, which is refused/,
    );
  }
  add(
    '/manipulate JSON: no edits',
    jsonReq('/manipulate', `{"latent":${ZERO},"edits":[]}`),
    400,
    /body\/edits must NOT have fewer than 1 items/,
  );
  add(
    '/manipulate JSON: 17 edits',
    jsonReq('/manipulate', { latent: new Array(D).fill(0), edits: new Array(17).fill({ attribute: 'thick', alpha: 1 }) }),
    400,
    /body\/edits must NOT have more than 16 items/,
  );
  add(
    '/manipulate JSON: both image and latent',
    jsonReq('/manipulate', `{"latent":${ZERO},"image":"${good}","edits":[{"attribute":"thick","alpha":1}]}`),
    400,
    /exactly one of "image" or "latent"/,
  );
  add(
    '/attributes?replace=maybe',
    { ...jsonReq('/attributes', `{"name":"x","positive":[${ZERO}],"negative":[${ZERO}]}`), url: '/attributes?replace=maybe' },
    400,
    /querystring\/replace must be boolean/,
  );
  add(
    '/attributes JSON: description of 501 characters',
    jsonReq('/attributes', `{"name":"x","positive":[${ZERO}],"negative":[${ZERO}],"description":"${'d'.repeat(501)}"}`),
    400,
    /body\/description must NOT have more than 500 characters/,
  );
  add(
    '/attributes JSON: a number in a set',
    jsonReq('/attributes', `{"name":"x","positive":[5],"negative":[${ZERO}]}`),
    400,
    /body\/positive\/0 must be one of a string \(base64 image\), an array \(latent\)/,
  );
  add(
    '/attributes JSON: empty set',
    jsonReq('/attributes', `{"name":"x","positive":[],"negative":[${ZERO}]}`),
    400,
    /body\/positive must NOT have fewer than 1 items/,
  );

  // ---------------------------------------------------------------- attribute names
  const names: [string, string][] = [
    ['../', '../../etc/passwd'],
    ['SQL quote', "x'; DROP TABLE attributes; --"],
    ['SQL tautology', "a' OR '1'='1"],
    ['unicode', 'smilé'],
    ['CJK', '数字'],
    ['emoji', '😀'],
    ['zero-width space', 'a\u200bb'],
    ['NUL byte', 'a\u0000b'],
    ['upper case', 'Thick'],
    ['10 KB', 'a'.repeat(10 * 1024)],
  ];
  for (const [what, name] of names) {
    add(
      `/attributes JSON name: ${what}`,
      jsonReq('/attributes', { name, positive: [new Array(D).fill(0)], negative: [new Array(D).fill(0)] }),
      400,
      /body\/name is not a valid attribute name: use 1–64 characters/,
    );
    add(
      `/attributes multipart name: ${what}`,
      await formReq('/attributes', [
        ['name', name],
        ['positive', { data: png0 }],
        ['negative', { data: png0 }],
      ]),
      400,
      /field "name" is not a valid attribute name/,
    );
    add(
      `/manipulate JSON attribute: ${what}`,
      jsonReq('/manipulate', { latent: new Array(D).fill(0), edits: [{ attribute: name, alpha: 1 }] }),
      400,
      /body\/edits\/0\/attribute is not a valid attribute name/,
    );
    add(
      `/manipulate multipart attribute: ${what}`,
      await formReq('/manipulate', [
        ['image', { data: png0 }],
        ['attribute', name],
        ['alpha', '1'],
      ]),
      400,
      /field "attribute" is not a valid attribute name/,
    );
    const long = name.length > 100;
    const [status, message] = long
      ? [414, /a path parameter is longer than 100 characters/]
      : [400, /params\/name is not a valid attribute name/];
    add(`GET /attributes/:name: ${what}`, { url: `/attributes/${encodeURIComponent(name)}` }, status, message);
    add(`GET /attributes/:name?vector=true: ${what}`, { url: `/attributes/${encodeURIComponent(name)}?vector=true` }, status, message);
    add(`DELETE /attributes/:name: ${what}`, { method: 'DELETE', url: `/attributes/${encodeURIComponent(name)}` }, status, message);
  }
  add(
    '/attributes JSON name: empty',
    jsonReq('/attributes', { name: '', positive: [new Array(D).fill(0)], negative: [new Array(D).fill(0)] }),
    400,
    /body\/name is not a valid attribute name/,
  );
  add(
    '/attributes multipart: no name',
    await formReq('/attributes', [
      ['positive', { data: png0 }],
      ['negative', { data: png0 }],
    ]),
    400,
    /missing field "name"/,
  );
  add('GET /attributes/../.. (unencoded, not a route)', { url: '/attributes/../../etc/passwd' }, 404, /no route GET/);
  add('GET /attributes/:name with a broken %-escape', { url: '/attributes/%E0%A4%A' }, 400, /invalid %-escape/);

  // ---------------------------------------------------------------- multipart structure
  const dup: [string, Part[], RegExp][] = [
    [
      '/interpolate',
      [
        ['from', { data: png0 }],
        ['from', { data: png0 }],
        ['to', { data: png0 }],
      ],
      /file field "from" given more than once/,
    ],
    [
      '/interpolate',
      [
        ['from', { data: png0 }],
        ['to', { data: png0 }],
        ['to', { data: png0 }],
      ],
      /file field "to" given more than once/,
    ],
    [
      '/interpolate',
      [
        ['from', { data: png0 }],
        ['to', { data: png0 }],
        ['steps', '3'],
        ['steps', '4'],
      ],
      /field "steps" given more than once/,
    ],
    [
      '/manipulate',
      [
        ['image', { data: png0 }],
        ['image', { data: png0 }],
        ['attribute', 'thick'],
        ['alpha', '1'],
      ],
      /file field "image" given more than once/,
    ],
    [
      '/manipulate',
      [
        ['image', { data: png0 }],
        ['attribute', 'thick'],
        ['attribute', 'thick'],
        ['alpha', '1'],
      ],
      /field "attribute" given more than once/,
    ],
    [
      '/manipulate',
      [
        ['image', { data: png0 }],
        ['attribute', 'thick'],
        ['alpha', '1'],
        ['alpha', '2'],
      ],
      /field "alpha" given more than once/,
    ],
    [
      '/manipulate',
      [
        ['image', { data: png0 }],
        ['edits', '[]'],
        ['edits', '[]'],
      ],
      /field "edits" given more than once/,
    ],
    [
      '/attributes',
      [
        ['name', 'a'],
        ['name', 'b'],
        ['positive', { data: png0 }],
        ['negative', { data: png0 }],
      ],
      /field "name" given more than once/,
    ],
    [
      '/attributes',
      [
        ['name', 'a'],
        ['description', 'x'],
        ['description', 'y'],
        ['positive', { data: png0 }],
        ['negative', { data: png0 }],
      ],
      /field "description" given more than once/,
    ],
  ];
  for (const [url, parts, message] of dup)
    add(`${url} multipart: duplicate ${message.source.split('"')[1]}`, await formReq(url, parts), 400, message);
  const files = (name: string, n: number): Part[] => Array.from({ length: n }, () => [name, { data: png0 }]);
  add('/encode multipart: 65 files', await formReq('/encode', files('image', 65)), 413, /too many files in field "image"; at most 64/);
  add(
    '/attributes multipart: 501 positive files',
    await formReq('/attributes', [['name', 'many'], ...files('positive', 501), ['negative', { data: png0 }]]),
    413,
    /too many files in field "positive"; at most 500/,
  );
  add(
    '/manipulate multipart: an extra file',
    await formReq('/manipulate', [
      ['image', { data: png0 }],
      ['mask', { data: png0 }],
      ['attribute', 'thick'],
      ['alpha', '1'],
    ]),
    400,
    /unexpected file field "mask"/,
  );
  add(
    '/interpolate multipart: a third file',
    await formReq('/interpolate', [
      ['from', { data: png0 }],
      ['to', { data: png0 }],
      ['via', { data: png0 }],
    ]),
    400,
    /unexpected file field "via"/,
  );
  add(
    '/encode multipart: image as a text field',
    await formReq('/encode', [['image', 'not a file']]),
    400,
    /field "image" must be a file upload/,
  );
  add(
    '/encode multipart: a stray text field',
    await formReq('/encode', [
      ['image', { data: png0 }],
      ['note', 'hi'],
    ]),
    400,
    /unexpected field "note"/,
  );
  add(
    '/interpolate multipart: only one file',
    await formReq('/interpolate', [['from', { data: png0 }]]),
    400,
    /needs two files: "from" and "to"/,
  );
  for (const [url, parts] of [
    ['/encode', [['image', { data: png0 }]]],
    [
      '/interpolate',
      [
        ['from', { data: png0 }],
        ['to', { data: png0 }],
      ],
    ],
    [
      '/manipulate',
      [
        ['image', { data: png0 }],
        ['attribute', 'thick'],
        ['alpha', '1'],
      ],
    ],
    [
      '/attributes',
      [
        ['name', 'early'],
        ['positive', { data: png0 }],
        ['negative', { data: png0 }],
      ],
    ],
  ] as [string, Part[]][]) {
    const full = await formReq(url, parts);
    const body = full.payload as Buffer;
    add(
      `${url} multipart: body ends before the closing boundary`,
      { ...full, payload: body.subarray(0, body.length - 10) },
      400,
      /malformed multipart body: Unexpected end of (form|multipart data)/,
    );
    add(
      `${url} multipart: body ends inside the first file`,
      { ...full, payload: body.subarray(0, body.indexOf('\x89PNG') + 40) },
      400,
      /malformed multipart body: Unexpected end of (form|multipart data)/,
    );
  }

  // ---------------------------------------------------------------- run the table
  const t0 = performance.now();
  for (const c of cases) {
    const res = await app.inject({ method: c.req.method ?? 'GET', url: c.req.url, payload: c.req.payload, headers: c.req.headers });
    let body: Record<string, unknown> = {};
    try {
      body = res.json();
    } catch {
      /* checked below */
    }
    const msg = String(body.message ?? res.payload.slice(0, 200));
    const ok =
      res.statusCode === c.status &&
      String(res.headers['content-type']).startsWith('application/json') &&
      body.statusCode === c.status &&
      typeof body.error === 'string' &&
      Object.keys(body).every((k) => ['statusCode', 'error', 'message', 'code'].includes(k)) &&
      c.message.test(msg) &&
      // Nothing internal: no stack frames, file paths or library names, and no echo of a huge input.
      !/\bat \S+ \(\S*:\d+:\d+\)|\/work\/|node_modules|\.ts:\d|sharp|vips|tfjs|glib|xml parse|entity|busboy|in JSON at position|Unexpected token/i.test(
        msg,
      ) &&
      msg.length < 400;
    t.ok(ok, `${c.name} -> ${res.statusCode} ${msg.slice(0, 160)}`, ok ? {} : { expected: `${c.status} ${c.message}` });
  }
  t.comment(`${cases.length} bad requests in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  // ---------------------------------------------------------------- and afterwards
  t.equal((await app.inject('/healthz')).statusCode, 200, '/healthz still answers');
  t.equal((await app.inject('/readyz')).statusCode, 200, '/readyz still ready');
  const after = await scrape(app);
  t.equal(metric(after, 'glow_worker_tensors'), tensorsBefore, `worker tensor count back to ${tensorsBefore}`);
  for (const op of ['encode', 'decode', 'sample'])
    t.equal(metric(after, 'glow_queue_depth', `{operation="${op}"}`), 0, `nothing queued for ${op}`);
  t.equal(app.models.get().batcher.reservedSlots, 0, 'every refused request gave back its admission slot');
  const fiveHundreds = after.split('\n').filter((l) => l.startsWith('http_request_duration_seconds_count') && /status_code="5/.test(l));
  t.same(fiveHundreds, [], 'no request got a 5xx');
  const sample = await app.inject('/sample?n=4&seed=3');
  t.equal(sample.statusCode, 200, 'still serves samples');
  t.equal(sample.headers['content-type'], 'image/png');
});

t.test('alpha channels and 16-bit samples are converted, not refused: same latent as the plain 8-bit image', async (t) => {
  const app = await makeApp(t);
  const digit = Buffer.from(mnistImage(0));
  const encode = async (payload: Buffer, type = 'image/png') => {
    const res = await app.inject({ method: 'POST', url: '/encode', payload, headers: { 'content-type': type } });
    t.equal(res.statusCode, 200, res.statusCode === 200 ? 'encoded' : res.payload);
    return res.json().items[0] as { latent: number[]; original: { format: string } };
  };
  const plain = await encode(await mnistPng(0));
  const variants: [string, Buffer][] = [
    // 16 bits per sample: v·257 is the exact 16-bit form of the 8-bit value v.
    ['16-bit grey PNG', png16(28, 28, (x, y) => digit[y * 28 + x] * 257)],
    // White ink whose alpha is the digit: flattened onto black it is the digit again.
    [
      'RGBA PNG, digit in the alpha channel',
      await sharp(Buffer.from(Array.from(digit, (v) => [255, 255, 255, v]).flat()), { raw: { width: 28, height: 28, channels: 4 } })
        .png()
        .toBuffer(),
    ],
    [
      'grey+alpha PNG, opaque',
      await sharp(Buffer.from(Array.from(digit, (v) => [v, 255]).flat()), { raw: { width: 28, height: 28, channels: 2 } })
        .png()
        .toBuffer(),
    ],
    [
      'RGBA WebP (lossless), digit in the alpha channel',
      await sharp(Buffer.from(Array.from(digit, (v) => [255, 255, 255, v]).flat()), { raw: { width: 28, height: 28, channels: 4 } })
        .webp({ lossless: true })
        .toBuffer(),
    ],
  ];
  for (const [what, bytes] of variants) {
    const item = await encode(bytes, what.includes('WebP') ? 'image/webp' : 'image/png');
    const diff = Math.max(...item.latent.map((v, i) => Math.abs(v - plain.latent[i])));
    t.ok(diff < 1e-5, `${what}: latent differs from the 8-bit grey one by ${diff}`);
  }
});

t.test('a client that hangs up in the middle of an upload does not hurt the server', async (t) => {
  const app = await makeApp(t);
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = new URL(base);
  const png0 = await mnistPng(0);
  const { payload, headers } = await multipart([['image', { data: png0 }]]);
  for (const url of ['/encode', '/attributes', '/interpolate', '/manipulate']) {
    await new Promise<void>((resolve, reject) => {
      const s = net.connect(Number(port), '127.0.0.1', () => {
        s.write(
          `POST ${url} HTTP/1.1\r\nHost: x\r\nContent-Type: ${headers['content-type']}\r\nContent-Length: ${payload.length + 5000}\r\n\r\n`,
        );
        s.write(payload.subarray(0, payload.length >> 1));
        setTimeout(() => s.destroy(), 50);
      });
      s.on('close', () => resolve());
      s.on('error', reject);
    });
  }
  await new Promise((r) => setTimeout(r, 100));
  const res = await fetch(`${base}/healthz`);
  t.equal(res.status, 200, 'still healthy');
  const enc = await fetch(`${base}/encode`, { method: 'POST', body: new Uint8Array(png0), headers: { 'content-type': 'image/png' } });
  t.equal(enc.status, 200, 'still encodes');
  const text = await (await fetch(`${base}/metrics`)).text();
  t.notOk(/http_request_duration_seconds_count\{[^}]*status_code="5/.test(text), 'no 5xx recorded');
  t.equal(app.models.get().batcher.reservedSlots, 0, 'hung-up requests gave back their admission slots');
});
