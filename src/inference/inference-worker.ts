// The inference worker: the only thread that runs the model (TF.js, or ONNX Runtime: engines.ts).
// Model compute is synchronous, so running it here keeps the HTTP thread (and /healthz, /metrics)
// responsive during a batch.
// It receives whole batches from the batcher and answers one message per batch.
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../backend/backend.ts';
import { fingerprintOf } from '../attributes/builtin.ts';
import { checkpointFromFiles } from '../glow/checkpoint.ts';
import type { Glow } from '../glow/glow.ts';
import { countNonFinite, modelUnits, quantise } from '../glow/pixels.ts';
import { createEngine, type InferenceEngine } from './engines.ts';
import type { ModelInfo, WorkerInit, WorkerRequest, WorkerResponse } from './worker-protocol.ts';

interface Loaded {
  glow: Glow;
  engine: InferenceEngine;
}

if (!parentPort) throw new Error('inference-worker.ts must run in a worker thread');
const port = parentPort;

function post(msg: WorkerResponse, transfer: ArrayBuffer[] = []): void {
  port.postMessage(msg, transfer);
}

async function init(opts: WorkerInit): Promise<Loaded> {
  const backend = await initBackend(opts.backend, (message) => post({ kind: 'log', message }));
  const { glow, manifest } = checkpointFromFiles(opts.checkpoint, opts.modelDir);
  const fingerprint = fingerprintOf(opts.checkpoint.weights);
  // The bytes are in the model's tensors now; drop workerData's copy (the client keeps one for respawns).
  delete (opts as Partial<WorkerInit>).checkpoint;
  const engine = await createEngine(
    opts.engine ?? 'auto',
    glow,
    fingerprint,
    manifest.name,
    { threads: opts.onnxThreads ?? 2 },
    (message) => post({ kind: 'log', message }),
  );
  const { height, width, channels, nBits } = glow.config;
  // Warm-up: the first call on a backend compiles/allocates; do it before /readyz says yes.
  const { eps } = await engine.encode(1, modelUnits(new Uint8Array(height * width * channels), nBits));
  await engine.decode(1, eps);
  const info: ModelInfo = {
    name: manifest.name,
    dataset: manifest.dataset,
    config: glow.config,
    latentDim: glow.latentDim,
    parameterCount: glow.parameterCount(),
    steps: manifest.steps,
    testBpd: manifest.testBpd ?? null,
    backend,
    engine: engine.name,
    fingerprint,
    manifest: { ...manifest },
  };
  post({ kind: 'ready', info });
  return { glow, engine };
}

async function handle({ glow, engine }: Loaded, req: WorkerRequest): Promise<void> {
  const t0 = performance.now();
  const { nBits } = glow.config;
  switch (req.kind) {
    case 'encode': {
      const { eps, bpd, reencoded } = await engine.encode(req.n, modelUnits(req.pixels, nBits));
      post({ kind: 'encoded', id: req.id, eps, bpd, reencoded, ...stats(t0) }, [eps.buffer as ArrayBuffer, bpd.buffer as ArrayBuffer]);
      return;
    }
    case 'decode': {
      const values = await engine.decode(req.n, req.latents);
      const nonFinite = countNonFinite(values, req.n);
      const out = quantise(values, nBits); // a fresh array: its whole buffer can be transferred
      post({ kind: 'decoded', id: req.id, pixels: out, nonFinite, ...stats(t0) }, [
        out.buffer as ArrayBuffer,
        nonFinite.buffer as ArrayBuffer,
      ]);
      return;
    }
    case 'stats':
      post({ kind: 'stats', id: req.id, ...stats(t0) });
      return;
  }
}

/** The engines free their tensors before they return: the count is the model's own. */
function stats(t0: number) {
  return { numTensors: tf.memory().numTensors, ms: performance.now() - t0 };
}

const ready = init(workerData as WorkerInit).catch((err: unknown) => {
  post({ kind: 'init-error', message: (err as Error)?.stack ?? String(err) });
  return undefined;
});

// Requests are handled strictly one at a time: the batcher sends one batch at a time anyway,
// and a chain keeps a stray second message from interleaving two batches' async reads.
let chain: Promise<void> = Promise.resolve();
port.on('message', (req: WorkerRequest) => {
  if (req.kind === 'retire') {
    // Queued behind the batch in progress: exiting while ONNX Runtime still runs one aborts the whole process.
    chain = chain.then(async () => {
      await ready;
      process.exit(0);
    });
    return;
  }
  chain = chain.then(async () => {
    const loaded = await ready;
    if (!loaded) return post({ kind: 'error', id: req.id, message: 'model failed to load' });
    try {
      await handle(loaded, req);
    } catch (err) {
      post({ kind: 'error', id: req.id, message: (err as Error)?.message ?? String(err) });
    }
  });
});
