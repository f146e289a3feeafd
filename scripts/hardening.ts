// The two figures of the hardening issue, measured against the real server (a child process, as
// `npm start` runs it, on a free loopback port):
//   1. GET /sample latency idle and while three of the costliest admissible /manipulate requests run
//      (kept at three: each one that finishes is replaced), in alternating rounds, and how fast the 53-second request of the
//      issue (16 edits × steps 64 × passes 32) is refused; with request slices on (the default) and
//      off (GLOW_REQUEST_SLICE = GLOW_MAX_BATCH), side by side in one run.
//   2. RSS of the server before a burst of 64 concurrent uploads of a 16,777,216 × 1 PNG (refused by
//      the side limit) and of the largest image the limits admit (8192 × 2048), and every second for
//      30 s after each.
//   npx tsx scripts/hardening.ts [-- --model avatars --samples 10 --rounds 3 --slices ,64 --format png --skip memory]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { encodeRawPng } from '../src/images/png.ts';
import { killHard, startServer, type ServerProcess } from '../test/fixtures/server-process.ts';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string', default: 'avatars' },
    samples: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
    skip: { type: 'string', default: '' },
    /** GLOW_REQUEST_SLICE values to compare side by side ('' = the server's default). */
    slices: { type: 'string', default: ',64' },
    /** The costly requests' reply: png (the route's default) or json (latents too: more work for the HTTP thread). */
    format: { type: 'string', default: 'png' },
  },
});
const SAMPLES = Number(args.samples);
const ROUNDS = Number(args.rounds);
const skip = new Set(args.skip.split(','));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];
const ms = (x: number) => `${x.toFixed(0)} ms`;

async function serve(env: Record<string, string>): Promise<{ server: ServerProcess; stop: () => void }> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'glow-harden-'));
  const server = await startServer({ GLOW_MODELS: args.model!, GLOW_DATA_DIR: dataDir, DATABASE_URL: '', ...env }, { timeoutMs: 180_000 });
  return {
    server,
    stop: () => {
      killHard(server);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function timed(fn: () => Promise<Response>): Promise<{ ms: number; status: number }> {
  const t0 = performance.now();
  const res = await fn();
  await res.arrayBuffer();
  return { ms: performance.now() - t0, status: res.status };
}

async function sampleLatencies(base: string, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const r = await timed(() => fetch(`${base}/sample?seed=${i}`));
    if (r.status !== 200) throw new Error(`/sample answered ${r.status}`);
    out.push(r.ms);
  }
  return out;
}

async function latency(slice: string | undefined): Promise<void> {
  const { server, stop } = await serve(slice ? { GLOW_REQUEST_SLICE: slice } : {});
  try {
    const base = server.base;
    const attrs = ((await (await fetch(`${base}/attributes`)).json()) as { attributes: { name: string }[] }).attributes.map((a) => a.name);
    if (attrs.length === 0) throw new Error(`model ${args.model} has no built-in attributes`);
    const edits = Array.from({ length: 16 }, (_, i) => ({ attribute: attrs[i % attrs.length], alpha: 0.5 }));
    const image = Buffer.from(await (await fetch(`${base}/sample?seed=99`)).arrayBuffer()).toString('base64');
    const post = (body: object) =>
      fetch(`${base}/manipulate?format=${args.format}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const budget = Number(process.env.GLOW_MAX_WORK ?? 128);
    // The costliest admissible /manipulate: an image (1 encode) and the most strip images × passes within the budget.
    let best = { steps: 2, passes: 1, cost: 3 };
    for (let passes = 1; passes <= 32; passes++) {
      for (let steps = 2; steps <= 64; steps++) {
        const cost = 1 + steps * (2 * passes - 1);
        if (cost <= budget && cost > best.cost) best = { steps, passes, cost };
      }
    }
    const heavy = { image, edits, steps: best.steps, passes: best.passes };
    const label = slice ? `GLOW_REQUEST_SLICE=${slice}` : 'default (GLOW_REQUEST_SLICE=8)';
    console.log(
      `\n${label}: model ${args.model}, the costliest admissible /manipulate = 16 edits, steps ${best.steps}, passes ${best.passes} (${best.cost} images of model work), ${args.format} replies`,
    );

    const issue = await timed(() => post({ image, edits, steps: 64, passes: 32 }));
    console.log(`the issue's 16 edits × steps 64 × passes 32: ${issue.status} in ${ms(issue.ms)}`);

    await sampleLatencies(base, 5); // warm
    const alone = await timed(() => post(heavy));
    console.log(`one costliest admissible request alone: ${alone.status} in ${ms(alone.ms)}`);

    // Idle and loaded phases alternate, so that both see the same neighbours on this shared machine.
    const idle: number[] = [];
    const loaded: number[] = [];
    const heavyTimes: number[] = [];
    const heavyStatus: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      idle.push(...(await sampleLatencies(base, SAMPLES)));
      let running = true;
      const lane = async () => {
        while (running) {
          const r = await timed(() => post(heavy));
          heavyTimes.push(r.ms);
          heavyStatus.push(r.status);
        }
      };
      const lanes = [lane(), lane(), lane()];
      await new Promise((r) => setTimeout(r, 1000)); // all three are in
      loaded.push(...(await sampleLatencies(base, SAMPLES)));
      running = false;
      await Promise.all(lanes);
    }
    const idleMed = median(idle);
    const loadedMed = median(loaded);
    console.log(
      `GET /sample idle:                         median ${ms(idleMed)}, p90 ${ms(pct(idle, 0.9))} (${idle.length} requests in ${ROUNDS} rounds)`,
    );
    console.log(
      `GET /sample beside three costliest:       median ${ms(loadedMed)}, p90 ${ms(pct(loaded, 0.9))} (${loaded.length} requests) = ${(loadedMed / idleMed).toFixed(2)}× idle`,
    );
    console.log(
      `the costliest requests meanwhile:         median ${ms(median(heavyTimes))} each, statuses ${[...new Set(heavyStatus)].join(',')} (${heavyTimes.length} finished)`,
    );
  } finally {
    stop();
  }
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function memory(env: Record<string, string>): Promise<void> {
  const { server, stop } = await serve(env);
  try {
    const pid = server.child.pid!;
    const base = server.base;
    await sampleLatencies(base, 10);
    await fetch(`${base}/encode`, {
      method: 'POST',
      headers: { 'content-type': 'image/png' },
      body: new Uint8Array(await (await fetch(`${base}/sample?seed=1`)).arrayBuffer()),
    });
    const bursts: [string, Buffer][] = [
      ['16,777,216 × 1 PNG', await encodeRawPng(new Uint8Array(16_777_216), 16_777_216, 1, 1)],
      [
        '8192 × 2048 PNG (the largest admitted)',
        await encodeRawPng(
          Uint8Array.from({ length: 8192 * 2048 }, (_, i) => (i * 7) & 255),
          8192,
          2048,
          1,
        ),
      ],
    ];
    console.log(
      `\nmemory: model ${args.model}, ${
        Object.entries(env)
          .map(([k, v]) => `${k}=${v}`)
          .join(' ') || 'glibc defaults'
      }, RSS of the server process (/proc/<pid>/status VmRSS)`,
    );
    for (const [what, png] of bursts) {
      await new Promise((r) => setTimeout(r, 3000));
      const before = rssMiB(pid);
      let peak = before;
      const watch = setInterval(() => (peak = Math.max(peak, rssMiB(pid))), 100);
      const t0 = performance.now();
      const replies = await Promise.all(
        Array.from({ length: 64 }, () =>
          timed(() => fetch(`${base}/encode`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: new Uint8Array(png) })),
        ),
      );
      const burstMs = performance.now() - t0;
      clearInterval(watch);
      const statuses = [...new Set(replies.map((r) => r.status))].join(',');
      peak = Math.max(peak, rssMiB(pid));
      const trace: number[] = [];
      let backAt: number | undefined;
      for (let s = 1; s <= 30; s++) {
        await new Promise((r) => setTimeout(r, 1000));
        const rss = rssMiB(pid);
        trace.push(rss);
        peak = Math.max(peak, rss);
        if (backAt === undefined && rss <= before * 1.2) backAt = s;
      }
      const health = (await fetch(`${base}/healthz`)).status;
      console.log(`64 concurrent ${what} (${png.length} bytes each): statuses ${statuses}, burst ${ms(burstMs)}`);
      console.log(
        `  RSS before ${before.toFixed(0)} MiB, peak ${peak.toFixed(0)} (sampled every 0.1 s from the burst on), 1 s after ${trace[0].toFixed(0)}, after 30 s ${trace[29].toFixed(0)} MiB; within 20 % of before after ${backAt ?? '>30'} s; /healthz ${health}`,
      );
      console.log(
        `  every 5 s: ${trace
          .filter((_, i) => i % 5 === 4)
          .map((x) => x.toFixed(0))
          .join(', ')} MiB`,
      );
    }
  } finally {
    stop();
  }
}

if (!skip.has('latency')) for (const slice of args.slices!.split(',')) await latency(slice || undefined);
if (!skip.has('memory')) {
  // As `npm start` runs it, and as the Docker image does (MALLOC_ARENA_MAX=2).
  await memory({});
  await memory({ MALLOC_ARENA_MAX: '2' });
}
