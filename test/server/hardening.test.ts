// What the server says beyond its replies' bodies: the log (levels, no secrets), the replies Node
// writes itself (malformed HTTP, timeouts, huge headers, Expect: 100-continue) and start-up mistakes.
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { Writable } from 'node:stream';
import t from 'tap';
import { makeApp, tinyModelDir } from '../fixtures/app.ts';
import { loggedUrl, loggerOptions } from '../../src/server/logging.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** An app whose pino lines are collected (parsed). */
async function loggedApp(t: Parameters<typeof makeApp>[0], config: Parameters<typeof makeApp>[1] = {}) {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  const app = await makeApp(t, config, { logger: { ...loggerOptions('info'), stream } });
  return { app, lines };
}

t.test('loggedUrl keeps the API parameters and redacts every other value', async (t) => {
  const table: [string, string][] = [
    ['/sample', '/sample'],
    ['/sample?seed=1&n=2', '/sample?seed=1&n=2'],
    ['/sample?token=s3cr3t&seed=1', '/sample?token=[redacted]&seed=1'],
    ['/attributes?access_token=abc&model=mnist', '/attributes?access_token=[redacted]&model=mnist'],
    ['/x?api%5Fkey=abc', '/x?api_key=[redacted]'],
    ['/x?%E0%A4%A=abc', '/x?%25E0%25A4%25A=[redacted]'],
    ['/x?secretonly', '/x?secretonly=[redacted]'],
  ];
  for (const [url, logged] of table) t.equal(loggedUrl(url), logged, url);
});

t.test('the log: refusals at warn without a stack, tokens never written', async (t) => {
  const token = 'a-very-secret-admin-token-0123456789';
  const { app, lines } = await loggedApp(t, { adminToken: token, maxQueue: 1, maxBatch: 1, maxDelayMs: 30 });
  const cases: { name: string; send: () => Promise<unknown>; secret?: string; refused?: boolean }[] = [
    { name: 'a token in the query', send: () => app.inject('/sample?token=query-secret-value-42&seed=1'), secret: 'query-secret-value-42' },
    {
      name: 'a token in an unknown parameter of a 404',
      send: () => app.inject('/nowhere?password=hunter2-secret'),
      secret: 'hunter2-secret',
    },
    {
      name: 'the admin token in Authorization',
      send: () =>
        app.inject({
          method: 'POST',
          url: '/attributes',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          payload: JSON.stringify({ name: 'x', positive: [new Array(784).fill(0)], negative: [new Array(784).fill(0.1)] }),
        }),
      secret: token,
    },
    {
      name: 'a wrong token in Authorization',
      send: () => app.inject({ method: 'DELETE', url: '/attributes/x', headers: { authorization: 'Bearer wrong-token-that-is-secret' } }),
      secret: 'wrong-token-that-is-secret',
    },
    // 20 at once into a queue of one: most are refused with 503.
    { name: 'a full queue', send: () => Promise.all(Array.from({ length: 20 }, (_, i) => app.inject(`/sample?seed=${i}`))), refused: true },
  ];
  for (const c of cases) {
    const from = lines.length;
    await c.send();
    const text = JSON.stringify(lines.slice(from));
    if (c.secret) t.notOk(text.includes(c.secret), `${c.name}: the secret is not in the log`);
    t.ok(lines.length > from, `${c.name}: logged (${lines.length - from} lines)`);
    if (c.refused) {
      const refused = lines.slice(from).filter((l) => l.msg === 'request refused');
      t.ok(refused.length > 0, `${c.name}: ${refused.length} refusals logged`);
      t.ok(
        refused.every((l) => l.level === 40 && !JSON.stringify(l).includes('"stack"') && l.statusCode === 503),
        `${c.name}: each at warn (40), without a stack`,
      );
    }
  }
  t.match(JSON.stringify(lines), /token=\[redacted\]&seed=1/, 'the redacted URL is what is logged');
  t.same(
    lines.filter((l) => Number(l.level) >= 50),
    [],
    'nothing at error or above',
  );
});

/** Writes raw bytes to the server and collects what comes back until it closes the connection (or `ms`). */
function raw(port: number, chunks: (string | Buffer)[], ms = 5000): Promise<string> {
  return new Promise((resolve) => {
    let out = '';
    const s = net.connect(port, '127.0.0.1', () => {
      for (const c of chunks) s.write(c);
    });
    const timer = setTimeout(() => s.destroy(), ms);
    s.on('data', (d) => (out += d.toString('latin1')));
    s.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
    s.on('error', () => {});
  });
}

t.test("Node's own replies (400, 408, 417, 431, 413 before 100 Continue) carry the app's error shape and security headers", async (t) => {
  const app = await makeApp(t, { requestTimeoutMs: 1500, headersTimeoutMs: 1000 });
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  const port = Number(new URL(base).port);
  const ours = await fetch(`${base}/healthz`);
  const security = [
    'content-security-policy',
    'x-content-type-options',
    'x-frame-options',
    'strict-transport-security',
    'referrer-policy',
    'cross-origin-resource-policy',
  ];
  for (const h of security) t.ok(ours.headers.get(h), `the app's replies carry ${h}`);
  const big = 100 * 1024 * 1024;
  const cases: [string, (string | Buffer)[], number, RegExp][] = [
    ['a request line that is not HTTP', ['GARBAGE\r\n\r\n'], 400, /not valid HTTP/],
    ['a header without a colon', ['GET /healthz HTTP/1.1\r\nHost: x\r\nbroken header\r\n\r\n'], 400, /not valid HTTP/],
    [
      'request smuggling: Content-Length and chunked',
      ['POST /decode HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
      400,
      /not valid HTTP/,
    ],
    ['headers over 16 KB', [`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`], 431, /headers are too large/],
    ['headers that never end (slowloris)', ['GET /healthz HTTP/1.1\r\nHost: x\r\n'], 408, /did not arrive in time/],
    [
      'Expect: 100-continue, 100 MB of JSON',
      [`POST /decode HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${big}\r\nExpect: 100-continue\r\n\r\n`],
      413,
      /the body would be 104857600 bytes; the limit is 10485760 bytes/,
    ],
    [
      'Expect: something other than 100-continue',
      ['GET /healthz HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\n\r\n'],
      417,
      /the only expectation understood is "Expect: 100-continue"/,
    ],
    [
      'Expect: 100-continue, 100 MB image',
      [`POST /encode HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: ${big}\r\nExpect: 100-continue\r\n\r\n`],
      413,
      /the body would be 104857600 bytes/,
    ],
  ];
  for (const [name, chunks, status, message] of cases) {
    const reply = await raw(port, chunks);
    const [head, body = ''] = reply.split('\r\n\r\n');
    t.match(head, new RegExp(`^HTTP/1.1 ${status} `), `${name}: ${head.split('\r\n')[0]}`);
    t.notMatch(reply, /100 Continue/, `${name}: no 100 Continue`);
    for (const h of security)
      t.ok(
        new RegExp(`^${h}: ${ours.headers.get(h)!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'mi').test(head),
        `${name}: ${h} as on the app's replies`,
      );
    let parsed: Record<string, unknown> = {};
    try {
      parsed = JSON.parse(body);
    } catch {
      /* checked below */
    }
    t.match(parsed, { statusCode: status, error: String, message }, `${name}: the app's error shape`);
  }
  // A small body with Expect: 100-continue is invited and served.
  const latent = JSON.stringify({ latents: [new Array(784).fill(0)] });
  const ok = await new Promise<string>((resolve) => {
    let out = '';
    const s = net.connect(port, '127.0.0.1', () =>
      s.write(
        `POST /decode?format=json HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${latent.length}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`,
      ),
    );
    s.on('data', (d) => {
      out += d.toString();
      if (out.startsWith('HTTP/1.1 100 Continue') && !out.includes('200 OK')) s.write(latent);
    });
    s.on('close', () => resolve(out));
  });
  t.match(ok, /^HTTP\/1.1 100 Continue\r\n\r\nHTTP\/1.1 200 OK/, 'a body within the limit: 100 Continue, then 200');
  t.equal((await fetch(`${base}/healthz`)).status, 200, 'still healthy');
});

t.test('a start-up mistake is one line on stderr and exit code 1, not a stack trace', async (t) => {
  const modelDir = await tinyModelDir();
  const table: [string, Record<string, string>, RegExp][] = [
    ['an admin token of 8 characters', { GLOW_ADMIN_TOKEN: 'short123' }, /GLOW_ADMIN_TOKEN must be at least 16 characters/],
    ['GLOW_MAX_WORK of 0', { GLOW_MAX_WORK: '0' }, /GLOW_MAX_WORK must be a number in \[1, 1000000\], not "0"/],
    ['GLOW_MAX_INPUT_SIDE not a number', { GLOW_MAX_INPUT_SIDE: 'big' }, /GLOW_MAX_INPUT_SIDE must be a number/],
    [
      'a headers timeout over the request timeout',
      { GLOW_HEADERS_TIMEOUT_MS: '5000', GLOW_REQUEST_TIMEOUT_MS: '1000' },
      /must not exceed GLOW_REQUEST_TIMEOUT_MS/,
    ],
  ];
  for (const [name, env, message] of table) {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/server/server.ts'], {
      cwd: ROOT,
      env: { ...process.env, GLOW_MODEL_DIR: modelDir, PORT: '0', HOST: '127.0.0.1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.on('data', (d) => (stdout += d));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    t.equal(code, 1, `${name}: exit code 1`);
    const lines = stderr.trim().split('\n');
    t.equal(lines.length, 1, `${name}: one line: ${lines[0]}`);
    t.match(lines[0], /^glow-serve: cannot start: /, `${name}: says it cannot start`);
    t.match(lines[0], message, `${name}: says why`);
    t.notMatch(stderr + stdout, /\n\s+at /, `${name}: no stack trace`);
  }
});
