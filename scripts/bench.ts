// One run, one machine: the plain matMul rate (the ceiling), the training step's effective
// GFLOP/s and images/s for the shipped configuration, a whole training iteration in one thread and
// data-parallel, and encode/decode latency and images/s at batch 1 and 64 on both inference engines
// (TF.js and ONNX Runtime, as the server's worker runs them: src/inference/engines.ts), measured in
// alternation, with their ratios.
// With the native GEMM (src/backend/native-blas.ts) the ceiling is its rate, and the matMul and the
// training step are measured in WASM alone as well, to show what it brings.
//   npm run bench [-- --model models/mnist --batch 64 --steps 5 --reps 15 --inference-only]
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/backend.ts';
import { fingerprintOf } from '../src/attributes/builtin.ts';
import { batchPixels } from '../src/data/dataset.ts';
import { loadDataset } from '../src/data/datasets.ts';
import { checkpointFromFiles, readCheckpointFiles, readManifest } from '../src/glow/checkpoint.ts';
import { modelUnits } from '../src/glow/pixels.ts';
import { OnnxEngine, TfjsEngine, type InferenceEngine } from '../src/inference/engines.ts';
import { forwardFlopsPerImage } from '../src/glow/flops.ts';
import { Glow, GlowConfig } from '../src/glow/glow.ts';
import { normalArray } from '../src/glow/random.ts';
import { wasmKernelOptions } from '../src/backend/wasm-kernels.ts';
import { Adam } from '../src/train/adam.ts';
import { GradientWorkers, shardGradients } from '../src/train/data-parallel.ts';
import { Polyak } from '../src/train/polyak.ts';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string', default: 'models/mnist' },
    batch: { type: 'string', default: '64' },
    steps: { type: 'string', default: '5' },
    reps: { type: 'string', default: '15' },
    'inference-only': { type: 'boolean', default: false },
  },
});
const backend = await initBackend(undefined, () => {});
const fallback: GlowConfig = { height: 28, width: 28, channels: 1, levels: 2, depth: 8, hidden: 128, coupling: 'affine', nBits: 8 };
const config = existsSync(path.join(args.model!, 'manifest.json')) ? (await readManifest(args.model!)).config : fallback;
const batch = Number(args.batch);
const steps = Number(args.steps);

/** Median wall time of `fn` over `reps` runs after one warm-up, in ms. */
async function time(reps: number, fn: () => tf.Tensor | tf.Tensor[]): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i <= reps; i++) {
    const t0 = performance.now();
    const out = fn();
    const outs = Array.isArray(out) ? out : [out];
    await Promise.all(outs.map((o) => o.data()));
    tf.dispose(outs);
    if (i > 0) times.push(performance.now() - t0);
  }
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)];
}

const inferenceOnly = args['inference-only']!;
const glow = new Glow(config);
const d = config.height * config.width * config.channels;
const x = tf.tensor4d(
  normalArray(batch * d, 1, 0.2).map((v) => Math.max(-0.5, Math.min(0.5, v))),
  [batch, config.height, config.width, config.channels],
);
glow.initialize(x);
const lines: string[] = [];
if (!inferenceOnly) lines.push(...(await trainingFigures()));

const threads = backend === 'wasm' ? ` (${process.env.GLOW_WASM_THREADS ?? 2} threads)` : '';

/** Sections 1 and 2: the GEMM ceiling and training. */
async function trainingFigures(): Promise<string[]> {
  // 1. The ceiling: a plain matMul shaped like the coupling's 1×1 conv (pixels × hidden × hidden).
  const [m, k, n] = [batch * 14 * 14, config.hidden, config.hidden];
  const a = tf.randomNormal([m, k]);
  const b = tf.randomNormal([k, n]);
  const mmMs = await time(10, () => tf.matMul(a, b));
  const ceiling = (2 * m * k * n) / mmMs / 1e6;
  const blas = backend === 'wasm' ? wasmKernelOptions.blas : undefined;
  /** `fn` measured with the native GEMM switched off. */
  async function inWasmOnly<T>(fn: () => Promise<T>): Promise<T> {
    wasmKernelOptions.blas = undefined;
    try {
      return await fn();
    } finally {
      wasmKernelOptions.blas = blas;
    }
  }
  const wasmCeiling = blas ? (2 * m * k * n) / (await inWasmOnly(() => time(10, () => tf.matMul(a, b)))) / 1e6 : ceiling;

  // 2. A training step (forward + backward, the same work as scripts/train.ts minus the optimiser).
  const vars = [...glow.params.values()];
  const trainingStep = () => {
    const { value, grads } = tf.variableGrads(() => glow.loss(x), vars);
    return [value, ...Object.values(grads)];
  };
  const stepMs = await time(steps, trainingStep);
  const wasmStepMs = blas ? await inWasmOnly(() => time(steps, trainingStep)) : stepMs;
  const stepFlops = 3 * forwardFlopsPerImage(config) * batch;
  const stepRate = stepFlops / stepMs / 1e6;

  // 2b. Whole training iterations as scripts/train.ts runs them (gradients, Adam, averaging), in this thread alone
  // and data-parallel with one worker thread per extra core (src/train/data-parallel.ts).
  const pixels = new Float32Array(await x.data());
  const adam = new Adam(glow.params);
  const polyak = new Polyak(glow.params, 0.999);
  async function iterationMs(workers?: GradientWorkers): Promise<number> {
    const times: number[] = [];
    for (let i = 0; i <= steps; i++) {
      const t0 = performance.now();
      const { grads } = workers ? await workers.gradients(glow, pixels, batch) : shardGradients(glow, pixels, batch);
      adam.apply(grads, 1e-6);
      polyak.update();
      if (i > 0) times.push(performance.now() - t0);
    }
    return times.sort((a, b) => a - b)[Math.floor(times.length / 2)];
  }
  const workerCount = GradientWorkers.defaultCount(backend);
  const aloneMs = await iterationMs();
  let parallel: { ms: number; workers: number } | undefined;
  if (workerCount > 0) {
    const workers = await GradientWorkers.start(workerCount, glow, backend);
    parallel = { ms: await iterationMs(workers), workers: workerCount };
    await workers.close();
  }

  const out: string[] = [];
  out.push(
    `plain matMul [${m}×${k}]·[${k}×${n}]: ${ceiling.toFixed(1)} GFLOP/s (the ceiling)${blas ? `; in WASM alone ${wasmCeiling.toFixed(1)} GFLOP/s` : ''}`,
  );
  out.push(
    `training step, batch ${batch}: ${stepMs.toFixed(0)} ms, ${((batch * 1000) / stepMs).toFixed(1)} images/s, ${stepRate.toFixed(1)} GFLOP/s effective = ${((100 * stepRate) / ceiling).toFixed(0)}% of the ceiling`,
  );
  if (blas) {
    const wasmRate = stepFlops / wasmStepMs / 1e6;
    out.push(
      `training step in WASM alone (GLOW_BLAS=off): ${wasmStepMs.toFixed(0)} ms, ${((batch * 1000) / wasmStepMs).toFixed(1)} images/s, ${wasmRate.toFixed(1)} GFLOP/s = ${((100 * wasmRate) / wasmCeiling).toFixed(0)}% of its ceiling; the native GEMM makes a step ${(wasmStepMs / stepMs).toFixed(2)}× faster`,
    );
  }
  const perSecond = (ms: number) => ((batch * 1000) / ms).toFixed(1);
  out.push(
    `training iteration with Adam and averaging: ${aloneMs.toFixed(0)} ms, ${perSecond(aloneMs)} images/s in one thread` +
      (parallel
        ? `; data-parallel over ${parallel.workers + 1} threads ${parallel.ms.toFixed(0)} ms, ${perSecond(parallel.ms)} images/s (${(aloneMs / parallel.ms).toFixed(2)}×)`
        : ''),
  );
  return out;
}

// 3. Inference on both engines: the shipped checkpoint and its test images when there is one (else the
// model above on its random batch), encode and decode at batch 1 and 64, the engines taking turns.
const files = existsSync(path.join(args.model!, 'manifest.json')) ? await readCheckpointFiles(args.model!) : undefined;
const served = files ? checkpointFromFiles(files, args.model!).glow : glow;
const images = async (nb: number): Promise<Float32Array> => {
  if (!files) return (await x.data()).slice(0, nb * d) as Float32Array;
  const test = loadDataset(files.manifest.dataset, 'test');
  return modelUnits(
    batchPixels(
      test,
      Array.from({ length: nb }, (_, i) => i),
    ),
    config.nBits,
  );
};
const onnxThreads = Number(process.env.GLOW_ONNX_THREADS ?? 2);
const engines: InferenceEngine[] = [
  new TfjsEngine(served),
  await OnnxEngine.create(served, files ? fingerprintOf(files.weights) : '', 'bench', { threads: onnxThreads }),
];
const reps = Number(args.reps);
const median = (v: number[]) => [...v].sort((p, q) => p - q)[Math.floor(v.length / 2)];
const figures: Record<string, Record<string, number>> = {};
for (const nb of [1, 64]) {
  const xs = await images(nb);
  // Each engine decodes its own latents: an image out of range gets a float64 latent from TF.js (the
  // precise path) and a float32 one from ONNX Runtime when it comes back as it is.
  const latents = new Map<InferenceEngine, Float64Array>();
  for (const e of engines) latents.set(e, (await e.encode(nb, xs)).eps);
  const times = new Map<string, number[]>();
  const timed = async (key: string, fn: () => Promise<unknown>) => {
    const t0 = performance.now();
    await fn();
    times.set(key, [...(times.get(key) ?? []), performance.now() - t0]);
  };
  for (const e of engines) await e.decode(nb, await e.encode(nb, xs).then((r) => r.eps)); // warm-up
  // Batch 64 on TF.js takes a good fraction of a second: fewer rounds there.
  for (let r = 0; r < (nb === 1 ? reps : Math.ceil(reps / 2)); r++)
    for (const e of engines) {
      // Each turn starts with an untimed call: the first call after the other engine's finds the caches
      // holding the other engine's weights (ONNX Runtime's batch-1 encode measured 5.0 ms right after a
      // TF.js call against 3.2 ms after its own), and a served model runs one engine.
      await e.decode(nb, (await e.encode(nb, xs)).eps);
      await timed(`${e.name} encode`, () => e.encode(nb, xs));
      await timed(`${e.name} decode`, () => e.decode(nb, latents.get(e)!));
    }
  for (const [key, v] of times) (figures[key] ??= {})[nb] = median(v);
}
await engines[1].close();

const blasNote = backend === 'wasm' && wasmKernelOptions.blas ? ', native OpenBLAS GEMM' : '';
console.log(
  `backend ${backend}${threads}${blasNote}; model ${config.levels} levels × depth ${config.depth}, hidden ${config.hidden}, ${config.coupling}; ${glow.parameterCount()} parameters`,
);
for (const l of lines) console.log(l);
console.log(
  `inference (${files ? `${args.model}, its test images` : 'random weights'}; medians of ${reps} runs at batch 1, ${Math.ceil(reps / 2)} at 64, engines alternating, each turn after an untimed call; ONNX Runtime on ${onnxThreads} lanes, a batch cut over them):`,
);
for (const op of ['encode', 'decode'])
  for (const nb of [1, 64]) {
    const [tfMs, onnxMs] = [figures[`tfjs ${op}`][nb], figures[`onnx ${op}`][nb]];
    const fig = (ms: number) => `${ms.toFixed(1)} ms, ${((nb * 1000) / ms).toFixed(1)} images/s`;
    console.log(
      `  ${op} batch ${String(nb).padStart(2)}: TF.js ${fig(tfMs)}; ONNX Runtime ${fig(onnxMs)}; ONNX ${(tfMs / onnxMs).toFixed(2)}× faster`,
    );
  }
process.exit(0);
