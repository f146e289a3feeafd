import { cpSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { encodeBuiltinAttributes, weightsFingerprint } from '../../src/attributes/builtin.ts';
import { json, makeApp, mnistPng, multipart, tempDir, tinyModelDir } from '../fixtures/app.ts';
import { mnistImage, mnistOfDigit } from '../fixtures/mnist.ts';
import { digitPhoto } from '../../src/eval/digit-photo.ts';

const b64 = async (i: number) => (await mnistPng(i)).toString('base64');

t.test('an attribute built with POST survives a restart, is listed, then deleted', async (t) => {
  const dataDir = tempDir(t);
  const first = await makeApp(t, { dataDir });
  const positive = await Promise.all(mnistOfDigit(1, 3).map(b64));
  const negative = await Promise.all(mnistOfDigit(8, 3).map(b64));
  const res = await first.inject({
    method: 'POST',
    url: '/attributes',
    ...json({ name: 'thin', positive, negative, description: 'ones minus eights' }),
  });
  t.equal(res.statusCode, 201);
  const created = res.json();
  t.equal(res.headers.location, '/attributes/thin');
  t.match(created, { name: 'thin', source: 'user', positive: 3, negative: 3, description: 'ones minus eights' });
  t.ok(created.norm > 0);
  t.ok(!Number.isNaN(Date.parse(created.createdAt)));
  const vector = (await first.inject('/attributes/thin?vector=true')).json().vector;
  t.equal(vector.length, 784);
  await first.close();

  const second = await makeApp(t, { dataDir });
  const list = (await second.inject('/attributes')).json();
  t.equal(list.model, second.models.defaultName);
  t.same(
    list.attributes.map((a: { name: string }) => a.name),
    ['thin'],
  );
  const again = (await second.inject('/attributes/thin?vector=true')).json();
  t.same(again.vector, vector, 'exactly the same vector after the restart');
  t.notOk('vector' in (await second.inject('/attributes/thin')).json(), 'no vector unless asked');
  t.equal((await second.inject({ method: 'DELETE', url: '/attributes/thin' })).statusCode, 204);
  t.equal((await second.inject('/attributes/thin')).statusCode, 404);
  t.equal((await second.inject({ method: 'DELETE', url: '/attributes/thin' })).statusCode, 404);
  t.same((await second.inject('/attributes')).json().attributes, []);
});

t.test('the direction is mean ε(positive) − mean ε(negative); latents and multipart work', async (t) => {
  const app = await makeApp(t);
  const z = (await app.inject({ url: '/sample?n=4&seed=11', headers: { accept: 'application/json' } })).json().latents as number[][];
  const res = await app.inject({
    method: 'POST',
    url: '/attributes',
    ...json({ name: 'from-latents', positive: [z[0], z[1]], negative: [z[2], z[3]] }),
  });
  t.equal(res.statusCode, 201);
  const v = (await app.inject('/attributes/from-latents?vector=true')).json().vector as number[];
  const err = Math.max(...v.map((x, i) => Math.abs(x - ((z[0][i] + z[1][i]) / 2 - (z[2][i] + z[3][i]) / 2))));
  t.ok(err < 1e-5, `max error ${err}`);

  const form = await multipart([
    ['name', 'form-made'],
    ...(await Promise.all(mnistOfDigit(0, 2).map(async (i) => ['positive', { data: await mnistPng(i) }] as [string, { data: Buffer }]))),
    ...(await Promise.all(mnistOfDigit(6, 2).map(async (i) => ['negative', { data: await mnistPng(i) }] as [string, { data: Buffer }]))),
  ]);
  const viaForm = await app.inject({ method: 'POST', url: '/attributes', ...form });
  t.equal(viaForm.statusCode, 201);
  t.match(viaForm.json(), { name: 'form-made', positive: 2, negative: 2 });
});

t.test('?fit=true fits every image of both sets and says what it did to each', async (t) => {
  const app = await makeApp(t);
  const photos = await Promise.all([0, 1].map(async (i) => (await digitPhoto(mnistImage(i), i)).bytes.toString('base64')));
  const z = (await app.inject({ url: '/sample?n=1&seed=5', headers: { accept: 'application/json' } })).json().latents[0];
  const body = { name: 'fitted-photos', positive: photos, negative: [z, await b64(2)] };
  const res = await app.inject({ method: 'POST', url: '/attributes?fit=true', ...json(body) });
  t.equal(res.statusCode, 201);
  const { fitted } = res.json();
  t.same(
    fitted.positive.map((f: { inverted: boolean }) => f.inverted),
    [true, true],
    'the photos were inverted',
  );
  t.equal(fitted.negative[0], null, 'a latent is not fitted');
  t.equal(fitted.negative[1].inverted, false);
  const unfitted = await app.inject({ method: 'POST', url: '/attributes?replace=true', ...json(body) });
  t.notOk('fitted' in unfitted.json());
  const a = (await app.inject('/attributes/fitted-photos?vector=true')).json().vector as number[];
  t.notOk('fitted' in (await app.inject('/attributes/fitted-photos')).json(), 'not stored');
  // The unfitted photos land elsewhere: the stored vector is the one of the last request.
  const again = await app.inject({ method: 'POST', url: '/attributes?fit=true&replace=true', ...json(body) });
  const b = (await app.inject('/attributes/fitted-photos?vector=true')).json().vector as number[];
  t.equal(again.statusCode, 200);
  t.ok(Math.max(...a.map((v, i) => Math.abs(v - b[i]))) > 0.1, 'fitting changes the direction');
});

t.test('conflicts, replace and bad input', async (t) => {
  const app = await makeApp(t);
  const img = await b64(0);
  const other = await b64(1);
  const make = (name: string, q = '') =>
    app.inject({ method: 'POST', url: `/attributes${q}`, ...json({ name, positive: [img], negative: [other] }) });
  t.equal((await make('dup')).statusCode, 201);
  const conflict = await make('dup');
  t.equal(conflict.statusCode, 409);
  t.match(conflict.json().message, /already exists; add \?replace=true/);
  const replaced = await app.inject({
    method: 'POST',
    url: '/attributes?replace=true',
    ...json({ name: 'dup', positive: [other], negative: [img] }),
  });
  t.equal(replaced.statusCode, 200);
  t.equal((await app.inject('/attributes')).json().attributes.length, 1);

  const cases: [string, object, number, RegExp][] = [
    ['path in name', json({ name: '../etc/passwd', positive: [img], negative: [other] }), 400, /not a valid attribute name/],
    [
      'SQL quote in name',
      json({ name: "x'; DROP TABLE attributes;--", positive: [img], negative: [other] }),
      400,
      /not a valid attribute name/,
    ],
    ['unicode name', json({ name: 'smilé', positive: [img], negative: [other] }), 400, /not a valid attribute name/],
    ['10 KB name', json({ name: 'a'.repeat(10_000), positive: [img], negative: [other] }), 400, /not a valid attribute name/],
    ['upper case', json({ name: 'Smile', positive: [img], negative: [other] }), 400, /not a valid attribute name/],
    ['empty positive set', json({ name: 'e', positive: [], negative: [other] }), 400, /fewer than 1/],
    ['latent of wrong length', json({ name: 'w', positive: [[1, 2, 3]], negative: [other] }), 400, /positive\[0\] has 3 values/],
    ['null in set', json({ name: 'n', positive: [null], negative: [other] }), 400, /must be/],
    [
      'form: bad name',
      await multipart([
        ['name', '../x'],
        ['positive', { data: Buffer.from(img, 'base64') }],
        ['negative', { data: Buffer.from(other, 'base64') }],
      ]),
      400,
      /not a valid attribute name/,
    ],
    [
      'form: empty negative',
      await multipart([
        ['name', 'ok'],
        ['positive', { data: Buffer.from(img, 'base64') }],
      ]),
      400,
      /negative set is empty/,
    ],
    [
      'form: not an image',
      await multipart([
        ['name', 'ok'],
        ['positive', { data: Buffer.from('nope') }],
        ['negative', { data: Buffer.from(other, 'base64') }],
      ]),
      415,
      /positive file #1 is not a readable image/,
    ],
  ];
  for (const [name, req, status, message] of cases) {
    const res = await app.inject({ method: 'POST', url: '/attributes', ...req });
    t.equal(res.statusCode, status, name);
    t.match(res.json().message, message, `${name}: ${res.json().message}`);
  }
  t.equal((await app.inject('/attributes/..%2Fetc')).statusCode, 400);
  t.equal((await app.inject({ method: 'DELETE', url: '/attributes/NOPE' })).statusCode, 400);
  t.equal((await app.inject('/attributes/missing')).statusCode, 404);
});

t.test('built-in attributes load from the checkpoint directory and are read-only', async (t) => {
  const modelDir = path.join(tempDir(t, 'glow-serve-model-copy-'), 'tiny');
  cpSync(await tinyModelDir(), modelDir, { recursive: true });
  const fingerprint = await weightsFingerprint(path.join(modelDir, 'weights.safetensors'));
  const vector = Float32Array.from({ length: 784 }, (_, i) => Math.sin(i));
  const record = {
    name: 'wavy',
    vector,
    positive: 10,
    negative: 12,
    norm: 0,
    createdAt: '2025-01-01T00:00:00.000Z',
    description: 'a test direction',
  };
  writeFileSync(path.join(modelDir, 'attributes.safetensors'), encodeBuiltinAttributes([record], fingerprint));

  const app = await makeApp(t, { modelDir });
  const list = (await app.inject('/attributes')).json().attributes;
  t.match(list, [{ name: 'wavy', source: 'builtin', positive: 10, negative: 12, description: 'a test direction' }]);
  const got = (await app.inject('/attributes/wavy?vector=true')).json();
  t.same(
    got.vector,
    Array.from(vector, (v) => Number(v.toPrecision(9))),
  );
  const del = await app.inject({ method: 'DELETE', url: '/attributes/wavy' });
  t.equal(del.statusCode, 403);
  t.match(del.json().message, /built in/);
  const replace = await app.inject({
    method: 'POST',
    url: '/attributes?replace=true',
    ...json({ name: 'wavy', positive: [await b64(0)], negative: [await b64(1)] }),
  });
  t.equal(replace.statusCode, 409);
  const edit = await app.inject({
    method: 'POST',
    url: '/manipulate',
    ...json({ image: await b64(2), edits: [{ attribute: 'wavy', alpha: 0.5 }] }),
  });
  t.equal(edit.statusCode, 200);
  await app.close();

  // Directions computed for other weights are ignored, not applied to the wrong latent space.
  writeFileSync(path.join(modelDir, 'attributes.safetensors'), encodeBuiltinAttributes([record], 'f'.repeat(64)));
  const stale = await makeApp(t, { modelDir });
  t.same((await stale.inject('/attributes')).json().attributes, []);
});
