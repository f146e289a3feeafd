import t from 'tap';
import sharp from 'sharp';
import { decodePng, json, makeApp, mnistPng, multipart } from '../fixtures/app.ts';
import { pngHeaderOnly } from '../fixtures/images.ts';
import { mnistImage } from '../fixtures/mnist.ts';
import { digitPhoto } from '../../src/eval/digit-photo.ts';

t.test('POST /encode', async (t) => {
  const app = await makeApp(t);
  const png0 = await mnistPng(0);

  t.test('multipart file -> latent of latentDim and a bpd', async (t) => {
    const res = await app.inject({ method: 'POST', url: '/encode', ...(await multipart([['image', { data: png0 }]])) });
    t.equal(res.statusCode, 200);
    const body = res.json();
    t.equal(body.model, app.models.defaultName, 'the name ?model= takes');
    t.equal(body.items.length, 1);
    const [item] = body.items;
    t.equal(item.latent.length, 784);
    t.ok(item.latent.every(Number.isFinite));
    t.ok(item.bpd > 0 && item.bpd < 9, `bpd ${item.bpd}`);
    t.equal(item.resized, false);
    t.same(item.original, { width: 28, height: 28, format: 'png' });
  });

  t.test('?verify=true decodes each latent again and says how far it lands from the image', async (t) => {
    const pngs = [png0, await mnistPng(1)];
    const plain = (
      await app.inject({ method: 'POST', url: '/encode', ...(await multipart(pngs.map((data) => ['image', { data }]))) })
    ).json();
    t.notOk('roundTrip' in plain.items[0], 'not without asking (it costs a decode)');
    const res = await app.inject({
      method: 'POST',
      url: '/encode?verify=true',
      ...(await multipart(pngs.map((data) => ['image', { data }]))),
    });
    t.equal(res.statusCode, 200);
    const items = res.json().items;
    t.same(
      items.map((i: { latent: number[] }) => i.latent),
      plain.items.map((i: { latent: number[] }) => i.latent),
      'the same latents',
    );
    for (const [i, item] of items.entries()) {
      // Compare with a decode of our own: the figures must describe what /decode gives for this latent.
      const back = await decodePng((await app.inject({ method: 'POST', url: '/decode', ...json({ latents: [item.latent] }) })).rawPayload);
      const want = mnistImage(i);
      const diffs = [...want].map((v, k) => Math.abs(v - back.pixels[k]));
      t.same(
        item.roundTrip,
        { exact: diffs.every((d) => d === 0), maxError: Math.max(...diffs), wrongValues: diffs.filter((d) => d > 0).length, nonFinite: 0 },
        `image ${i}: ${JSON.stringify(item.roundTrip)}`,
      );
    }
    t.equal(
      (await app.inject({ method: 'POST', url: '/encode?verify=maybe', payload: png0, headers: { 'content-type': 'image/png' } }))
        .statusCode,
      400,
    );
  });

  // An image out of range is checked by a decode on ONNX Runtime and re-encoded in float64 only if it
  // does not come back; the TF.js engine re-encodes every such image. Either way it comes back.
  t.test('an image whose latent leaves [−5, 5] comes back, and the float64 pass is counted in /metrics', async (t) => {
    // Salt and pepper is far from any digit; digit 1 is a test digit.
    const noise = Buffer.from(Array.from({ length: 784 }, (_, i) => ((i * 7919) % 13 < 6 ? 255 : 0)));
    const salt = await sharp(noise, { raw: { width: 28, height: 28, channels: 1 } })
      .png()
      .toBuffer();
    const pngs = [salt, await mnistPng(1)];
    for (const engine of ['onnx', 'tfjs'] as const) {
      const served = engine === 'onnx' ? app : await makeApp(t, { engine });
      const count = async () => {
        const m = (await served.inject('/metrics')).body.match(/^glow_encode_second_pass_images_total\{[^}]*\} (\d+)/m);
        return m ? Number(m[1]) : 0;
      };
      const before = await count();
      const res = await served.inject({
        method: 'POST',
        url: '/encode?verify=true',
        ...(await multipart(pngs.map((data) => ['image', { data }]))),
      });
      t.equal(res.statusCode, 200);
      const items = res.json().items as { latent: number[]; roundTrip: { exact: boolean } }[];
      t.ok(
        items[0].latent.some((v) => Math.abs(v) > 5),
        `${engine}: salt and pepper leaves the range`,
      );
      // A float32 value is printed with 9 significant digits; a float64 one whole.
      const float64 = items.filter((it) => it.latent.some((v) => Number(Math.fround(v).toPrecision(9)) !== v)).length;
      t.equal((await count()) - before, float64, `${engine}: the counter went up by the ${float64} image(s) encoded in float64`);
      if (engine === 'tfjs') t.ok(float64 >= 1, 'tfjs: salt and pepper was');
      t.ok(
        items.every((it) => it.roundTrip.exact),
        `${engine}: every image comes back exactly`,
      );
    }
  });

  t.test('raw image/png body and JSON base64 give the same latent', async (t) => {
    const viaForm = (await app.inject({ method: 'POST', url: '/encode', ...(await multipart([['image', { data: png0 }]])) })).json();
    const raw = await app.inject({ method: 'POST', url: '/encode', payload: png0, headers: { 'content-type': 'image/png' } });
    t.equal(raw.statusCode, 200);
    t.same(raw.json(), viaForm);
    const viaJson = await app.inject({
      method: 'POST',
      url: '/encode',
      ...json({ images: [`data:image/png;base64,${png0.toString('base64')}`] }),
    });
    t.same(viaJson.json(), viaForm);
  });

  t.test('several files come back in order, each as if encoded alone', async (t) => {
    const pngs = await Promise.all([1, 2, 3].map(mnistPng));
    const res = await app.inject({ method: 'POST', url: '/encode', ...(await multipart(pngs.map((data) => ['image', { data }]))) });
    const items = res.json().items;
    t.equal(items.length, 3);
    for (let i = 0; i < 3; i++) {
      const alone = (
        await app.inject({ method: 'POST', url: '/encode', payload: pngs[i], headers: { 'content-type': 'image/png' } })
      ).json().items[0];
      const maxDiff = Math.max(...alone.latent.map((v: number, j: number) => Math.abs(v - items[i].latent[j])));
      t.ok(maxDiff < 1e-4, `image ${i}: batched vs alone differ by ${maxDiff}`);
      t.ok(Math.abs(alone.bpd - items[i].bpd) < 1e-4);
    }
  });

  t.test('encode -> decode reproduces the image exactly after 8-bit quantisation', async (t) => {
    for (const i of [0, 7, 42]) {
      const enc = (
        await app.inject({ method: 'POST', url: '/encode', payload: await mnistPng(i), headers: { 'content-type': 'image/png' } })
      ).json();
      const dec = await app.inject({ method: 'POST', url: '/decode', ...json({ latents: [enc.items[0].latent] }) });
      t.equal(dec.statusCode, 200);
      const { pixels } = await decodePng(dec.rawPayload);
      t.same(Buffer.from(pixels), Buffer.from(mnistImage(i)), `MNIST test image ${i}`);
    }
  });

  t.test('other sizes, colour, JPEG and WebP are converted and resized is reported', async (t) => {
    const big = await sharp(Buffer.from(mnistImage(3)), { raw: { width: 28, height: 28, channels: 1 } })
      .resize(56, 70)
      .toColourspace('srgb')
      .jpeg()
      .toBuffer();
    const res = await app.inject({ method: 'POST', url: '/encode', payload: big, headers: { 'content-type': 'image/jpeg' } });
    t.equal(res.statusCode, 200);
    t.equal(res.json().items[0].resized, true);
    t.same(res.json().items[0].original, { width: 56, height: 70, format: 'jpeg' });
    const webp = await sharp(png0).webp({ lossless: true }).toBuffer();
    const w = await app.inject({ method: 'POST', url: '/encode', payload: webp, headers: { 'content-type': 'image/webp' } });
    t.equal(w.statusCode, 200);
    t.equal(w.json().items[0].resized, false);
    // An RGBA image with a transparent background: alpha is flattened onto black.
    const rgba = await sharp({ create: { width: 28, height: 28, channels: 4, background: { r: 255, g: 255, b: 255, alpha: 0 } } })
      .png()
      .toBuffer();
    const a = await app.inject({ method: 'POST', url: '/encode', payload: rgba, headers: { 'content-type': 'image/png' } });
    t.equal(a.statusCode, 200);
  });

  t.test('?fit=true fits a photo of a digit to MNIST, says what it did and returns what the model saw', async (t) => {
    const photo = await digitPhoto(mnistImage(5), 5);
    const type = photo.bytes[0] === 0xff ? 'image/jpeg' : 'image/png';
    const plain = (await app.inject({ method: 'POST', url: '/encode', payload: photo.bytes, headers: { 'content-type': type } })).json()
      .items[0];
    t.notOk('fitted' in plain, 'not without asking');
    const res = await app.inject({ method: 'POST', url: '/encode?fit=true', payload: photo.bytes, headers: { 'content-type': type } });
    t.equal(res.statusCode, 200);
    const item = res.json().items[0];
    t.match(item.fitted, {
      inverted: true,
      box: { left: Number, top: Number, width: Number, height: Number },
      scale: Number,
      shift: { x: Number, y: Number },
    });
    t.same(item.original, { width: photo.width, height: photo.height, format: type.slice(6) });
    const fitted = await decodePng(Buffer.from(item.fitted.image, 'base64'));
    t.same([fitted.width, fitted.height, fitted.channels], [28, 28, 1]);
    // The latent is that of the fitted image: sending it back as it is gives the same one.
    const again = (
      await app.inject({
        method: 'POST',
        url: '/encode',
        payload: Buffer.from(item.fitted.image, 'base64'),
        headers: { 'content-type': 'image/png' },
      })
    ).json().items[0];
    t.same(again.latent, item.latent);
    t.ok(item.bpd < plain.bpd, `fitted ${item.bpd.toFixed(2)} bits/dim, unfitted ${plain.bpd.toFixed(2)}`);
    // Several images, multipart: each fitted on its own.
    const form = await multipart([
      ['image', { data: photo.bytes, type }],
      ['image', { data: png0 }],
    ]);
    const both = (await app.inject({ method: 'POST', url: '/encode?fit=true', ...form })).json().items;
    t.same(both[0].latent, item.latent);
    t.equal(both[1].fitted.inverted, false, 'an MNIST digit is not inverted');
  });

  t.test('?fit=true on a page with nothing on it is a 422; fit=maybe is a 400', async (t) => {
    const blank = await sharp({ create: { width: 300, height: 200, channels: 3, background: '#e0e0e0' } })
      .jpeg()
      .toBuffer();
    const res = await app.inject({ method: 'POST', url: '/encode?fit=true', payload: blank, headers: { 'content-type': 'image/jpeg' } });
    t.equal(res.statusCode, 422);
    t.match(res.json().message, /no digit to fit/);
    t.equal(
      (await app.inject({ method: 'POST', url: '/encode?fit=maybe', payload: png0, headers: { 'content-type': 'image/png' } })).statusCode,
      400,
    );
  });

  t.test('bad input gets a specific 4xx and the server keeps serving', async (t) => {
    const cases: [string, object, number, RegExp][] = [
      [
        'random bytes as PNG',
        { payload: Buffer.from('definitely not an image, just some text'), headers: { 'content-type': 'image/png' } },
        415,
        /not a readable image/,
      ],
      [
        'truncated PNG',
        { payload: png0.subarray(0, png0.length - 30), headers: { 'content-type': 'image/png' } },
        400,
        /corrupt or truncated/,
      ],
      ['empty body', { payload: Buffer.alloc(0), headers: { 'content-type': 'image/png' } }, 400, /empty/],
      ['text/plain', { payload: 'hello', headers: { 'content-type': 'text/plain' } }, 415, /./],
      ['GIF', { payload: await sharp(png0).gif().toBuffer(), headers: { 'content-type': 'image/png' } }, 415, /gif/],
      ['no images in JSON', json({ images: [] }), 400, /fewer than 1/],
      ['not base64', json({ images: ['%%%not base64%%%'] }), 400, /base64/],
      ['JSON latent instead of image', json({ images: [[1, 2, 3]] }), 400, /string/],
      ['wrong multipart field', await multipart([['picture', { data: png0 }]]), 400, /unexpected file field "picture"/],
      ['multipart without file', await multipart([]), 400, /the multipart body is empty: no fields or files/],
      [
        'too many files',
        await multipart(Array.from({ length: 65 }, () => ['image', { data: png0 }] as [string, { data: Buffer }])),
        413,
        /too many files/,
      ],
    ];
    for (const [name, req, status, message] of cases) {
      const res = await app.inject({ method: 'POST', url: '/encode', ...req });
      t.equal(res.statusCode, status, name);
      const body = res.json();
      t.equal(body.statusCode, status, name);
      t.match(body.message, message, `${name}: ${body.message}`);
    }
    t.equal((await app.inject('/healthz')).statusCode, 200);
  });

  t.test('a header claiming 50,000×50,000 pixels is refused before decoding', async (t) => {
    const bomb = pngHeaderOnly(50_000, 50_000);
    const res = await app.inject({ method: 'POST', url: '/encode', payload: bomb, headers: { 'content-type': 'image/png' } });
    t.equal(res.statusCode, 413);
    t.match(res.json().message, /50000×50000/);
  });

  t.test('a multipart body that ends early is a 400', async (t) => {
    const { payload, headers } = await multipart([['image', { data: png0 }]]);
    const res = await app.inject({ method: 'POST', url: '/encode', payload: payload.subarray(0, payload.length - 60), headers });
    t.equal(res.statusCode, 400);
    t.match(res.json().message, /multipart/);
  });
});
