// The real entry point over real HTTP: start, serve, and shut down gracefully on SIGTERM.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import t from 'tap';
import { mnistPng, tempDir, tinyModelDir } from '../fixtures/app.ts';

t.test('npm start entry point: serves over HTTP; SIGTERM -> readyz 503, in-flight finish, exit 0', async (t) => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server/server.ts'], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', GLOW_MODEL_DIR: await tinyModelDir(), GLOW_DATA_DIR: tempDir(t), GLOW_SHUTDOWN_DELAY_MS: '300', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const logs: string[] = [];
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      logs.push(line);
      const m = /Server listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(line);
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', (code) => reject(new Error(`server exited early with ${code}: ${logs.join('\n')}`)));
  });
  const base = `http://127.0.0.1:${port}`;

  t.equal((await fetch(`${base}/healthz`)).status, 200);
  for (let i = 0; (await fetch(`${base}/readyz`)).status !== 200; i++) {
    if (i > 300) throw new Error('not ready after 30 s');
    await new Promise((r) => setTimeout(r, 100));
  }

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

  // Requests in flight when SIGTERM arrives still complete.
  const inflight = Array.from({ length: 6 }, (_, i) => fetch(`${base}/sample?n=64&seed=${i}`).then(async (r) => ({ status: r.status, bytes: (await r.arrayBuffer()).byteLength })));
  await new Promise((r) => setTimeout(r, 5));
  child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 100));
  const ready = await fetch(`${base}/readyz`);
  t.equal(ready.status, 503, 'readyz turns 503 first');
  t.equal((await ready.json()).status, 'stopping');
  const done = await Promise.all(inflight);
  t.same(
    done.map((d) => d.status),
    [200, 200, 200, 200, 200, 200],
    'in-flight requests finished',
  );
  t.equal(await exited, 0, 'exit code 0');
  t.ok(logs.some((l) => l.includes('shut down cleanly')));
});
