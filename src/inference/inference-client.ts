// Main-thread handle on the inference worker: spawns it, matches replies to calls, and respawns
// it when it dies (the calls in flight fail; queued work waits for the new worker).
import { EventEmitter } from 'node:events';
import { Worker } from 'node:worker_threads';
import { readCheckpointFiles, type CheckpointFiles } from '../glow/checkpoint.ts';
import { tsWorker } from '../ts-worker.ts';
import { UnavailableError } from '../errors.ts';
import type { ModelInfo, WorkerInit, WorkerRequest, WorkerResponse, WorkerStats } from './worker-protocol.ts';

export interface EncodeBatchResult extends WorkerStats {
  eps: Float64Array;
  bpd: Float32Array;
  /** How many of the images took encode's second, precise pass. */
  reencoded: number;
}
export interface DecodeBatchResult extends WorkerStats {
  pixels: Uint8Array;
  /** Per image, values the reverse left NaN or ±Inf. */
  nonFinite: Uint32Array;
}

/** What the batcher needs from whoever runs the model (a fake in unit tests). */
export interface Runner {
  readonly ready: boolean;
  /** Resolves once a (re)started worker can take work. */
  whenReady(): Promise<ModelInfo>;
  encode(n: number, pixels: Uint8Array): Promise<EncodeBatchResult>;
  decode(n: number, latents: Float64Array): Promise<DecodeBatchResult>;
}

export interface InferenceClientOptions extends Omit<WorkerInit, 'checkpoint'> {
  log?: (level: 'info' | 'warn' | 'error', msg: string) => void;
  /** Delay before respawning a crashed worker. */
  restartDelayMs?: number;
  /** A batch taking longer than this means a wedged worker: it is retired and a new one spawned. */
  callTimeoutMs?: number;
  /** How long a retired worker may finish its batch before it is terminated. */
  retireGraceMs?: number;
}

type Pending = { resolve: (r: WorkerResponse) => void; reject: (e: Error) => void };

const WORKER_URL = new URL('./inference-worker.ts', import.meta.url);

export class InferenceClient extends EventEmitter implements Runner {
  info: ModelInfo | undefined;
  /** Set when the model cannot be loaded at all (bad checkpoint): no point respawning. */
  fatal: Error | undefined;
  numTensors = 0;
  private worker: Worker | undefined;
  private pending = new Map<number, Pending>();
  private nextId = 1;
  private readyWaiters: { resolve: (i: ModelInfo) => void; reject: (e: Error) => void }[] = [];
  private closed = false;
  private isReady = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private checkpoint: CheckpointFiles | undefined;

  constructor(private readonly opts: InferenceClientOptions) {
    super();
    // Read once: a respawned worker serves the same weights even if a trainer has replaced the
    // files since (the attribute catalog is keyed by this load's fingerprint; see ModelRegistry.reload).
    readCheckpointFiles(opts.modelDir).then(
      (files) => {
        this.checkpoint = files;
        if (!this.closed) this.spawn();
      },
      (err: Error) => this.fail(err.message),
    );
  }

  get ready(): boolean {
    return this.isReady;
  }

  whenReady(): Promise<ModelInfo> {
    if (this.fatal) return Promise.reject(this.fatal);
    if (this.isReady && this.info) return Promise.resolve(this.info);
    return new Promise((resolve, reject) => this.readyWaiters.push({ resolve, reject }));
  }

  async encode(n: number, pixels: Uint8Array): Promise<EncodeBatchResult> {
    const r = await this.call({ kind: 'encode', id: 0, n, pixels }, [pixels.buffer as ArrayBuffer]);
    if (r.kind !== 'encoded') throw new Error(`worker answered ${r.kind} to encode`);
    return r;
  }

  async decode(n: number, latents: Float64Array): Promise<DecodeBatchResult> {
    const r = await this.call({ kind: 'decode', id: 0, n, latents }, [latents.buffer as ArrayBuffer]);
    if (r.kind !== 'decoded') throw new Error(`worker answered ${r.kind} to decode`);
    return r;
  }

  async stats(): Promise<WorkerStats> {
    const r = await this.call({ kind: 'stats', id: 0 }, []);
    if (r.kind !== 'stats') throw new Error(`worker answered ${r.kind} to stats`);
    return r;
  }

  /**
   * The worker's tensor count now (asked after any batch in progress), or the count after its last
   * call when it does not answer within `timeoutMs` (busy with a long batch) or is not running.
   */
  async liveTensors(timeoutMs = 1000): Promise<number> {
    if (!this.isReady) return this.numTensors;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<number>((resolve) => (timer = setTimeout(() => resolve(this.numTensors), timeoutMs)));
    try {
      return await Promise.race([this.stats().then((s) => s.numTensors), late]);
    } catch {
      return this.numTensors;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Ends the worker; calls still running fail with `reason`. */
  async close(reason: Error = new Error('inference worker closed')): Promise<void> {
    this.closed = true;
    this.isReady = false;
    clearTimeout(this.restartTimer);
    const w = this.worker;
    this.worker = undefined;
    this.failPending(reason);
    this.failWaiters(reason);
    if (w) await this.retire(w);
  }

  /**
   * Ends a worker once the batch it is running is done. worker.terminate() mid-batch is not safe:
   * ONNX Runtime finishes the run on its own threads and then calls into the torn-down thread, which
   * aborts the whole process. A TF.js worker still busy `retireGraceMs` later is terminated (JS can be
   * interrupted); an ONNX Runtime one is left to finish.
   */
  private retire(w: Worker): Promise<void> {
    if (w.threadId < 0) return Promise.resolve(); // exited already
    // Before its 'ready' the engine is unknown: only an explicit TF.js worker is known to be safe to terminate.
    const tfjs = (this.info?.engine ?? this.opts.engine) === 'tfjs';
    return new Promise((resolve) => {
      const graceMs = this.opts.retireGraceMs ?? 30_000;
      const force = setTimeout(() => {
        if (!tfjs) {
          // Terminating it would abort the process once ONNX Runtime's run returns: let it finish on its own.
          this.log('error', `inference worker still busy ${graceMs} ms after it was retired; left to finish its ONNX Runtime run`);
          w.unref();
          resolve();
          return;
        }
        this.log('error', `inference worker still busy ${graceMs} ms after it was retired; terminating it`);
        void w.terminate().then(() => resolve());
      }, graceMs);
      w.once('exit', () => {
        clearTimeout(force);
        resolve();
      });
      w.postMessage({ kind: 'retire' } satisfies WorkerRequest);
    });
  }

  private call(req: WorkerRequest, transfer: ArrayBuffer[]): Promise<WorkerResponse> {
    const w = this.worker;
    if (!w || !this.isReady) return Promise.reject(new Error('inference worker is not ready'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timeoutMs = this.opts.callTimeoutMs ?? 120_000;
      const timer = setTimeout(() => {
        this.log('error', `inference worker did not answer within ${timeoutMs} ms; restarting it`);
        this.lost(w, new UnavailableError(`inference worker did not answer within ${timeoutMs} ms; it is restarting, retry`, 2));
        void this.retire(w);
      }, timeoutMs);
      timer.unref();
      const settle = () => clearTimeout(timer);
      this.pending.set(id, {
        resolve: (r) => (settle(), resolve(r)),
        reject: (e) => (settle(), reject(e)),
      });
      // The caller's buffers are moved to the worker: callers must not reuse them.
      w.postMessage({ ...req, id }, transfer);
    });
  }

  private spawn(): void {
    const { modelDir, backend, engine, onnxThreads } = this.opts;
    const init: WorkerInit = { modelDir, checkpoint: this.checkpoint!, backend, engine, onnxThreads };
    const w = tsWorker(WORKER_URL, { workerData: init });
    this.worker = w;
    w.on('message', (msg: WorkerResponse) => {
      // A retired worker finishes its batch and may still say 'ready' (closed during its start): not ours any more.
      if (this.worker === w) this.onMessage(msg);
    });
    w.on('error', (err) => this.log('error', `inference worker error: ${err.stack ?? err.message}`));
    w.on('exit', (code) => {
      if (this.worker !== w) return; // retired on purpose
      this.log('error', `inference worker exited with code ${code}; restarting`);
      this.lost(w, new UnavailableError(`inference worker exited (code ${code}); it is restarting, retry`, 2));
    });
  }

  /** The worker `w` serves no more: its calls fail with `why`, and a new one is spawned. */
  private lost(w: Worker, why: Error): void {
    if (this.worker !== w) return;
    this.worker = undefined;
    this.isReady = false;
    this.failPending(why);
    if (this.closed || this.fatal) return;
    this.emit('restart');
    // Not unref'd: queued requests are waiting for this worker. close() cancels it.
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (!this.closed) this.spawn();
    }, this.opts.restartDelayMs ?? 500);
  }

  private onMessage(msg: WorkerResponse): void {
    switch (msg.kind) {
      case 'ready':
        this.info = msg.info;
        this.isReady = true;
        this.log(
          'info',
          `model ${msg.info.name} ready (${msg.info.parameterCount} parameters, engine ${msg.info.engine}, TF.js backend ${msg.info.backend})`,
        );
        for (const w of this.readyWaiters.splice(0)) w.resolve(msg.info);
        this.emit('ready', msg.info);
        return;
      case 'init-error':
        this.fail(msg.message);
        return;
      case 'log':
        this.log('info', msg.message);
        return;
      default: {
        const p = this.pending.get(msg.id);
        if (!p) return;
        this.pending.delete(msg.id);
        if ('numTensors' in msg) this.numTensors = msg.numTensors;
        if (msg.kind === 'error') p.reject(new Error(msg.message));
        else p.resolve(msg);
      }
    }
  }

  /** The model cannot be loaded at all (bad checkpoint): no point respawning. */
  private fail(why: string): void {
    this.fatal = new Error(`model could not be loaded from ${this.opts.modelDir}: ${why}`);
    this.log('error', this.fatal.message);
    this.failWaiters(this.fatal);
    this.emit('fatal', this.fatal);
  }

  private failPending(err: Error): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  private failWaiters(err: Error): void {
    for (const w of this.readyWaiters.splice(0)) w.reject(err);
  }

  private log(level: 'info' | 'warn' | 'error', msg: string): void {
    this.opts.log?.(level, msg);
  }
}
