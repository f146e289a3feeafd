import os from 'node:os';
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import type { Glow, GlowConfig } from '../glow/glow.ts';
import { tsWorker } from '../ts-worker.ts';

export interface GradientWorkerInit {
  config: GlowConfig;
  /** The fixed buffers (1×1 conv permutations and signs): sent once. */
  buffers: Record<string, { data: Float32Array; shape: number[] }>;
  backend: string;
}
export interface GradientRequest {
  weights: Record<string, { data: Float32Array; shape: number[] }>;
  x: Float32Array;
  n: number;
}
export type GradientResponse = { loss: number; grads: Record<string, Float32Array> } | { error: string } | { ready: true };

const WORKER_URL = new URL('./gradient-worker.ts', import.meta.url);

/** Mean loss of one batch ([n, h, w, c] in model units) and the named gradients, as fresh arrays. */
export function shardGradients(glow: Glow, x: Float32Array, n: number): { loss: number; grads: Map<string, Float32Array> } {
  const { height, width, channels } = glow.config;
  const xs = tf.tensor4d(x, [n, height, width, channels]);
  const { value, grads } = tf.variableGrads(() => glow.loss(xs), [...glow.params.values()]);
  const names = new Map([...glow.params].map(([name, v]) => [v.name, name]));
  // Copies: the CPU backend hands out its own storage.
  const out = new Map(Object.entries(grads).map(([tfName, g]) => [names.get(tfName)!, Float32Array.from(g.dataSync() as Float32Array)]));
  const loss = value.dataSync()[0];
  tf.dispose([xs, value, ...Object.values(grads)]);
  return { loss, grads: out };
}

/**
 * Data-parallel training on one machine. The WASM backend computes on one core per thread and a training
 * step does not speed up with XNNPACK threads (it is bound by single-threaded work between kernels), so
 * the batch is split instead: the trainer computes the gradient of its shard while each worker thread
 * computes that of another shard on a replica of the model, given the current weights. The shards'
 * gradients, weighted by their sizes, add up to the gradient of the whole batch's mean loss.
 */
export class GradientWorkers {
  private constructor(private readonly workers: Worker[]) {}

  /** Default worker count: one per core beyond the trainer's own, none on the native backend (it is multi-threaded). */
  static defaultCount(backend: string): number {
    return backend === 'tensorflow' ? 0 : Math.max(0, os.availableParallelism() - 1);
  }

  static async start(count: number, glow: Glow, backend: string): Promise<GradientWorkers> {
    const buffers = Object.fromEntries([...glow.buffers].map(([n, v]) => [n, { data: v.dataSync() as Float32Array, shape: v.shape }]));
    const init: GradientWorkerInit = { config: glow.config, buffers, backend };
    const workers = Array.from({ length: count }, () =>
      // One WASM thread each: the cores are shared out by sharding the batch.
      tsWorker(WORKER_URL, { workerData: init, env: { ...process.env, GLOW_WASM_THREADS: '1' } }),
    );
    const pool = new GradientWorkers(workers);
    try {
      await Promise.all(workers.map((w) => pool.reply(w)));
    } catch (err) {
      await pool.close();
      throw err;
    }
    return pool;
  }

  /**
   * Gradients of the mean loss over the batch x ([n, h, w, c], model units) at the model's current weights:
   * the first shard here, one shard per worker. Returns the batch's mean loss and named gradients.
   */
  async gradients(glow: Glow, x: Float32Array, n: number): Promise<{ loss: number; grads: Map<string, Float32Array> }> {
    const { height, width, channels } = glow.config;
    const size = height * width * channels;
    const shards = this.workers.length + 1;
    const rows = Array.from({ length: shards }, (_, i) => Math.floor((n * (i + 1)) / shards) - Math.floor((n * i) / shards));
    const weights = Object.fromEntries([...glow.params].map(([name, v]) => [name, { data: v.dataSync() as Float32Array, shape: v.shape }]));
    let offset = rows[0];
    const replies = this.workers.map((w, i) => {
      const part = x.slice(offset * size, (offset + rows[i + 1]) * size);
      offset += rows[i + 1];
      const req: GradientRequest = { weights, x: part, n: rows[i + 1] };
      const reply = this.reply(w);
      w.postMessage(req, [part.buffer]);
      return reply;
    });
    // This thread's shard, while the workers compute theirs.
    const own = shardGradients(glow, x.subarray(0, rows[0] * size), rows[0]);
    const others = await Promise.all(replies);
    // Σ (rows of the shard / n) · (the shard's mean-loss gradient), in place in this thread's arrays.
    const grads = own.grads;
    for (const [name, g] of grads) {
      for (let i = 0; i < g.length; i++) g[i] *= rows[0] / n;
      for (let s = 1; s < shards; s++) {
        const gs = others[s - 1].grads[name];
        const weight = rows[s] / n;
        for (let i = 0; i < g.length; i++) g[i] += weight * gs[i];
      }
    }
    const loss = [own, ...others].reduce((sum, r, s) => sum + (r.loss * rows[s]) / n, 0);
    return { loss, grads };
  }

  /** The next message of a worker: its answer, or its error as a rejection. */
  private reply(w: Worker): Promise<{ loss: number; grads: Record<string, Float32Array> }> {
    return new Promise((resolve, reject) => {
      const onMessage = (msg: GradientResponse) => {
        w.off('error', onError);
        w.off('exit', onExit);
        if ('error' in msg) reject(new Error(`gradient worker: ${msg.error}`));
        else resolve(msg as { loss: number; grads: Record<string, Float32Array> });
      };
      const onError = (err: Error) => {
        w.off('message', onMessage);
        w.off('exit', onExit);
        reject(err);
      };
      const onExit = (code: number) => {
        w.off('message', onMessage);
        w.off('error', onError);
        reject(new Error(`gradient worker exited (code ${code})`));
      };
      w.once('message', onMessage);
      w.once('error', onError);
      w.once('exit', onExit);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
