// ONNX Runtime sessions on several threads at once: a batch is cut into as many contiguous parts as
// there are lanes, and each lane runs its part on a session with one intra-op thread, the first in the
// calling thread and the others each in a worker thread of its own. Measured side by side on the two
// cores, that was 1.2–1.5× the images/s of one session with two intra-op threads at batches 4 to 64
// (docs/performance.md): a lane never waits for the other at each of the graph's ~770 nodes.
// A one-thread session gives the same bits at any batch size, so how a batch is cut never shows.
import { Worker } from 'node:worker_threads';
import type * as Ort from 'onnxruntime-node';
import { tsWorker } from '../ts-worker.ts';

/** The graphs a lane holds (OnnxModels' internal ones; see src/glow/onnx-export.ts). */
export type LaneGraph = 'encodeForward' | 'reencode' | 'decode';
export type LaneGraphs = Partial<Record<LaneGraph, Uint8Array>>;

/** Outputs of one run: n rows each, batch-major. */
export type Rows = Record<string, Float32Array>;
/** Inputs of one run: n rows each, batch-major, and the shape of one row ([] for a value per image). */
export type Feeds = Record<string, { data: Float32Array; dims: number[] }>;

/** ONNX Runtime's session options, chosen by measurement (docs/performance.md). */
export function sessionOptions(opts: { threads: number }) {
  return {
    intraOpNumThreads: opts.threads,
    // One graph at a time per lane: no inter-op pool.
    interOpNumThreads: 1,
    executionMode: 'sequential' as const,
    // 'all' adds the NCHWc layout and conv+activation fusions: the fastest level measured.
    graphOptimizationLevel: 'all' as const,
    enableCpuMemArena: true,
    enableMemPattern: true,
    logSeverityLevel: 3 as const,
    // Idle intra-op threads sleep instead of spinning: on shared cores spinning cost more than it saved.
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  };
}

/** One session per graph, one intra-op thread each, in this thread. */
export class LocalLane {
  private constructor(
    private readonly ort: typeof Ort,
    private readonly sessions: Partial<Record<LaneGraph, Ort.InferenceSession>>,
  ) {}

  static async open(graphs: LaneGraphs): Promise<LocalLane> {
    const ort = await import('onnxruntime-node');
    const entries = await Promise.all(
      Object.entries(graphs).map(
        async ([name, bytes]) => [name, await ort.InferenceSession.create(bytes, sessionOptions({ threads: 1 }))] as const,
      ),
    );
    return new LocalLane(ort, Object.fromEntries(entries));
  }

  /** Runs `graph` on n rows; every output copied out of ONNX Runtime's buffers. */
  async run(graph: LaneGraph, n: number, feeds: Feeds): Promise<Rows> {
    const session = this.sessions[graph];
    if (!session) throw new Error(`this lane has no ${graph} graph`);
    const tensors = Object.fromEntries(
      Object.entries(feeds).map(([name, { data, dims }]) => [name, new this.ort.Tensor('float32', data, [n, ...dims])]),
    );
    const out = await session.run(tensors);
    try {
      return Object.fromEntries(Object.entries(out).map(([name, t]) => [name, Float32Array.from(t.data as Float32Array)]));
    } finally {
      for (const t of Object.values(out)) t.dispose();
    }
  }

  async close(): Promise<void> {
    await Promise.all(Object.values(this.sessions).map((s) => s.release()));
  }
}

/** A lane in a worker thread of its own (onnx-lane-worker.ts). */
class WorkerLane {
  private next = 0;
  private readonly pending = new Map<number, { resolve: (r: Rows) => void; reject: (e: Error) => void }>();
  private failure?: Error;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (msg: { id: number; outputs?: Rows; error?: string }) => {
      const call = this.pending.get(msg.id);
      this.pending.delete(msg.id);
      if (msg.error !== undefined) call?.reject(new Error(msg.error));
      else call?.resolve(msg.outputs!);
    });
    const fail = (err: Error) => {
      this.failure = err;
      for (const call of this.pending.values()) call.reject(err);
      this.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`an ONNX Runtime lane's thread exited (code ${code})`)));
  }

  static async open(graphs: LaneGraphs): Promise<WorkerLane> {
    const worker = tsWorker(new URL('./onnx-lane-worker.ts', import.meta.url), { workerData: { graphs } });
    await new Promise<void>((resolve, reject) => {
      worker.once('message', (msg: { ready?: true; error?: string }) => (msg.ready ? resolve() : reject(new Error(msg.error))));
      worker.once('error', reject);
    });
    return new WorkerLane(worker);
  }

  get alive(): boolean {
    return !this.failure;
  }

  run(graph: LaneGraph, n: number, feeds: Feeds): Promise<Rows> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, graph, n, feeds });
    });
  }

  async close(): Promise<void> {
    this.failure ??= new Error('closed');
    await this.worker.terminate();
  }
}

/** The parts of n ≥ 1 rows over `lanes` lanes: contiguous, sizes differing by at most one, none empty. */
export function cut(n: number, lanes: number): { start: number; count: number }[] {
  const used = Math.max(1, Math.min(lanes, n));
  const parts = [];
  for (let i = 0, start = 0; i < used; i++) {
    const count = Math.floor(n / used) + (i < n % used ? 1 : 0);
    parts.push({ start, count });
    start += count;
  }
  return parts;
}

/**
 * `count` lanes over the same graphs: the first in this thread, the others in worker threads. A lane
 * whose thread has died is left out of later runs (its part of a run in flight fails that run).
 */
export class OnnxLanes {
  private constructor(
    private readonly local: LocalLane,
    private readonly workers: WorkerLane[],
  ) {}

  static async open(graphs: LaneGraphs, count: number): Promise<OnnxLanes> {
    const [local, ...workers] = await Promise.all([
      LocalLane.open(graphs),
      ...Array.from({ length: Math.max(0, count - 1) }, () => WorkerLane.open(graphs)),
    ]);
    return new OnnxLanes(local, workers as WorkerLane[]);
  }

  /** Runs `graph` on n rows, cut over the lanes; the outputs' rows in the inputs' order. */
  async run(graph: LaneGraph, n: number, feeds: Feeds): Promise<Rows> {
    const lanes = [this.local, ...this.workers.filter((w) => w.alive)];
    const parts = cut(n, lanes.length);
    if (parts.length === 1) return this.local.run(graph, n, feeds);
    // The local lane's run is synchronous but starts on a later turn (ONNX Runtime's setImmediate),
    // after every worker lane has been sent its part.
    const results = await Promise.all(
      parts.map(({ start, count }, i) =>
        lanes[i].run(
          graph,
          count,
          Object.fromEntries(
            Object.entries(feeds).map(([name, { data, dims }]) => [
              name,
              { data: data.slice((start * data.length) / n, ((start + count) * data.length) / n), dims },
            ]),
          ),
        ),
      ),
    );
    return Object.fromEntries(
      Object.keys(results[0]).map((name) => {
        const out = new Float32Array(results.reduce((s, r) => s + r[name].length, 0));
        let offset = 0;
        for (const r of results) {
          out.set(r[name], offset);
          offset += r[name].length;
        }
        return [name, out];
      }),
    );
  }

  async close(): Promise<void> {
    await Promise.all([this.local.close(), ...this.workers.map((w) => w.close())]);
  }
}
