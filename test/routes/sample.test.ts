import t from 'tap';
import { decodePng, makeApp } from '../fixtures/app.ts';

t.test('GET /sample', async (t) => {
  const app = await makeApp(t);

  t.test('one PNG at the model size by default', async (t) => {
    const res = await app.inject('/sample?t=0.7&seed=1');
    t.equal(res.statusCode, 200);
    t.equal(res.headers['content-type'], 'image/png');
    t.equal(res.headers['x-seed'], '1');
    const img = await decodePng(res.rawPayload);
    t.same([img.width, img.height, img.channels], [28, 28, 1]);
  });

  t.test('a grid when n > 1, and scale upsizes', async (t) => {
    const res = await app.inject('/sample?n=4&seed=2');
    const img = await decodePng(res.rawPayload);
    // 2×2 tiles of 28 with 2 px padding: 2·28 + 3·2 = 62
    t.same([img.width, img.height], [62, 62]);
    const big = await decodePng((await app.inject('/sample?seed=2&scale=4')).rawPayload);
    t.same([big.width, big.height], [112, 112]);
  });

  t.test('the same seed gives byte-identical images, another seed different ones', async (t) => {
    const a = await app.inject('/sample?t=0.7&n=3&seed=42');
    const b = await app.inject('/sample?t=0.7&n=3&seed=42');
    const c = await app.inject('/sample?t=0.7&n=3&seed=43');
    t.ok(a.rawPayload.equals(b.rawPayload));
    t.notOk(a.rawPayload.equals(c.rawPayload));
  });

  t.test('JSON with Accept: application/json: images, latents, seed', async (t) => {
    const res = await app.inject({ url: '/sample?t=0.5&n=2&seed=7', headers: { accept: 'application/json' } });
    t.equal(res.statusCode, 200);
    t.match(res.headers['content-type'], /^application\/json/);
    const body = res.json();
    t.equal(body.seed, 7);
    t.equal(body.t, 0.5);
    t.equal(body.images.length, 2);
    t.equal(body.latents.length, 2);
    t.equal(body.latents[0].length, 784);
    const png = await decodePng(Buffer.from(body.images[0], 'base64'));
    t.equal(png.width, 28);
    // The JSON images are the same as the PNG reply's for that seed.
    const single = await app.inject({ url: '/sample?t=0.5&n=2&seed=7&format=json' });
    t.same(single.json().images, body.images);
  });

  t.test('t=0 gives the mean image: every seed the same', async (t) => {
    const a = await app.inject('/sample?t=0&seed=1');
    const b = await app.inject('/sample?t=0&seed=2');
    t.ok(a.rawPayload.equals(b.rawPayload));
  });

  t.test('without a seed a random one is chosen and reported', async (t) => {
    const res = await app.inject({ url: '/sample', headers: { accept: 'application/json' } });
    const { seed } = res.json();
    t.ok(Number.isInteger(seed) && seed >= 0);
    const again = await app.inject({ url: `/sample?seed=${seed}`, headers: { accept: 'application/json' } });
    t.same(again.json().latents, res.json().latents);
  });

  t.test('out-of-range or malformed parameters are 400 with a message', async (t) => {
    for (const q of [
      't=-0.1',
      't=1.6',
      't=abc',
      'n=0',
      'n=65',
      'n=1.5',
      'seed=-1',
      'seed=4294967296',
      'seed=x',
      'format=gif',
      'scale=17',
    ]) {
      const res = await app.inject(`/sample?${q}`);
      t.equal(res.statusCode, 400, q);
      const body = res.json();
      t.equal(body.error, 'Bad Request', q);
      t.match(body.message, /querystring\//, q);
    }
  });
});
