import t from 'tap';
import { decodePng, json, makeApp, mnistPng, multipart } from '../fixtures/app.ts';
import { mnistImage, mnistOfDigit } from '../fixtures/mnist.ts';
import { digitPhoto } from '../../src/eval/digit-photo.ts';

t.test('POST /manipulate', async (t) => {
  const app = await makeApp(t);
  const b64 = async (i: number) => (await mnistPng(i)).toString('base64');
  // Two small user attributes: ones vs sevens, and zeros vs everything in a few images.
  for (const [name, pos, neg] of [
    ['one-vs-seven', mnistOfDigit(1, 4), mnistOfDigit(7, 4)],
    ['zero', mnistOfDigit(0, 3), mnistOfDigit(5, 3)],
  ] as const) {
    const res = await app.inject({
      method: 'POST',
      url: '/attributes',
      ...json({ name, positive: await Promise.all(pos.map(b64)), negative: await Promise.all(neg.map(b64)) }),
    });
    t.equal(res.statusCode, 201, `created ${name}`);
  }
  const input = await mnistPng(3);

  t.test('alpha 0 returns the input image exactly', async (t) => {
    const res = await app.inject({
      method: 'POST',
      url: '/manipulate',
      ...json({ image: input.toString('base64'), edits: [{ attribute: 'one-vs-seven', alpha: 0 }] }),
    });
    t.equal(res.statusCode, 200);
    t.equal(res.headers['content-type'], 'image/png');
    t.same(Buffer.from((await decodePng(res.rawPayload)).pixels), Buffer.from(mnistImage(3)));
  });

  t.test('the edit is ε + Σ alpha·direction, several edits at once', async (t) => {
    const z = (await app.inject({ url: '/sample?seed=3', headers: { accept: 'application/json' } })).json().latents[0] as number[];
    const d1 = (await app.inject('/attributes/one-vs-seven?vector=true')).json().vector as number[];
    const d2 = (await app.inject('/attributes/zero?vector=true')).json().vector as number[];
    const res = await app.inject({
      method: 'POST',
      url: '/manipulate?format=json',
      ...json({
        latent: z,
        edits: [
          { attribute: 'one-vs-seven', alpha: 1.5 },
          { attribute: 'zero', alpha: -0.5 },
        ],
      }),
    });
    t.equal(res.statusCode, 200);
    const body = res.json();
    t.same(body.alphas, [[1.5, -0.5]]);
    const expected = z.map((v, i) => v + 1.5 * d1[i] - 0.5 * d2[i]);
    const err = Math.max(...body.latents[0].map((v: number, i: number) => Math.abs(v - expected[i])));
    t.ok(err < 1e-5, `max error ${err}`);
    t.not(
      body.images[0],
      (await app.inject({ method: 'POST', url: '/decode?format=json', ...json({ latents: [z] }) })).json().images[0],
      'the image changed',
    );
  });

  t.test('steps: a strip from −alpha to +alpha with the original in the middle', async (t) => {
    const res = await app.inject({
      method: 'POST',
      url: '/manipulate?format=json',
      ...json({ image: input.toString('base64'), edits: [{ attribute: 'zero', alpha: 2 }], steps: 5 }),
    });
    const body = res.json();
    t.same(body.alphas, [[-2], [-1], [0], [1], [2]]);
    t.equal(body.nonFinite.length, 5, 'a non-finite count per image');
    t.equal(body.nonFinite[2], 0, 'the unedited reconstruction is sound');
    t.same(Buffer.from((await decodePng(Buffer.from(body.images[2], 'base64'))).pixels), Buffer.from(mnistImage(3)));
    const png = await app.inject({
      method: 'POST',
      url: '/manipulate',
      ...json({ image: input.toString('base64'), edits: [{ attribute: 'zero', alpha: 2 }], steps: 5 }),
    });
    t.equal(String(png.headers['x-non-finite-values']).split(',').length, 5, 'and in the PNG reply, a count per image of the strip');
    const strip = await decodePng(png.rawPayload);
    t.same([strip.width, strip.height], [5 * 28 + 6 * 2, 32]);
  });

  t.test('multipart: file image, fields attribute, alpha, steps (or edits as JSON)', async (t) => {
    const one = await app.inject({
      method: 'POST',
      url: '/manipulate',
      ...(await multipart([
        ['image', { data: input }],
        ['attribute', 'zero'],
        ['alpha', '0'],
      ])),
    });
    t.equal(one.statusCode, 200);
    t.same(Buffer.from((await decodePng(one.rawPayload)).pixels), Buffer.from(mnistImage(3)));
    const strip = await app.inject({
      method: 'POST',
      url: '/manipulate',
      ...(await multipart([
        ['image', { data: input }],
        ['attribute', 'zero'],
        ['alpha', '1'],
        ['steps', '3'],
      ])),
    });
    t.equal(strip.headers['x-image-count'], '3');
    const edits = await app.inject({
      method: 'POST',
      url: '/manipulate?format=json',
      ...(await multipart([
        ['image', { data: input }],
        [
          'edits',
          JSON.stringify([
            { attribute: 'zero', alpha: 1 },
            { attribute: 'one-vs-seven', alpha: -1 },
          ]),
        ],
      ])),
    });
    t.same(edits.json().alphas, [[1, -1]]);
  });

  t.test('passes: the edit in parts, each through 8-bit pixels, as if the client sent each result back', async (t) => {
    const img = input.toString('base64');
    const edit = (alpha: number) => [{ attribute: 'one-vs-seven', alpha }];
    const plain = (await app.inject({ method: 'POST', url: '/manipulate?format=json', ...json({ image: img, edits: edit(1) }) })).json();
    const one = (
      await app.inject({ method: 'POST', url: '/manipulate?format=json', ...json({ image: img, edits: edit(1), passes: 1 }) })
    ).json();
    t.equal(plain.passes, 1, 'one pass by default');
    t.same(one.images, plain.images);
    // Two passes of 1 = an edit of 0.5, then an edit of 0.5 of the PNG it returned.
    const half = await app.inject({ method: 'POST', url: '/manipulate', ...json({ image: img, edits: edit(0.5) }) });
    const halfAgain = (
      await app.inject({
        method: 'POST',
        url: '/manipulate?format=json',
        ...json({ image: half.rawPayload.toString('base64'), edits: edit(0.5) }),
      })
    ).json();
    const two = (
      await app.inject({ method: 'POST', url: '/manipulate?format=json', ...json({ image: img, edits: edit(1), passes: 2 }) })
    ).json();
    t.equal(two.passes, 2);
    t.same(two.alphas, [[1]], 'alphas are the whole edit');
    t.same(two.images, halfAgain.images);
    t.same(two.latents, halfAgain.latents, 'the latents of the last pass');
    t.notSame(two.images, plain.images, 'not the edit in one pass');
    // A strip in passes, from a form: the middle image (α = 0) is the input after three round trips.
    const strip = await app.inject({
      method: 'POST',
      url: '/manipulate',
      ...(await multipart([
        ['image', { data: input }],
        ['attribute', 'zero'],
        ['alpha', '1'],
        ['steps', '3'],
        ['passes', '3'],
      ])),
    });
    t.equal(strip.statusCode, 200);
    t.equal(strip.headers['x-image-count'], '3');
    const { pixels, width } = await decodePng(strip.rawPayload);
    const middle = Buffer.alloc(28 * 28);
    for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) middle[y * 28 + x] = pixels[(2 + y) * width + 2 + 30 + x];
    t.same(middle, Buffer.from(mnistImage(3)));
  });

  t.test('?fit=true: the photo is fitted first; JSON returns the fitted image, PNG replies carry it in headers', async (t) => {
    const photo = (await digitPhoto(mnistImage(3), 3)).bytes.toString('base64');
    const body = { image: photo, edits: [{ attribute: 'zero', alpha: 0 }] };
    const res = await app.inject({ method: 'POST', url: '/manipulate?fit=true&format=json', ...json(body) });
    t.equal(res.statusCode, 200);
    const { fitted, images } = res.json();
    t.equal(fitted.inverted, true);
    // alpha 0: the output is the fitted image itself (the model's round trip is exact on it).
    t.same((await decodePng(Buffer.from(images[0], 'base64'))).pixels, (await decodePng(Buffer.from(fitted.image, 'base64'))).pixels);
    const png = await app.inject({ method: 'POST', url: '/manipulate?fit=true', ...json(body) });
    t.equal(png.headers['content-type'], 'image/png');
    const [info] = JSON.parse(String(png.headers['x-fitted']));
    t.same(info, { inverted: fitted.inverted, box: fitted.box, scale: fitted.scale, shift: fitted.shift });
    t.equal(png.headers['x-fitted-images'], fitted.image);
    const unfitted = await app.inject({ method: 'POST', url: '/manipulate', ...json(body) });
    t.notOk('x-fitted' in unfitted.headers);
  });

  t.test('bad requests', async (t) => {
    const img = input.toString('base64');
    const cases: [string, object, number, RegExp][] = [
      ['unknown attribute', json({ image: img, edits: [{ attribute: 'smile', alpha: 1 }] }), 404, /unknown attribute "smile"/],
      ['alpha too big', json({ image: img, edits: [{ attribute: 'zero', alpha: 11 }] }), 400, /alpha must be <= 10/],
      ['no edits', json({ image: img, edits: [] }), 400, /fewer than 1/],
      ['steps 100', json({ image: img, edits: [{ attribute: 'zero', alpha: 1 }], steps: 100 }), 400, /steps must be <= 64/],
      ['passes 0', json({ image: img, edits: [{ attribute: 'zero', alpha: 1 }], passes: 0 }), 400, /passes must be >= 1/],
      ['passes 33', json({ image: img, edits: [{ attribute: 'zero', alpha: 1 }], passes: 33 }), 400, /passes must be <= 32/],
      ['passes 1.5', json({ image: img, edits: [{ attribute: 'zero', alpha: 1 }], passes: 1.5 }), 400, /passes must be integer/],
      [
        'form: passes 40',
        await multipart([
          ['image', { data: input }],
          ['attribute', 'zero'],
          ['alpha', '1'],
          ['passes', '40'],
        ]),
        400,
        /field "passes"/,
      ],
      ['bad attribute name', json({ image: img, edits: [{ attribute: '../etc', alpha: 1 }] }), 400, /not a valid attribute name/],
      ['image and latent', json({ image: img, latent: [1], edits: [{ attribute: 'zero', alpha: 1 }] }), 400, /exactly one/],
      [
        'form: unknown attribute',
        await multipart([
          ['image', { data: input }],
          ['attribute', 'nope'],
          ['alpha', '1'],
        ]),
        404,
        /unknown attribute "nope"/,
      ],
      [
        'form: alpha NaN',
        await multipart([
          ['image', { data: input }],
          ['attribute', 'zero'],
          ['alpha', 'NaN'],
        ]),
        400,
        /field "alpha" must be a number/,
      ],
      [
        'form: alpha missing',
        await multipart([
          ['image', { data: input }],
          ['attribute', 'zero'],
        ]),
        400,
        /missing field "alpha"/,
      ],
      [
        'form: duplicate alpha',
        await multipart([
          ['image', { data: input }],
          ['attribute', 'zero'],
          ['alpha', '1'],
          ['alpha', '2'],
        ]),
        400,
        /more than once/,
      ],
      [
        'form: bad edits JSON',
        await multipart([
          ['image', { data: input }],
          ['edits', '[{'],
        ]),
        400,
        /not valid JSON/,
      ],
      [
        'form: edits wrong shape',
        await multipart([
          ['image', { data: input }],
          ['edits', '[{"attribute":"zero","alpha":"big"}]'],
        ]),
        400,
        /field "edits"/,
      ],
      [
        'form: no image',
        await multipart([
          ['attribute', 'zero'],
          ['alpha', '1'],
        ]),
        400,
        /no file field "image"/,
      ],
    ];
    for (const [name, req, status, message] of cases) {
      const res = await app.inject({ method: 'POST', url: '/manipulate', ...req });
      t.equal(res.statusCode, status, name);
      t.match(res.json().message, message, `${name}: ${res.json().message}`);
    }
  });
});
