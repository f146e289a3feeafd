import t from 'tap';
import { Batcher, type Op } from '../../src/inference/batcher.ts';
import { UnavailableError } from '../../src/server/errors.ts';
import type { Runner } from '../../src/inference/inference-client.ts';
import type { ModelInfo } from '../../src/inference/worker-protocol.ts';

/** A model stand-in: "encode" sums each image, "decode" maps latent v -> bytes of v+1; records batch sizes. */
class FakeRunner implements Runner {
  ready = true;
  calls: { op: 'encode' | 'decode'; n: number }[] = [];
  delayMs = 5;
  failNext = false;
  private waiters: ((i: ModelInfo) => void)[] = [];

  whenReady(): Promise<ModelInfo> {
    return this.ready ? Promise.resolve({} as ModelInfo) : new Promise((r) => this.waiters.push(r));
  }
  becomeReady(): void {
    this.ready = true;
    for (const w of this.waiters.splice(0)) w({} as ModelInfo);
  }
  async encode(n: number, pixels: Uint8Array) {
    this.calls.push({ op: 'encode', n });
    await new Promise((r) => setTimeout(r, this.delayMs));
    if (this.failNext) {
      this.failNext = false;
      throw new Error('boom');
    }
    const size = pixels.length / n;
    const eps = new Float64Array(n * 2);
    for (let i = 0; i < n; i++) eps[2 * i] = pixels.subarray(i * size, (i + 1) * size).reduce((a, b) => a + b, 0);
    return { eps, bpd: Float32Array.from({ length: n }, (_, i) => i), reencoded: 0, numTensors: 0, ms: this.delayMs };
  }
  async decode(n: number, latents: Float64Array) {
    this.calls.push({ op: 'decode', n });
    await new Promise((r) => setTimeout(r, this.delayMs));
    // A latent value of -1 stands for one the real reverse would turn into NaN.
    const size = latents.length / n;
    const nonFinite = Uint32Array.from({ length: n }, (_, i) => latents.subarray(i * size, (i + 1) * size).filter((v) => v === -1).length);
    return { pixels: Uint8Array.from(latents, (v) => v + 1), nonFinite, numTensors: 0, ms: this.delayMs };
  }
}

const opts = { maxBatch: 8, maxDelayMs: 5, maxQueue: 100, queueTimeoutMs: 10_000 };
const img = (v: number) => Uint8Array.of(v, v);

t.test('each decoded image comes back with its own count of non-finite values, and the observer hears of the bad ones', async (t) => {
  const runner = new FakeRunner();
  const seen: string[] = [];
  const b = new Batcher(runner, opts, { nonFinite: (op, values) => seen.push(`${op}:${values}`) });
  const [ok, mixed, sampled] = await Promise.all([
    b.decode([Float64Array.of(1, 2)]),
    b.decode([Float64Array.of(3, 4), Float64Array.of(5, -1)]),
    b.decode([Float64Array.of(-1, -1)], 'sample'),
  ]);
  t.same(
    runner.calls.map((c) => `${c.op}:${c.n}`).sort(),
    ['decode:1', 'decode:3'],
    'decode and sample batched apart, the two decodes together',
  );
  t.same(
    ok.map((d) => [[...d.pixels], d.nonFinite]),
    [[[2, 3], 0]],
  );
  t.same(
    mixed.map((d) => [[...d.pixels], d.nonFinite]),
    [
      [[4, 5], 0],
      [[6, 0], 1],
    ],
    'only the image with the bad value is flagged',
  );
  t.same(sampled[0].nonFinite, 2);
  t.same(seen.sort(), ['decode:1', 'sample:2']);
});

t.test('concurrent items of one op are grouped up to maxBatch, results go back to their callers', async (t) => {
  const runner = new FakeRunner();
  const b = new Batcher(runner, opts);
  const results = await Promise.all(Array.from({ length: 20 }, (_, i) => b.encode([img(i)])));
  t.same(
    results.map((r) => r[0].eps[0]),
    Array.from({ length: 20 }, (_, i) => 2 * i),
  );
  t.same(
    runner.calls.map((c) => c.n),
    [8, 8, 4],
  );
});

t.test('a lone item waits at most maxDelayMs', async (t) => {
  const runner = new FakeRunner();
  const b = new Batcher(runner, { ...opts, maxDelayMs: 20 });
  const t0 = performance.now();
  await b.encode([img(1)]);
  const ms = performance.now() - t0;
  t.ok(ms >= 19 && ms < 200, `took ${ms.toFixed(1)} ms`);
  t.same(runner.calls, [{ op: 'encode', n: 1 }]);
});

t.test('a full batch goes at once, without waiting for the delay', async (t) => {
  const runner = new FakeRunner();
  const b = new Batcher(runner, { ...opts, maxDelayMs: 1000 });
  const t0 = performance.now();
  await b.encode(Array.from({ length: 8 }, (_, i) => img(i)));
  t.ok(performance.now() - t0 < 500);
});

t.test('operations are never mixed in a batch; sample and decode share the decoder', async (t) => {
  const runner = new FakeRunner();
  const b = new Batcher(runner, opts);
  const z = (v: number) => Float64Array.of(v, v);
  const [e, d, s] = await Promise.all([b.encode([img(1), img(2)]), b.decode([z(1)]), b.decode([z(5), z(6)], 'sample')]);
  t.equal(e.length, 2);
  t.same(Array.from(d[0].pixels), [2, 2]);
  t.same(Array.from(s[1].pixels), [7, 7]);
  t.same(runner.calls.map((c) => c.op).sort(), ['decode', 'decode', 'encode']);
});

t.test('a full queue answers 503 with Retry-After; the batcher recovers', async (t) => {
  const runner = new FakeRunner();
  runner.delayMs = 30;
  const rejected: string[] = [];
  const b = new Batcher(runner, { ...opts, maxQueue: 10 }, { rejected: (op: Op, reason) => rejected.push(`${op}:${reason}`) });
  const first = b.encode(Array.from({ length: 8 }, (_, i) => img(i))); // goes to the worker
  await new Promise((r) => setTimeout(r, 1));
  const queued = b.encode(Array.from({ length: 10 }, (_, i) => img(i))); // fills the queue
  const err = await b.encode([img(0)]).catch((e) => e);
  t.type(err, UnavailableError);
  // 503 with this Retry-After once the server maps it (test/server/overload.test.ts checks it over HTTP).
  t.equal(err.kind, 'unavailable');
  t.ok(err.retryAfterSeconds > 0, `retry after ${err.retryAfterSeconds} s`);
  t.same(rejected, ['encode:full']);
  await Promise.all([first, queued]);
  t.equal((await b.encode([img(3)]))[0].eps[0], 6);
});

t.test("a full queue still takes an admitted request's follow-up (its decode after its encode)", async (t) => {
  const runner = new FakeRunner();
  runner.delayMs = 30;
  const b = new Batcher(runner, { ...opts, maxQueue: 4 });
  const admission = { admitted: false };
  const first = b.encode([img(1)], admission); // admitted; goes to the worker
  t.equal(admission.admitted, true);
  await new Promise((r) => setTimeout(r, 10));
  const filler = b.encode(Array.from({ length: 4 }, (_, i) => img(i))); // the queue is now full
  const stranger = await b.decode([Float64Array.of(1, 1)]).catch((e) => e);
  t.type(stranger, UnavailableError, 'a new request is refused');
  const followUp = b.decode([Float64Array.of(2, 2)], 'decode', admission);
  t.same(Array.from((await followUp)[0].pixels), [3, 3], "the admitted request's follow-up is not");
  await Promise.all([first, filler]);
});

t.test('admit() refuses at the door while queue + reserved slots are full; admitted requests are always queued', async (t) => {
  const runner = new FakeRunner();
  runner.delayMs = 30;
  const rejected: string[] = [];
  const b = new Batcher(
    runner,
    { ...opts, maxQueue: 3, maxDelayMs: 0 },
    { rejected: (op: Op, reason) => rejected.push(`${op}:${reason}`) },
  );
  const first = b.encode([img(1)]); // in the worker for 30 ms
  await new Promise((r) => setTimeout(r, 10));
  const filler = b.encode([img(1), img(2)]); // 2 queued
  const a = b.admit('encode'); // 2 + 0 reserved < 3: in, holding one slot
  t.same(a, { admitted: true, reserved: true });
  const door = (() => {
    try {
      b.admit('sample');
    } catch (e) {
      return e as UnavailableError;
    }
  })();
  t.type(door, UnavailableError, 'the next one is refused at the door (2 queued + 1 reserved)');
  t.ok(Number(door?.retryAfterSeconds) > 0);
  const stranger = await b.encode([img(3)]).catch((e) => e);
  t.type(stranger, UnavailableError, 'a submission without admission cannot take the reserved slot');
  const admitted = b.encode([img(4), img(5), img(6)], a); // brings 3 items for its 1 slot: still taken
  t.equal(a.reserved, false, 'the slot became real items');
  t.same(rejected, ['sample:full', 'encode:full']);
  t.same(
    (await admitted).map((r) => r.eps[0]),
    [8, 10, 12],
  );
  await Promise.all([first, filler]);
  const later = b.admit('sample');
  b.release(later);
  b.release(later); // idempotent
  t.doesNotThrow(() => b.release(later));
  t.same([b.admit('decode'), b.admit('decode'), b.admit('decode')].length, 3, 'all three slots are free again');
});

t.test('items that waited past queueTimeoutMs are dropped with 503', async (t) => {
  const runner = new FakeRunner();
  runner.delayMs = 60;
  const b = new Batcher(runner, { ...opts, maxBatch: 1, queueTimeoutMs: 30 });
  const first = b.encode([img(1)]);
  const late = b.encode([img(2)]).catch((e) => e);
  await first;
  const err = await late;
  t.type(err, UnavailableError);
  t.match(err.message, /waited over 30 ms/);
});

t.test('a failing batch rejects its items only', async (t) => {
  const runner = new FakeRunner();
  const b = new Batcher(runner, opts);
  runner.failNext = true;
  await t.rejects(b.encode([img(1)]), /boom/);
  t.equal((await b.encode([img(2)]))[0].eps[0], 4);
});

t.test('work waits for the runner to become ready', async (t) => {
  const runner = new FakeRunner();
  runner.ready = false;
  const b = new Batcher(runner, opts);
  const p = b.encode([img(1)]);
  await new Promise((r) => setTimeout(r, 20));
  t.equal(runner.calls.length, 0);
  t.equal(b.depth(), 1);
  runner.becomeReady();
  t.equal((await p)[0].eps[0], 2);
});

t.test('drain finishes accepted work, then refuses new work', async (t) => {
  const runner = new FakeRunner();
  runner.delayMs = 20;
  const b = new Batcher(runner, { ...opts, maxDelayMs: 1000 });
  const pending = b.encode([img(1), img(2)]);
  await b.drain();
  t.equal((await pending).length, 2, 'queued work ran without waiting for the delay');
  const err = await b.encode([img(1)]).catch((e) => e);
  t.type(err, UnavailableError);
  t.match(err.message, /shutting down/);
});

t.test('work queued while the runner is down (crashed, restarting) runs once it is back', async (t) => {
  const runner = new FakeRunner();
  const b = new Batcher(runner, opts);
  await b.encode([img(1)]);
  runner.ready = false; // the worker died between batches
  const p = b.encode([img(2)]);
  await new Promise((r) => setTimeout(r, 20));
  t.equal(runner.calls.length, 1);
  runner.becomeReady();
  t.equal((await p)[0].eps[0], 4);
});

t.test('work is shared: while requests are active together, a large one goes in slices and a small one gets in between', async (t) => {
  // A large request (24 items) starts alone; 5 ms later, while its first call runs, a sample arrives.
  // The model calls in order (n items each; the sample's is the 1).
  const table: { name: string; slice?: number; sample: boolean; calls: number[] }[] = [
    // Sliced: the sample goes right after the call in flight, then the rest 4 at a time.
    { name: 'shared, slice 4', slice: 4, sample: true, calls: [8, 1, 4, 4, 4, 4] },
    // Alone, a large request keeps full batches (no one is waiting for the model).
    { name: 'alone, slice 4', slice: 4, sample: false, calls: [8, 8, 8] },
    // Without a slice (the batcher's default), arrival order: the sample waits for all of it.
    { name: 'shared, no slice', sample: true, calls: [8, 8, 8, 1] },
  ];
  for (const c of table) {
    const runner = new FakeRunner();
    runner.delayMs = 20;
    const b = new Batcher(runner, { ...opts, maxDelayMs: 0, requestSlice: c.slice });
    const large = b.admit('decode');
    large.work = 24;
    const done = b.decode(
      Array.from({ length: 24 }, (_, i) => Float64Array.of(i, i)),
      'decode',
      large,
    );
    let small: ReturnType<Batcher['admit']> | undefined;
    if (c.sample) {
      await new Promise((r) => setTimeout(r, 5));
      small = b.admit('sample'); // active (its reply not yet sent) until the large one is done
      small.work = 1;
      t.same(
        Array.from((await b.decode([Float64Array.of(100, 100)], 'sample', small))[0].pixels),
        [101, 101],
        `${c.name}: the sample's own image`,
      );
    }
    const out = await done;
    b.end(small);
    b.end(large);
    t.same(
      out.map((d) => d.pixels[0]),
      Array.from({ length: 24 }, (_, i) => i + 1),
      `${c.name}: every large item answered, in order`,
    );
    t.same(
      runner.calls.map((call) => call.n),
      c.calls,
      `${c.name}: model calls ${c.calls.join(', ')}`,
    );
    t.equal(b.activeRequests, 0, `${c.name}: no request left active`);
  }
});
