// The work budget (GLOW_MAX_WORK): every route that uses the model counts the images it will put
// through it, and a request over the budget is refused before any model work, with a message that
// gives the cost and the limit. At the budget it is served.
import t from 'tap';
import type { InjectOptions } from 'fastify';

import { json, makeApp, mnistPng, multipart, type Part } from '../fixtures/app.ts';

const D = 784;
const zero = () => new Array(D).fill(0);

t.test('each route counts its model work; over GLOW_MAX_WORK is a 400 before any model work, at it a 200', async (t) => {
  const app = await makeApp(t, { maxWork: 10 });
  const png = await mnistPng(1);
  const b64 = png.toString('base64');
  t.equal(
    (
      await app.inject({
        method: 'POST',
        url: '/attributes',
        ...json({ name: 'w', positive: [new Array(D).fill(0.1)], negative: [zero()] }),
      })
    ).statusCode,
    201,
  );
  const form = async (parts: Part[]) => ({ method: 'POST' as const, ...(await multipart(parts)) });
  const cases: [string, string | InjectOptions, number, string][] = [
    ['sample n=10', '/sample?n=10', 200, ''],
    ['sample n=11', '/sample?n=11', 400, 'would cost 11 images of model work (11 decodes)'],
    ['decode 10 latents', { method: 'POST', url: '/decode', ...json({ latents: Array.from({ length: 10 }, zero) }) }, 200, ''],
    [
      'decode 11 latents (float32)',
      { method: 'POST', url: '/decode', payload: Buffer.alloc(11 * 4 * D), headers: { 'content-type': 'application/octet-stream' } },
      400,
      'would cost 11 images of model work (11 decodes)',
    ],
    [
      'encode 5 images, verify',
      { ...(await form(Array.from({ length: 5 }, (): Part => ['image', { data: png }]))), url: '/encode?verify=true' },
      200,
      '',
    ],
    [
      'encode 6 images, verify',
      { ...(await form(Array.from({ length: 6 }, (): Part => ['image', { data: png }]))), url: '/encode?verify=true' },
      400,
      'would cost 12 images of model work (6 encodes + 6 decodes (verify))',
    ],
    [
      'encode 11 images (JSON)',
      { method: 'POST', url: '/encode', ...json({ images: new Array(11).fill(b64) }) },
      400,
      'would cost 11 images of model work (11 encodes)',
    ],
    [
      'interpolate 2 images, 8 steps',
      { method: 'POST', url: '/interpolate', ...json({ from: { image: b64 }, to: { image: b64 }, steps: 8 }) },
      200,
      '',
    ],
    [
      'interpolate 2 images, 9 steps',
      { method: 'POST', url: '/interpolate', ...json({ from: { image: b64 }, to: { image: b64 }, steps: 9 }) },
      400,
      'would cost 11 images of model work (2 encodes + 9 decodes)',
    ],
    [
      'interpolate latents, 11 steps (form)',
      {
        ...(await form([
          ['from', { data: png }],
          ['to', { data: png }],
          ['steps', '11'],
        ])),
        url: '/interpolate',
      },
      400,
      'would cost 13 images of model work (2 encodes + 11 decodes)',
    ],
    [
      'manipulate image, steps 3 × passes 2',
      { method: 'POST', url: '/manipulate', ...json({ image: b64, edits: [{ attribute: 'w', alpha: 1 }], steps: 3, passes: 2 }) },
      200,
      '',
    ],
    [
      'manipulate image, steps 2 × passes 3',
      { method: 'POST', url: '/manipulate', ...json({ image: b64, edits: [{ attribute: 'w', alpha: 1 }], steps: 2, passes: 3 }) },
      400,
      'would cost 11 images of model work (1 encode + 2 images × (3 decodes + 2 encodes))',
    ],
    [
      'manipulate latent, 16 edits, passes 6',
      {
        method: 'POST',
        url: '/manipulate',
        ...json({ latent: zero(), edits: new Array(16).fill({ attribute: 'w', alpha: 1 }), passes: 6 }),
      },
      400,
      'would cost 11 images of model work (1 image × (6 decodes + 5 encodes))',
    ],
    [
      'manipulate form, steps 5 × passes 1',
      {
        ...(await form([
          ['image', { data: png }],
          ['attribute', 'w'],
          ['alpha', '1'],
          ['steps', '5'],
        ])),
        url: '/manipulate',
      },
      200,
      '',
    ],
    [
      'manipulate form, edits, steps 4 × passes 2',
      {
        ...(await form([
          ['image', { data: png }],
          ['edits', '[{"attribute":"w","alpha":1}]'],
          ['steps', '4'],
          ['passes', '2'],
        ])),
        url: '/manipulate',
      },
      400,
      'would cost 13 images of model work',
    ],
    // An admin write queued one batch at a time: not under the budget.
    [
      'attributes from 12 images',
      { method: 'POST', url: '/attributes', ...json({ name: 'many', positive: new Array(6).fill(b64), negative: new Array(6).fill(b64) }) },
      201,
      '',
    ],
  ];
  for (const [name, req, status, message] of cases) {
    const before = (await app.inject('/metrics')).payload.match(/glow_batch_size_count\{[^}]*\} \d+/g)?.join() ?? '';
    const res = await app.inject(req);
    t.equal(res.statusCode, status, `${name}: ${res.statusCode} ${res.statusCode === status ? '' : res.payload.slice(0, 200)}`);
    if (status === 400) {
      const body = res.json();
      t.equal(body.code, 'WORK_OVER_BUDGET', `${name}: code`);
      t.ok(
        body.message.includes(message) && body.message.includes('the limit per request is 10 (GLOW_MAX_WORK)'),
        `${name}: ${body.message}`,
      );
      const after = (await app.inject('/metrics')).payload.match(/glow_batch_size_count\{[^}]*\} \d+/g)?.join() ?? '';
      t.equal(after, before, `${name}: no model call was made`);
    }
  }
  t.equal(app.models.get().batcher.activeRequests, 0, 'every request gave back its share');
});
