// The inference worker: the only thread that touches TF.js. TF.js compute is synchronous, so
// running it here keeps the HTTP thread (and /healthz, /metrics) responsive during a batch.
// It receives whole batches from the batcher and answers one message per batch.
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../glow/backend.ts';
import { fingerprintOf } from '../attributes/builtin.ts';
import { checkpointFromFiles } from '../glow/checkpoint.ts';
import type { Glow } from '../glow/glow.ts';
import { countNonFinite, fromModelUnits, quantise, toModelUnits } from '../glow/pixels.ts';
import type { ModelInfo, WorkerInit, WorkerRequest, WorkerResponse } from './worker-protocol.ts';

if (!parentPort) throw new Error('inference-worker.ts must run in a worker thread');
const port = parentPort;

function post(msg: WorkerResponse, transfer: ArrayBuffer[] = []): void {
  port.postMessage(msg, transfer);
}

async function init(opts: WorkerInit): Promise<Glow> {
  const backend = await initBackend(opts.backend, (message) => post({ kind: 'log', message }));
  const { glow, manifest } = checkpointFromFiles(opts.checkpoint, opts.modelDir);
  const fingerprint = fingerprintOf(opts.checkpoint.weights);
  // The bytes are in the model's tensors now; drop workerData's copy (the client keeps one for respawns).
  delete (opts as Partial<WorkerInit>).checkpoint;
  const { height, width, channels, nBits } = glow.config;
  // Warm-up: the first call on a backend compiles/allocates; do it before /readyz says yes.
  const x = toModelUnits(new Uint8Array(height * width * channels), [1, height, width, channels], nBits);
  const { eps, logpx } = glow.encode(x);
  const back = glow.decode(eps);
  await fromModelUnits(back, nBits);
  tf.dispose([x, eps, logpx, back]);
  const info: ModelInfo = {
    name: manifest.name,
    dataset: manifest.dataset,
    config: glow.config,
    latentDim: glow.latentDim,
    parameterCount: glow.parameterCount(),
    steps: manifest.steps,
    testBpd: manifest.testBpd ?? null,
    backend,
    fingerprint,
    manifest: { ...manifest },
  };
  post({ kind: 'ready', info });
  return glow;
}

async function handle(glow: Glow, req: WorkerRequest): Promise<void> {
  const t0 = performance.now();
  const { height, width, channels, nBits } = glow.config;
  // Every tensor made here is disposed in `finally`, also when a call throws, so a bad batch
  // cannot leak (the tensor count is exported and must stay flat).
  const made: tf.Tensor[] = [];
  const keep = <T extends tf.Tensor>(t: T): T => (made.push(t), t);
  try {
    switch (req.kind) {
      case 'encode': {
        const x = keep(toModelUnits(req.pixels, [req.n, height, width, channels], nBits));
        // tidy: the model's intermediates are freed even when a call throws half-way.
        const { eps, bpdT } = tf.tidy(() => {
          const { eps, logpx } = glow.encode(x);
          return { eps, bpdT: glow.bitsPerDim(logpx) };
        });
        keep(eps);
        keep(bpdT);
        const [epsData, bpdData] = await Promise.all([eps.data(), bpdT.data()]);
        const epsOut = new Float32Array(epsData as Float32Array);
        const bpd = new Float32Array(bpdData as Float32Array);
        post({ kind: 'encoded', id: req.id, eps: epsOut, bpd, ...stats(t0, made) }, [epsOut.buffer, bpd.buffer]);
        return;
      }
      case 'decode': {
        const eps = keep(tf.tensor2d(req.latents, [req.n, glow.latentDim]));
        const x = keep(tf.tidy(() => glow.decode(eps)));
        const values = (await x.data()) as Float32Array;
        const nonFinite = countNonFinite(values, req.n);
        const out = quantise(values, nBits); // a fresh array: its whole buffer can be transferred
        post({ kind: 'decoded', id: req.id, pixels: out, nonFinite, ...stats(t0, made) }, [out.buffer as ArrayBuffer, nonFinite.buffer as ArrayBuffer]);
        return;
      }
      case 'stats':
        post({ kind: 'stats', id: req.id, ...stats(t0, made) });
        return;
    }
  } finally {
    tf.dispose(made);
  }
}

/** Tensor count as it will be once this call's own tensors are disposed. */
function stats(t0: number, made: tf.Tensor[]) {
  const own = made.filter((t) => !t.isDisposed).length;
  return { numTensors: tf.memory().numTensors - own, ms: performance.now() - t0 };
}

const ready = init(workerData as WorkerInit).catch((err: unknown) => {
  post({ kind: 'init-error', message: (err as Error)?.stack ?? String(err) });
  return undefined;
});

// Requests are handled strictly one at a time: the batcher sends one batch at a time anyway,
// and a chain keeps a stray second message from interleaving two batches' async reads.
let chain: Promise<void> = Promise.resolve();
port.on('message', (req: WorkerRequest) => {
  chain = chain.then(async () => {
    const glow = await ready;
    if (!glow) return post({ kind: 'error', id: req.id, message: 'model failed to load' });
    try {
      await handle(glow, req);
    } catch (err) {
      post({ kind: 'error', id: req.id, message: (err as Error)?.message ?? String(err) });
    }
  });
});
