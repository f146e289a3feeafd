// The real entry point over real HTTP: start, serve, and shut down gracefully on SIGTERM.
import { copyFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import t from 'tap';
import { mnistPng, tempDir, tinyModelDir } from '../fixtures/app.ts';
import { killHard, startServer } from '../fixtures/server-process.ts';
import { makeTinyCheckpoint } from '../fixtures/model.ts';
import { MANIFEST_FILE, WEIGHTS_FILE } from '../../src/glow/checkpoint.ts';

/**
 * Opens a raw connection, writes `chunks` (the last one is left hanging) and resolves with what the
 * server sent back and how long it kept the socket open.
 */
function rawClient(port: number, chunks: string[]): Promise<{ reply: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let reply = '';
    const s = net.connect(port, '127.0.0.1', () => {
      for (const c of chunks) s.write(c);
    });
    s.setEncoding('utf8');
    s.on('data', (d) => (reply += d));
    s.on('close', () => resolve({ reply, ms: performance.now() - t0 }));
    s.on('error', reject);
    setTimeout(() => {
      s.destroy();
      reject(new Error(`server kept a stalled connection open for 10 s; got ${JSON.stringify(reply)}`));
    }, 10_000).unref();
  });
}

t.test('npm start entry point: serves over HTTP; timeouts; SIGTERM -> readyz 503, in-flight finish, exit 0', async (t) => {
  const server = await startServer({
    GLOW_MODEL_DIR: await tinyModelDir(),
    GLOW_DATA_DIR: tempDir(t),
    GLOW_SHUTDOWN_DELAY_MS: '300',
    // Short timeouts so slow clients can be shown the door within the test.
    GLOW_HEADERS_TIMEOUT_MS: '500',
    GLOW_REQUEST_TIMEOUT_MS: '1000',
    GLOW_KEEPALIVE_TIMEOUT_MS: '400',
    LOG_LEVEL: 'info',
  });
  t.teardown(() => killHard(server));
  const { base, port, child, logs } = server;
  t.equal((await fetch(`${base}/healthz`)).status, 200);

  const sample = await fetch(`${base}/sample?t=0.7&n=4&seed=1`);
  t.equal(sample.status, 200);
  t.equal(sample.headers.get('content-type'), 'image/png');
  t.ok((await sample.arrayBuffer()).byteLength > 100);

  const form = new FormData();
  form.append('image', new Blob([new Uint8Array(await mnistPng(0))], { type: 'image/png' }), 'digit.png');
  const enc = await fetch(`${base}/encode`, { method: 'POST', body: form });
  t.equal(enc.status, 200);
  t.equal((await enc.json()).items[0].latent.length, 784);

  const bad = await fetch(`${base}/sample?t=5`);
  t.equal(bad.status, 400);
  t.match(await bad.json(), { statusCode: 400, error: 'Bad Request' });

  // Slow clients cannot hold connections: headers that never finish, a body that never finishes,
  // an idle keep-alive connection.
  const slowHeaders = await rawClient(port, ['GET /healthz HTTP/1.1\r\nHost: x\r\n', 'X-Slow: 1\r\n']);
  t.match(slowHeaders.reply, /^HTTP\/1\.1 408/, 'unfinished headers -> 408');
  t.ok(slowHeaders.ms >= 400 && slowHeaders.ms < 3000, `closed after ${slowHeaders.ms.toFixed(0)} ms (headers timeout 500 ms)`);
  const slowBody = await rawClient(port, [
    'POST /decode HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n',
    '{"latents": [[0.1,',
  ]);
  t.match(slowBody.reply, /^HTTP\/1\.1 408/, 'unfinished body -> 408');
  t.ok(slowBody.ms >= 900 && slowBody.ms < 4000, `closed after ${slowBody.ms.toFixed(0)} ms (request timeout 1000 ms)`);
  const idle = await rawClient(port, ['GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n']);
  t.match(idle.reply, /^HTTP\/1\.1 200/);
  t.match(idle.reply, /Connection: keep-alive/i);
  t.ok(idle.ms >= 300 && idle.ms < 3000, `idle keep-alive connection closed after ${idle.ms.toFixed(0)} ms (keep-alive timeout 400 ms)`);

  // Requests in flight when SIGTERM arrives still complete.
  const inflight = Array.from({ length: 6 }, (_, i) =>
    fetch(`${base}/sample?n=64&seed=${i}`).then(async (r) => ({ status: r.status, bytes: (await r.arrayBuffer()).byteLength })),
  );
  await new Promise((r) => setTimeout(r, 5));
  child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 100));
  const ready = await fetch(`${base}/readyz`);
  t.equal(ready.status, 503, 'readyz turns 503 first');
  t.equal((await ready.json()).status, 'stopping');
  // While load balancers take note (GLOW_SHUTDOWN_DELAY_MS), requests are still served.
  t.equal((await fetch(`${base}/sample?seed=9`)).status, 200, 'still serving during the shutdown delay');
  const done = await Promise.all(inflight);
  t.same(
    done.map((d) => d.status),
    [200, 200, 200, 200, 200, 200],
    'in-flight requests finished',
  );
  t.equal((await server.exited).code, 0, 'exit code 0');
  t.ok(logs.some((l) => l.includes('shut down cleanly')));
});

t.test('SIGHUP reloads every model from disk without dropping the server', async (t) => {
  const dir = await makeTinyCheckpoint(path.join(tempDir(t, 'glow-serve-hup-'), 'digits'), 'digits', 7);
  const server = await startServer({ GLOW_MODEL_DIR: dir, GLOW_DATA_DIR: tempDir(t), LOG_LEVEL: 'info' });
  t.teardown(() => killHard(server));
  const checkpoint = async () => ((await (await fetch(`${server.base}/model`)).json()) as { checkpoint: string }).checkpoint;
  const before = await checkpoint();
  const other = await makeTinyCheckpoint(path.join(tempDir(t, 'glow-serve-hup-'), 'digits'), 'digits', 8);
  for (const f of [WEIGHTS_FILE, MANIFEST_FILE]) copyFileSync(path.join(other, f), path.join(dir, f));
  server.child.kill('SIGHUP');
  let now = before;
  for (let i = 0; i < 200 && now === before; i++) {
    await new Promise((r) => setTimeout(r, 100));
    now = await checkpoint(); // the server answers throughout
  }
  t.not(now, before, 'serving the new weights');
  // The log line is written right after the swap, but reaches this process through a pipe: give it a moment.
  for (let i = 0; i < 50 && !/reloaded digits/.test(server.logs.join('\n')); i++) await new Promise((r) => setTimeout(r, 100));
  t.match(server.logs.join('\n'), /reloaded digits: step 0 → 0/);
  t.equal((await fetch(`${server.base}/readyz`)).status, 200);
});
