import t from 'tap';
import { UnavailableError } from '../../src/server/errors.ts';
import { InferenceClient } from '../../src/server/inference-client.ts';
import { makeApp, tinyModelDir } from '../fixtures/app.ts';

t.test('a crashed worker is respawned; readyz is 503 meanwhile and requests succeed after', async (t) => {
  const app = await makeApp(t);
  const before = (await app.inject('/sample?seed=4')).rawPayload;
  const restarted = new Promise((r) => app.models.get().client.once('ready', r));
  // Simulate a crash: kill the worker thread behind the client's back.
  await (app.models.get().client as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
  t.equal((await app.inject('/readyz')).statusCode, 503);
  // Queued work waits for the new worker rather than failing.
  const during = app.inject('/sample?seed=4');
  await restarted;
  t.equal((await app.inject('/readyz')).statusCode, 200);
  const res = await during;
  t.equal(res.statusCode, 200);
  t.ok(res.rawPayload.equals(before), 'same model, same images');
});

t.test('a call that exceeds the timeout fails with 503 and the worker is replaced', async (t) => {
  const log: string[] = [];
  const client = new InferenceClient({ modelDir: await tinyModelDir(), backend: 'cpu', callTimeoutMs: 1, restartDelayMs: 10, log: (_l, m) => log.push(m) });
  t.teardown(() => client.close());
  await client.whenReady();
  const err = await client.decode(1, new Float32Array(784)).catch((e) => e);
  t.type(err, UnavailableError);
  t.match(log.join('\n'), /did not answer within 1 ms/);
  await client.whenReady();
  t.ok(client.ready, 'a new worker is ready');
});
