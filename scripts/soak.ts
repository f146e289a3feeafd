// Soak test: starts the server (a child process on loopback), warms it up, then sends a bounded
// number of mixed requests (every endpoint and body kind, attribute create + delete, and a share of
// bad requests) and samples the server's resident memory, V8 heap and the inference worker's
// tensor count along the way. Leak-free means: the tensor count ends exactly where it started and
// memory stays flat (after the warm-up, growth under 10% or 32 MiB, whichever is larger).
//
// Every model the server has gets the same traffic (`?model=`), interleaved: by default the server
// serves every checkpoint in models/, as `npm start` does; --models names some, --model serves one directory.
//
//   npm run soak [-- --models mnist,avatars | --model DIR] [--requests 20000 --concurrency 16 --samples 10]
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { killHard, startServer } from '../test/fixtures/server-process.ts';
import { runTraffic, scrape, soakKinds, type Scrape } from './lib/traffic.ts';

const { values: args } = parseArgs({
  options: {
    models: { type: 'string' },
    model: { type: 'string' },
    requests: { type: 'string', default: '20000' },
    concurrency: { type: 'string', default: '16' },
    samples: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '1000' },
  },
});
const TOTAL = Number(args.requests);
const SAMPLES = Number(args.samples);
const CONCURRENCY = Number(args.concurrency);
const MiB = 2 ** 20;

const dataDir = mkdtempSync(path.join(os.tmpdir(), 'glow-soak-'));
const served = args.model
  ? { GLOW_MODEL_DIR: path.resolve(args.model), GLOW_MODELS: '' }
  : { GLOW_MODEL_DIR: '', GLOW_MODELS: args.models ?? '' };
const server = await startServer({ ...served, GLOW_DATA_DIR: dataDir, DATABASE_URL: '' }, { timeoutMs: 300_000 });
let exitCode: number;
try {
  // All ready: startServer waited for /readyz.
  const { models } = (await (await fetch(`${server.base}/models`)).json()) as {
    models: { model: string; latentDim: number; backend: string }[];
  };
  const kinds = await soakKinds(server.base, models, process.env.GLOW_ADMIN_TOKEN);
  console.log(`# glow-serve soak — ${new Date().toISOString()}`);
  console.log(
    `models ${models.map((m) => m.model).join(', ')} (${models[0].backend}); ${TOTAL} requests, ${CONCURRENCY} concurrent, ${kinds.length} request kinds (${kinds.filter((k) => k.expect >= 400).length} of them bad); load average ${os
      .loadavg()
      .map((v) => v.toFixed(2))
      .join(' ')}`,
  );

  const warm = await runTraffic(server.base, kinds, Number(args.warmup), CONCURRENCY);
  console.log(`warm-up: ${warm.sent} requests in ${warm.seconds.toFixed(1)} s (not counted)`);

  const row = (label: string, m: Scrape, sent: number, seconds: number) =>
    `| ${label} | ${sent} | ${seconds.toFixed(0)} | ${((m.get('process_resident_memory_bytes') ?? NaN) / MiB).toFixed(1)} | ${((m.get('nodejs_heap_size_used_bytes') ?? NaN) / MiB).toFixed(1)} | ${m.get('glow_worker_tensors')} |`;
  console.log('');
  console.log('| point | requests | s | server RSS MiB | V8 heap used MiB | worker tensors |');
  console.log('|---|---|---|---|---|---|');
  const start = await scrape(server.base);
  console.log(row('start', start, 0, 0));
  const all: Record<string, Record<number, number>> = {};
  const unexpected: { name: string; status: number; body: string }[] = [];
  let sent = 0;
  let seconds = 0;
  let end = start;
  const rssSeries: number[] = [];
  for (let s = 1; s <= SAMPLES; s++) {
    const chunk = Math.round((TOTAL * s) / SAMPLES) - sent;
    const r = await runTraffic(server.base, kinds, chunk, CONCURRENCY);
    sent += r.sent;
    seconds += r.seconds;
    for (const [k, codes] of Object.entries(r.counts))
      for (const [c, n] of Object.entries(codes)) (all[k] ??= {})[Number(c)] = (all[k][Number(c)] ?? 0) + n;
    unexpected.push(...r.unexpected);
    end = await scrape(server.base);
    rssSeries.push(end.get('process_resident_memory_bytes')!);
    console.log(row(s === SAMPLES ? 'end' : `${s}/${SAMPLES}`, end, sent, seconds));
  }

  console.log('');
  console.log('| request | expected | got |');
  console.log('|---|---|---|');
  for (const k of kinds)
    console.log(
      `| ${k.name} | ${k.expect} | ${Object.entries(all[k.name] ?? {})
        .map(([c, n]) => `${n} × ${c}`)
        .join(', ')} |`,
    );
  for (const u of unexpected.slice(0, 10)) console.log(`unexpected: ${u.name} -> ${u.status} ${u.body}`);

  const rss0 = start.get('process_resident_memory_bytes')!;
  const rss1 = end.get('process_resident_memory_bytes')!;
  const heap0 = start.get('nodejs_heap_size_used_bytes')!;
  const heap1 = end.get('nodejs_heap_size_used_bytes')!;
  const t0 = start.get('glow_worker_tensors');
  const t1 = end.get('glow_worker_tensors');
  const allowance = Math.max(0.1 * rss0, 32 * MiB);
  // A leak grows with the requests: the second half must not add more than the allowance either.
  const rssHalf = rssSeries[Math.floor(SAMPLES / 2) - 1] ?? rss0;
  const checks: [string, boolean][] = [
    [`worker tensors ${t0} -> ${t1}`, t0 === t1],
    [
      `server RSS ${(rss0 / MiB).toFixed(1)} -> ${(rss1 / MiB).toFixed(1)} MiB (${((rss1 - rss0) / MiB).toFixed(1)} MiB; allowed ${(allowance / MiB).toFixed(0)})`,
      rss1 - rss0 < allowance,
    ],
    [
      `server RSS over the second half ${(rssHalf / MiB).toFixed(1)} -> ${(rss1 / MiB).toFixed(1)} MiB (${((rss1 - rssHalf) / MiB).toFixed(1)} MiB)`,
      rss1 - rssHalf < allowance,
    ],
    [`V8 heap used ${(heap0 / MiB).toFixed(1)} -> ${(heap1 / MiB).toFixed(1)} MiB`, heap1 - heap0 < allowance],
    [`every request got its expected status (${unexpected.length} did not)`, unexpected.length === 0],
  ];
  console.log('');
  console.log(`${sent} requests in ${seconds.toFixed(0)} s (${(sent / seconds).toFixed(1)} req/s)`);
  for (const [what, ok] of checks) console.log(`${ok ? 'PASS' : 'MISS'}  ${what}`);
  exitCode = checks.every(([, ok]) => ok) ? 0 : 1;
} finally {
  server.child.kill('SIGTERM');
  await Promise.race([server.exited, new Promise((r) => setTimeout(r, 60_000))]);
  killHard(server);
  rmSync(dataDir, { recursive: true, force: true });
}
process.exit(exitCode);
