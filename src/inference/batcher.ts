// Dynamic batching on the HTTP thread (the Triton / TF-Serving knobs): items of the same
// operation from concurrent requests are grouped into one model call of up to `maxBatch` items,
// waiting at most `maxDelayMs` after the oldest item arrived for the batch to fill. One batch is
// in the worker at a time (TF.js in the worker is single-threaded anyway); items queue meanwhile,
// which is exactly when batches grow. The queue is bounded: beyond `maxQueue` items we refuse with
// 503 + Retry-After instead of growing latency and memory without limit.
import { UnavailableError } from '../errors.ts';
import type { Runner } from './inference-client.ts';

/** Operation labels: `sample` and `decode` both run the decoder but are counted apart. */
export type Op = 'encode' | 'decode' | 'sample';

export interface Encoded {
  /** Standardised ε, latentDim values. */
  eps: Float64Array;
  bpd: number;
}

export interface Decoded {
  /** h·w·c uint8. */
  pixels: Uint8Array;
  /**
   * Values the model's reverse left NaN or ±Inf (drawn 0, +Inf 255). Far from the prior, and for a
   * few real images under an affine-coupling model, float32 rounding blows up along the reverse.
   */
  nonFinite: number;
}

export interface BatcherOptions {
  maxBatch: number;
  maxDelayMs: number;
  maxQueue: number;
  queueTimeoutMs: number;
  /**
   * While more than one request is active, a model call carries at most this many items of large
   * requests (declared work above it): a call is what a newly arrived request waits behind, so
   * slices keep that wait short. A request alone still gets full batches. Default: maxBatch (off).
   */
  requestSlice?: number;
}

/**
 * Admission of one HTTP request. A request is let in at the door (`admit`, the routes' onRequest
 * hook: before its body is read or its images decoded) while the queue plus the slots already
 * reserved there are under `maxQueue`, and holds one reserved slot until its first submission. An
 * admitted request is then always queued, and so are its follow-ups (/manipulate's decode after its
 * encode, the next chunk of an attribute set): refusing them would throw away the work already done
 * for a request we accepted, and under overload would starve exactly the endpoints that do work
 * before queueing. The queue can exceed `maxQueue` only by what admitted requests bring beyond
 * their one slot, and never 2 × `maxQueue`.
 */
export interface Admission {
  /** Let in (at the door, or by a first submission): later submissions are not refused. */
  admitted: boolean;
  /** Holds a slot reserved at the door, until the first submission or the end of the request. */
  reserved?: boolean;
  /** Images the request will put through the model, declared once its body is read (work.ts). */
  work?: number;
  /** Its items sent to the model so far: the least-served request goes first. */
  served?: number;
}

/** Observations for the metrics module (kept as callbacks so the batcher has no prom-client dependency). */
export interface BatcherObserver {
  batch?(op: Op, size: number, workerMs: number, numTensors: number): void;
  queueWait?(op: Op, ms: number): void;
  rejected?(op: Op, reason: 'full' | 'timeout' | 'closed'): void;
  /** A decoded image held `values` NaN or ±Inf values. */
  nonFinite?(op: Op, values: number): void;
  /** `images` of an encode batch took the second, precise pass: their latent left [−5, 5]. */
  reencoded?(images: number): void;
}

interface Item {
  op: Op;
  input: Uint8Array | Float64Array;
  enqueuedAt: number;
  /** The request it belongs to (a stand-in for callers without an admission). */
  owner: Admission;
  resolve: (r: Encoded | Decoded) => void;
  reject: (e: Error) => void;
}

const OPS: Op[] = ['encode', 'decode', 'sample'];

export class Batcher {
  private queues = new Map<Op, Item[]>(OPS.map((op) => [op, []]));
  private queued = 0;
  /** Requests admitted at the door that have not submitted yet (one slot each). */
  private reserved = 0;
  /** Requests admitted at the door and not ended yet: more than one means work is shared by slices. */
  private active = new Set<Admission>();
  private inFlight = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private closedMessage = 'server is shutting down';
  private idleWaiters: (() => void)[] = [];
  /** A waitForRunner() is pending (one is enough). */
  private waiting = false;
  /** Smoothed worker ms per item, for Retry-After. */
  private msPerItem = 5;

  constructor(
    private readonly runner: Runner,
    private readonly opts: BatcherOptions,
    private readonly observer: BatcherObserver = {},
  ) {
    // A restarted worker becomes ready without any request arriving: resume then.
    void this.waitForRunner();
  }

  /** Items waiting (not yet sent to the worker), per op or in total. */
  depth(op?: Op): number {
    return op ? this.queues.get(op)!.length : this.queued;
  }

  /** Requests admitted at the door that have not submitted yet (0 when idle: nothing leaked). */
  get reservedSlots(): number {
    return this.reserved;
  }

  get busy(): boolean {
    return this.inFlight > 0;
  }

  /** Images (h·w·c uint8 each) -> ε and bits/dim each. */
  encode(images: Uint8Array[], admission?: Admission | null): Promise<Encoded[]> {
    return this.submit('encode', images, admission) as Promise<Encoded[]>;
  }

  /** Latents (latentDim float32 each) -> images (h·w·c uint8 each), with their count of non-finite values. */
  decode(latents: Float64Array[], op: 'decode' | 'sample' = 'decode', admission?: Admission | null): Promise<Decoded[]> {
    return this.submit(op, latents, admission) as Promise<Decoded[]>;
  }

  /** Stops taking work (what is offered later gets a 503 with `message`); resolves when everything already accepted has been answered. */
  async drain(message?: string): Promise<void> {
    this.closed = true;
    if (message) this.closedMessage = message;
    this.schedule();
    if (this.queued === 0 && this.inFlight === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  /** Fails everything still queued (after a drain timed out, or when the model cannot load). */
  failAll(err: Error): void {
    for (const q of this.queues.values()) for (const item of q.splice(0)) item.reject(err);
    this.queued = 0;
    this.checkIdle();
  }

  private submit(op: Op, inputs: (Uint8Array | Float64Array)[], admission?: Admission | null): Promise<(Encoded | Decoded)[]> {
    if (inputs.length === 0) return Promise.resolve([]);
    if (this.closed) {
      this.observer.rejected?.(op, 'closed');
      return Promise.reject(new UnavailableError(this.closedMessage, 5));
    }
    // All-or-nothing per request; an oversized request is still taken when the queue is empty,
    // otherwise it could never run. Admitted requests are taken up to a hard cap of twice the limit.
    const limit = admission?.admitted ? 2 * this.opts.maxQueue : this.opts.maxQueue - this.reserved;
    if (this.queued > 0 && this.queued + inputs.length > limit) return Promise.reject(this.full(op));
    const now = performance.now();
    const q = this.queues.get(op)!;
    const owner = admission ?? { admitted: false };
    owner.work ??= inputs.length;
    const promises = inputs.map(
      (input) =>
        new Promise<Encoded | Decoded>((resolve, reject) => {
          q.push({ op, input, enqueuedAt: now, owner, resolve, reject });
        }),
    );
    this.queued += inputs.length;
    if (admission) {
      this.release(admission); // its slot is now real items
      admission.admitted = true;
    }
    this.schedule();
    return Promise.all(promises);
  }

  /**
   * The door (a route's onRequest hook): 503 at once when the queue and the slots reserved by
   * requests let in before are at `maxQueue`; otherwise the request is admitted with one slot
   * reserved. `release` it when the request ends (it is a no-op once the request has submitted).
   */
  admit(op: Op): Admission {
    if (!this.closed && this.queued + this.reserved >= this.opts.maxQueue) throw this.full(op);
    this.reserved++;
    const admission: Admission = { admitted: true, reserved: true };
    this.active.add(admission);
    return admission;
  }

  release(admission: Admission | undefined | null): void {
    if (!admission?.reserved) return;
    admission.reserved = false;
    this.reserved--;
  }

  /** The request is over (answered, or its client gone): its slot and its share of the model are given back. */
  end(admission: Admission | undefined | null): void {
    if (!admission) return;
    this.release(admission);
    this.active.delete(admission);
  }

  /** Requests admitted and not yet ended (0 when idle). */
  get activeRequests(): number {
    return this.active.size;
  }

  private full(op: Op): UnavailableError {
    this.observer.rejected?.(op, 'full');
    const retry = ((this.queued + this.reserved + this.inFlight * this.opts.maxBatch) * this.msPerItem) / 1000;
    return new UnavailableError(
      `inference queue is full (${this.queued + this.reserved} items waiting, limit ${this.opts.maxQueue}); retry later`,
      Math.min(60, retry),
    );
  }

  /** Sends the next due batch, or arms a timer for when one becomes due. */
  private schedule(): void {
    if (this.inFlight > 0 || this.queued === 0) return this.checkIdle();
    if (!this.runner.ready) return void this.waitForRunner(); // calls us again once it is up
    const now = performance.now();
    const shared = this.shared;
    let pick: Op | undefined;
    let pickKey = [Infinity, Infinity];
    let nextDue = Infinity;
    for (const op of OPS) {
      const q = this.queues.get(op)!;
      if (q.length === 0) continue;
      const due = q[0].enqueuedAt + this.opts.maxDelayMs;
      // Full batches and overdue ones go now: oldest first, but while requests share the model an op
      // holding a small request's item goes before one holding only large requests' items.
      if (q.length >= this.opts.maxBatch || due <= now || this.closed) {
        const small = shared ? q.find((item) => !this.large(item)) : undefined;
        const key = small ? [0, small.enqueuedAt] : [shared ? 1 : 0, q[0].enqueuedAt];
        if (!pick || key[0] < pickKey[0] || (key[0] === pickKey[0] && key[1] < pickKey[1])) {
          pick = op;
          pickKey = key;
        }
      } else nextDue = Math.min(nextDue, due);
    }
    if (!pick) {
      if (!this.timer) {
        this.timer = setTimeout(
          () => {
            this.timer = undefined;
            this.schedule();
          },
          Math.max(0, nextDue - now),
        );
      }
      return;
    }
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    void this.run(pick, now);
  }

  /** More than one request is active: large requests' items then go in slices, the least-served first. */
  private get shared(): boolean {
    return this.active.size > 1 && this.slice < this.opts.maxBatch;
  }

  private get slice(): number {
    return Math.max(1, Math.min(this.opts.requestSlice ?? this.opts.maxBatch, this.opts.maxBatch));
  }

  /** An item of a request that declared more work than one slice. */
  private large(item: Item): boolean {
    return (item.owner.work ?? 0) > this.slice;
  }

  private async run(op: Op, now: number): Promise<void> {
    const q = this.queues.get(op)!;
    const batch: Item[] = [];
    const shared = this.shared;
    // Alone: arrival order. Shared: small requests' items first (in arrival order), then at most one
    // slice of large requests' items, the least-served request first.
    const order = shared
      ? [...q].sort(
          (a, b) =>
            Number(this.large(a)) - Number(this.large(b)) || (a.owner.served ?? 0) - (b.owner.served ?? 0) || a.enqueuedAt - b.enqueuedAt,
        )
      : q;
    const taken = new Set<Item>();
    let largeTaken = 0;
    for (const item of order) {
      if (batch.length >= this.opts.maxBatch) break;
      // Whoever waited this long has most likely given up; running it would only delay others.
      if (now - item.enqueuedAt > this.opts.queueTimeoutMs) {
        taken.add(item);
        this.observer.rejected?.(op, 'timeout');
        item.reject(new UnavailableError(`request waited over ${this.opts.queueTimeoutMs} ms in the inference queue`, 1));
        continue;
      }
      if (shared && this.large(item)) {
        if (largeTaken >= this.slice) continue;
        largeTaken++;
      }
      taken.add(item);
      batch.push(item);
    }
    const rest = q.filter((item) => !taken.has(item));
    q.length = 0;
    q.push(...rest);
    this.queued -= taken.size;
    for (const item of batch) item.owner.served = (item.owner.served ?? 0) + 1;
    if (batch.length === 0) return this.schedule();
    for (const item of batch) this.observer.queueWait?.(op, now - item.enqueuedAt);
    this.inFlight++;
    try {
      const n = batch.length;
      if (op === 'encode') {
        const size = batch[0].input.length;
        const pixels = new Uint8Array(n * size);
        batch.forEach((item, i) => pixels.set(item.input as Uint8Array, i * size));
        const r = await this.runner.encode(n, pixels);
        const d = r.eps.length / n;
        batch.forEach((item, i) => item.resolve({ eps: r.eps.slice(i * d, (i + 1) * d), bpd: r.bpd[i] }));
        this.observed(op, n, r.ms, r.numTensors);
        if (r.reencoded > 0) this.observer.reencoded?.(r.reencoded);
      } else {
        const d = batch[0].input.length;
        const latents = new Float64Array(n * d);
        batch.forEach((item, i) => latents.set(item.input as Float64Array, i * d));
        const r = await this.runner.decode(n, latents);
        const size = r.pixels.length / n;
        batch.forEach((item, i) => {
          const nonFinite = r.nonFinite[i];
          if (nonFinite > 0) this.observer.nonFinite?.(op, nonFinite);
          item.resolve({ pixels: r.pixels.slice(i * size, (i + 1) * size), nonFinite });
        });
        this.observed(op, n, r.ms, r.numTensors);
      }
    } catch (err) {
      for (const item of batch) item.reject(err as Error);
    } finally {
      this.inFlight--;
      this.schedule();
    }
  }

  private observed(op: Op, n: number, ms: number, numTensors: number): void {
    this.msPerItem = 0.8 * this.msPerItem + 0.2 * (ms / n);
    this.observer.batch?.(op, n, ms, numTensors);
  }

  private async waitForRunner(): Promise<void> {
    if (this.waiting) return;
    this.waiting = true;
    try {
      await this.runner.whenReady();
      this.waiting = false;
      this.schedule();
    } catch (err) {
      this.waiting = false;
      // The model will never load: answer everyone instead of leaving them hanging.
      this.failAll(new UnavailableError(`model unavailable: ${(err as Error).message}`, 30));
    }
  }

  private checkIdle(): void {
    if (this.queued === 0 && this.inFlight === 0) for (const w of this.idleWaiters.splice(0)) w();
  }
}
