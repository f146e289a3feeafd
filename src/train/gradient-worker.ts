// A data-parallel helper of the trainer (data-parallel.ts): holds a replica of the model and, per
// step, takes the current training weights and a shard of the batch and answers the shard's mean
// loss and its gradients. Nothing else: the optimiser, averaging and checkpoints stay in the trainer.
import { parentPort, workerData } from 'node:worker_threads';
import { BackendChoice, initBackend } from '../backend/backend.ts';
import { assignAll } from '../glow/checkpoint.ts';
import { Glow } from '../glow/glow.ts';
import { shardGradients, type GradientRequest, type GradientResponse, type GradientWorkerInit } from './data-parallel.ts';

if (!parentPort) throw new Error('gradient-worker.ts must run in a worker thread');
const port = parentPort;
const init = workerData as GradientWorkerInit;
await initBackend(init.backend as BackendChoice);
const glow = new Glow(init.config);
assignAll(glow.buffers, new Map(Object.entries(init.buffers)), 'gradient worker');
glow.markInitialized();

port.on('message', (req: GradientRequest) => {
  try {
    assignAll(glow.params, new Map(Object.entries(req.weights)), 'gradient worker');
    const { loss, grads } = shardGradients(glow, req.x, req.n);
    const res: GradientResponse = { loss, grads: Object.fromEntries(grads) };
    port.postMessage(
      res,
      [...grads.values()].map((a) => a.buffer as ArrayBuffer),
    );
  } catch (err) {
    port.postMessage({ error: (err as Error).stack ?? String(err) } satisfies GradientResponse);
  }
});
port.postMessage({ ready: true });
