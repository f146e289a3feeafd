import t from 'tap';
import { decodePng, json, makeApp, mnistPng, multipart } from '../fixtures/app.ts';
import { mnistImage } from '../fixtures/mnist.ts';
import { digitPhoto } from '../../src/eval/digit-photo.ts';

t.test('POST /interpolate', async (t) => {
  const app = await makeApp(t);
  const [a, b] = await Promise.all([mnistPng(0), mnistPng(1)]);

  t.test('images in JSON: the strip starts and ends at the inputs, linear in ε', async (t) => {
    const res = await app.inject({
      method: 'POST',
      url: '/interpolate?format=json',
      ...json({ from: { image: a.toString('base64') }, to: { image: b.toString('base64') }, steps: 5 }),
    });
    t.equal(res.statusCode, 200);
    const body = res.json();
    t.equal(body.images.length, 5);
    t.same(body.weights, [0, 0.25, 0.5, 0.75, 1]);
    t.same(body.nonFinite, [0, 0, 0, 0, 0], 'every image of the strip is sound');
    const first = await decodePng(Buffer.from(body.images[0], 'base64'));
    const last = await decodePng(Buffer.from(body.images[4], 'base64'));
    t.same(Buffer.from(first.pixels), Buffer.from(mnistImage(0)));
    t.same(Buffer.from(last.pixels), Buffer.from(mnistImage(1)));
    const mid = body.latents[2].map((v: number, i: number) => v - (body.latents[0][i] + body.latents[4][i]) / 2);
    t.ok(Math.max(...mid.map(Math.abs)) < 1e-5, 'the middle latent is the mean of the ends');
  });

  t.test('latents and images mix; PNG strip by default', async (t) => {
    const z = (await app.inject({ url: '/sample?seed=9', headers: { accept: 'application/json' } })).json().latents[0];
    const res = await app.inject({
      method: 'POST',
      url: '/interpolate',
      ...json({ from: { latent: z }, to: { image: a.toString('base64') }, steps: 4 }),
    });
    t.equal(res.statusCode, 200);
    t.equal(res.headers['content-type'], 'image/png');
    const strip = await decodePng(res.rawPayload);
    t.same([strip.width, strip.height], [4 * 28 + 5 * 2, 28 + 2 * 2]);
  });

  t.test('multipart: files "from" and "to", field "steps"', async (t) => {
    const res = await app.inject({
      method: 'POST',
      url: '/interpolate',
      ...(await multipart([
        ['from', { data: a }],
        ['to', { data: b }],
        ['steps', '3'],
      ])),
    });
    t.equal(res.statusCode, 200);
    t.equal(res.headers['x-image-count'], '3');
  });

  t.test('?fit=true fits the image ends, not the latents', async (t) => {
    const photo = await digitPhoto(mnistImage(2), 2);
    const z = (await app.inject({ url: '/sample?n=1&seed=3', headers: { accept: 'application/json' } })).json().latents[0];
    const body = { from: { image: photo.bytes.toString('base64') }, to: { latent: z }, steps: 3 };
    const res = await app.inject({ method: 'POST', url: '/interpolate?fit=true&format=json', ...json(body) });
    t.equal(res.statusCode, 200);
    const { fitted, latents } = res.json();
    t.equal(fitted.from.inverted, true);
    t.notOk('to' in fitted, 'a latent is not fitted');
    const enc = (
      await app.inject({
        method: 'POST',
        url: '/encode',
        payload: Buffer.from(fitted.from.image, 'base64'),
        headers: { 'content-type': 'image/png' },
      })
    ).json();
    t.same(latents[0], enc.items[0].latent, 'the strip starts at the fitted image');
    const form = await multipart([
      ['from', { data: photo.bytes }],
      ['to', { data: await mnistPng(1) }],
    ]);
    const png = await app.inject({ method: 'POST', url: '/interpolate?fit=true', ...form });
    t.equal(png.statusCode, 200);
    t.equal(JSON.parse(String(png.headers['x-fitted'])).length, 2);
    t.equal(String(png.headers['x-fitted-images']).split(',').length, 2);
  });

  t.test('bad requests', async (t) => {
    const img = a.toString('base64');
    const cases: [string, object, number, RegExp][] = [
      ['steps 1', json({ from: { image: img }, to: { image: img }, steps: 1 }), 400, /steps must be >= 2/],
      ['steps 65', json({ from: { image: img }, to: { image: img }, steps: 65 }), 400, /steps must be <= 64/],
      ['both image and latent', json({ from: { image: img, latent: [1] }, to: { image: img } }), 400, /exactly one/],
      ['neither', json({ from: {}, to: { image: img } }), 400, /exactly one/],
      ['short latent', json({ from: { latent: [0, 1] }, to: { image: img } }), 400, /from.latent has 2 values/],
      ['one file', await multipart([['from', { data: a }]]), 400, /two files/],
      [
        'steps as text',
        await multipart([
          ['from', { data: a }],
          ['to', { data: b }],
          ['steps', 'many'],
        ]),
        400,
        /field "steps" must be an integer/,
      ],
      [
        'duplicate steps',
        await multipart([
          ['from', { data: a }],
          ['to', { data: b }],
          ['steps', '3'],
          ['steps', '4'],
        ]),
        400,
        /more than once/,
      ],
      [
        'two "from" files',
        await multipart([
          ['from', { data: a }],
          ['from', { data: a }],
          ['to', { data: b }],
        ]),
        400,
        /file field "from" given more than once/,
      ],
    ];
    for (const [name, req, status, message] of cases) {
      const res = await app.inject({ method: 'POST', url: '/interpolate', ...req });
      t.equal(res.statusCode, status, name);
      t.match(res.json().message, message, `${name}: ${res.json().message}`);
    }
  });
});
