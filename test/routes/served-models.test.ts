// Several models in one server: GET /models, ?model= on every route, attributes and metrics per model.
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { MANIFEST_FILE, WEIGHTS_FILE } from '../../src/glow/checkpoint.ts';
import { buildApp } from '../../src/server/app.ts';
import { loadConfig } from '../../src/server/config.ts';
import { json, mnistPng, tempDir, type Tap } from '../fixtures/app.ts';
import { makeTinyCheckpoint } from '../fixtures/model.ts';

async function twoModels(t: Tap): Promise<string> {
  const root = tempDir(t, 'glow-serve-models-');
  await makeTinyCheckpoint(path.join(root, 'alpha'), 'alpha', 7);
  await makeTinyCheckpoint(path.join(root, 'beta'), 'beta', 8);
  mkdirSync(path.join(root, 'not-a-checkpoint')); // no manifest: not listed
  return root;
}

t.test('GLOW_MODELS_DIR lists every checkpoint directory; GLOW_MODELS picks and orders them', async (t) => {
  const root = await twoModels(t);
  t.same(
    loadConfig({ GLOW_MODELS_DIR: root }).models.map((m) => m.name),
    ['alpha', 'beta'],
  );
  t.same(
    loadConfig({ GLOW_MODELS_DIR: root, GLOW_DEFAULT_MODEL: 'beta' }).models.map((m) => m.name),
    ['beta', 'alpha'],
    'GLOW_DEFAULT_MODEL leads the listing',
  );
  const picked = loadConfig({ GLOW_MODELS_DIR: root, GLOW_MODELS: 'beta,alpha' }).models;
  t.same(picked, [
    { name: 'beta', dir: path.join(root, 'beta') },
    { name: 'alpha', dir: path.join(root, 'alpha') },
  ]);
  t.throws(() => loadConfig({ GLOW_MODELS_DIR: root, GLOW_MODELS: 'alpha,alpha' }), /twice/);
  t.throws(() => loadConfig({ GLOW_MODELS: 'Bad Name' }), /must match/);
});

t.test('one server, two models', async (t) => {
  const root = await twoModels(t);
  const app = await buildApp({ config: { ...loadConfig({ GLOW_MODELS_DIR: root }), dataDir: tempDir(t) }, waitForModel: true });
  t.teardown(() => app.close());

  const list = (await app.inject('/models')).json();
  t.equal(list.default, 'alpha');
  t.same(
    list.models.map((m: { model: string; state: string; default: boolean; name: string }) => [m.model, m.state, m.default, m.name]),
    [
      ['alpha', 'ready', true, 'alpha'],
      ['beta', 'ready', false, 'beta'],
    ],
  );
  t.equal(list.models[1].latentDim, 784);

  t.equal((await app.inject('/model')).json().model, 'alpha', 'no ?model= is the default');
  t.equal((await app.inject('/model?model=beta')).json().model, 'beta');
  const unknown = await app.inject('/sample?model=gamma');
  t.equal(unknown.statusCode, 404);
  t.match(unknown.json().message, /unknown model "gamma".*alpha, beta/);
  t.equal((await app.inject('/sample?model=alpha&model=beta')).statusCode, 400, 'model given twice');
  // Routes that use no model ignore the parameter: a bookmark with a removed model still loads the page.
  for (const url of ['/?model=gamma', '/healthz?model=gamma', '/models?model=gamma']) t.equal((await app.inject(url)).statusCode, 200, url);

  // Different weights, different samples for one seed; each model is deterministic.
  const sample = async (model: string) => (await app.inject(`/sample?model=${model}&seed=5&format=json`)).json().images[0];
  t.not(await sample('alpha'), await sample('beta'));
  t.equal(await sample('beta'), await sample('beta'));

  // Encode goes through the named model: beta's latent decodes back to the same pixels in beta only.
  const png = await mnistPng(3);
  const enc = async (model: string) =>
    (await app.inject({ method: 'POST', url: `/encode?model=${model}`, payload: png, headers: { 'content-type': 'image/png' } })).json();
  const [a, b] = [await enc('alpha'), await enc('beta')];
  t.equal(b.model, 'beta');
  t.not(a.items[0].latent[0], b.items[0].latent[0], 'each model has its own latents');

  // Attributes belong to one model.
  const created = await app.inject({
    method: 'POST',
    url: '/attributes?model=beta',
    ...json({ name: 'only-beta', positive: [b.items[0].latent], negative: [new Array(784).fill(0)] }),
  });
  t.equal(created.statusCode, 201);
  t.same(
    (await app.inject('/attributes?model=beta')).json().attributes.map((x: { name: string }) => x.name),
    ['only-beta'],
  );
  t.same((await app.inject('/attributes')).json().attributes, [], 'alpha does not see it');
  t.equal(
    (
      await app.inject({
        method: 'POST',
        url: '/manipulate',
        ...json({ latent: a.items[0].latent, edits: [{ attribute: 'only-beta', alpha: 1 }] }),
      })
    ).statusCode,
    404,
  );
  const edited = await app.inject({
    method: 'POST',
    url: '/manipulate?model=beta',
    ...json({ latent: b.items[0].latent, edits: [{ attribute: 'only-beta', alpha: 1 }] }),
  });
  t.equal(edited.statusCode, 200);

  // Metrics: per-model series for both.
  const text = (await app.inject('/metrics')).payload;
  t.match(text, /glow_model_info\{model="alpha",name="alpha"/);
  t.match(text, /glow_model_info\{model="beta",name="beta"/);
  t.match(text, /glow_images_processed_total\{model="beta",operation="encode"\} 1/);
  t.match(text, /glow_attributes\{model="beta",source="user"\} 1/);
  t.match(text, /glow_attributes\{model="alpha",source="user"\} 0/);
  t.match(text, /glow_worker_tensors\{model="alpha"\} [1-9]/);
  t.match(text, /http_request_duration_seconds_count\{route="\/sample",method="GET",status_code="200",model="beta"\}/);
  t.same((await app.inject('/readyz')).json(), { status: 'ready' });
});

t.test('a model that cannot load: listed as failed, the server not ready, the other model still serves', async (t) => {
  const root = await twoModels(t);
  mkdirSync(path.join(root, 'broken'));
  const config = { ...loadConfig({ GLOW_MODELS_DIR: root, GLOW_MODELS: `alpha,${path.join(root, 'broken')}` }), dataDir: tempDir(t) };
  const app = await buildApp({ config });
  t.teardown(() => app.close());
  await t.rejects(app.models.ready);
  await app.models.get('alpha').ready;
  const list = (await app.inject('/models')).json();
  t.same(
    list.models.map((m: { model: string; state: string }) => [m.model, m.state]),
    [
      ['alpha', 'ready'],
      ['broken', 'failed'],
    ],
  );
  t.match(list.models[1].message, /could not be loaded/);
  t.notMatch(list.models[1].message, root, 'no server path in what clients see');
  t.equal((await app.inject('/readyz')).statusCode, 503);
  const broken = await app.inject('/sample?model=broken');
  t.equal(broken.statusCode, 503);
  t.equal(broken.json().code, 'MODEL_FAILED', 'told apart from a model that is still loading');
  t.notMatch(broken.json().message, root);
  t.equal((await app.inject('/sample')).statusCode, 200);
});

/** Replaces the checkpoint files in `dir` with those of a fresh tiny model of another seed (what a trainer's save does). */
async function retrain(t: Tap, dir: string, seed: number): Promise<void> {
  const other = await makeTinyCheckpoint(path.join(tempDir(t, 'glow-serve-retrained-'), 'm'), path.basename(dir), seed);
  for (const f of [WEIGHTS_FILE, MANIFEST_FILE]) copyFileSync(path.join(other, f), path.join(dir, f));
}

t.test('POST /models/:model/reload: new weights without downtime; requests already running finish on the old ones', async (t) => {
  const root = await twoModels(t);
  const app = await buildApp({ config: { ...loadConfig({ GLOW_MODELS_DIR: root }), dataDir: tempDir(t) }, waitForModel: true });
  t.teardown(() => app.close());
  const before = (await app.inject('/model')).json();
  const sampleBefore = (await app.inject('/sample?seed=3')).rawPayload;
  const old = app.models.get('alpha');

  await retrain(t, path.join(root, 'alpha'), 99);
  t.ok(
    (await app.inject('/sample?seed=3')).rawPayload.equals(sampleBefore),
    'files replaced on disk: still the loaded weights until a reload',
  );

  // Traffic during the reload: every request is answered, by one set of weights or the other.
  const png = await mnistPng(2);
  const traffic = Array.from({ length: 24 }, (_, i) =>
    i % 2
      ? app.inject('/sample?seed=3')
      : app.inject({
          method: 'POST',
          url: '/interpolate',
          ...json({ from: { image: png.toString('base64') }, to: { image: png.toString('base64') }, steps: 3 }),
        }),
  );
  const res = await app.inject({ method: 'POST', url: '/models/alpha/reload' });
  t.equal(res.statusCode, 200, res.payload);
  const body = res.json();
  t.equal(body.model, 'alpha');
  t.equal(body.previous.checkpoint, before.checkpoint);
  t.not(body.current.checkpoint, before.checkpoint, 'new weights');
  t.ok(body.seconds > 0);
  const codes = (await Promise.all(traffic)).map((r) => r.statusCode);
  t.same([...new Set(codes)], [200], 'no request failed during the reload');

  t.equal((await app.inject('/model')).json().checkpoint, body.current.checkpoint);
  t.notOk((await app.inject('/sample?seed=3')).rawPayload.equals(sampleBefore), 'new weights, new samples');
  t.equal(
    (await app.inject('/model?model=beta')).json().checkpoint,
    (await app.inject('/models')).json().models[1].checkpoint,
    'the other model is untouched',
  );
  t.same((await app.inject('/readyz')).json(), { status: 'ready' });
  // The old load closes once its requests are done.
  for (let i = 0; i < 100 && old.client.ready; i++) await new Promise((r) => setTimeout(r, 50));
  t.notOk(old.client.ready, 'the previous worker is closed');
  const text = (await app.inject('/metrics')).payload;
  t.match(text, /glow_model_reloads_total\{model="alpha",result="ok"\} 1/);
  t.match(text, /glow_model_steps\{model="alpha"\} 0/);

  t.equal((await app.inject({ method: 'POST', url: '/models/gamma/reload' })).statusCode, 404);
  const [a, b] = await Promise.all([
    app.inject({ method: 'POST', url: '/models/beta/reload' }),
    app.inject({ method: 'POST', url: '/models/beta/reload' }),
  ]);
  t.same([a.statusCode, b.statusCode].sort(), [200, 409], 'one reload of a model at a time');
});

t.test('a reload whose checkpoint cannot be loaded changes nothing', async (t) => {
  const root = await twoModels(t);
  const app = await buildApp({
    config: { ...loadConfig({ GLOW_MODELS_DIR: root }), dataDir: tempDir(t), adminToken: 'a-long-admin-token-123' },
    waitForModel: true,
  });
  t.teardown(() => app.close());
  const before = (await app.inject('/model')).json().checkpoint;
  writeFileSync(path.join(root, 'alpha', WEIGHTS_FILE), 'not safetensors');
  t.equal((await app.inject({ method: 'POST', url: '/models/alpha/reload' })).statusCode, 401, 'needs the admin token when one is set');
  const res = await app.inject({
    method: 'POST',
    url: '/models/alpha/reload',
    headers: { authorization: 'Bearer a-long-admin-token-123' },
  });
  t.equal(res.statusCode, 500);
  t.equal(res.json().code, 'RELOAD_FAILED');
  t.match(res.json().message, /could not be reloaded: .*safetensors.*; still serving the checkpoint of step 0/);
  t.notMatch(res.json().message, root, 'no server path in what clients see');
  t.equal((await app.inject('/model')).json().checkpoint, before);
  t.equal((await app.inject('/sample')).statusCode, 200);
  t.same((await app.inject('/readyz')).json(), { status: 'ready' });
  t.match((await app.inject('/metrics')).payload, /glow_model_reloads_total\{model="alpha",result="failed"\} 1/);
});

t.test('a reload is refused while the model is still loading, and one cut short by shutdown leaves no worker behind', async (t) => {
  const root = await twoModels(t);
  const config = { ...loadConfig({ GLOW_MODELS_DIR: root }), dataDir: tempDir(t) };
  const app = await buildApp({ config });
  const early = await app.inject({ method: 'POST', url: '/models/alpha/reload' });
  t.equal(early.statusCode, 409);
  t.match(early.json().message, /still loading/);
  await app.models.ready;
  // Shut down while a reload is warming its new worker: the reload fails with 503 and the new
  // worker is closed with the rest (were it left running, this test process would never exit).
  const reloading = app.models.reload('alpha').then(
    () => undefined,
    (err: { kind?: string }) => err,
  );
  await app.close();
  t.equal((await reloading)?.kind, 'unavailable', 'unavailable: a 503 once mapped to HTTP');
});
