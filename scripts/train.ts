// Trains a Glow model and writes a checkpoint directory (models/<name>/) that the server loads.
//   npm run train -- --dataset mnist --time-budget 2h            (new run)
//   npm run train -- --out models/mnist --resume --time-budget 1h (continue exactly where it stopped)
//   npm run train -- --grow-from models/mnist --depth 16 --out runs/mnist-d16 --time-budget 2h
//                                                                  (a deeper model that starts as the trained one)
// Everything random derives from --seed and the step number (data order per epoch, dequantisation
// noise per step), so a resumed run draws the same batches it would have drawn without the stop.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { batchPixels, loadDataset } from '../src/data/datasets.ts';
import { initBackend } from '../src/glow/backend.ts';
import { Manifest, loadCheckpoint, readManifest, readTrainingState, saveCheckpoint } from '../src/glow/checkpoint.ts';
import { DEFAULT_PRIOR_BOUNDS, Glow, GlowConfig } from '../src/glow/glow.ts';
import { growDepth } from '../src/glow/grow.ts';
import { modelUnits, toModelUnits } from '../src/glow/pixels.ts';
import { uniformArray, uniformGenerator } from '../src/glow/random.ts';
import { Adam } from '../src/train/adam.ts';
import { GradientWorkers, shardGradients } from '../src/train/data-parallel.ts';
import { Polyak } from '../src/train/polyak.ts';
import { evaluateBpd, formatOutliers, outliers } from '../src/train/evaluate.ts';
import { parseDuration } from '../src/train/duration.ts';
import { Progress } from '../src/train/progress.ts';

const { values: args } = parseArgs({
  options: {
    dataset: { type: 'string' }, // default mnist; on --resume, the checkpoint's
    name: { type: 'string' },
    out: { type: 'string' },
    resume: { type: 'boolean', default: false },
    // A new run that starts from a trained checkpoint grown deeper (src/glow/grow.ts): its trained
    // steps are kept and --depth (a multiple of its depth) is reached with identity-initialised steps.
    'grow-from': { type: 'string' },
    levels: { type: 'string', default: '2' },
    depth: { type: 'string', default: '8' },
    hidden: { type: 'string', default: '128' },
    // Soft floor under the priors' σ (GlowConfig.priorMinSd; default none). With --resume or --grow-from it replaces the stored one.
    'prior-min-sd': { type: 'string' },
    // Additive by default: its inverse stays exact off the training data (docs/stability.md).
    coupling: { type: 'string', default: 'additive' },
    // Affine coupling only: a floor under the scale (GlowConfig.minScale; default none).
    'min-scale': { type: 'string' },
    // The priors' bounds as "mean,logSdMin,logSdMax" (GlowConfig.priorBounds), or "none".
    'prior-bounds': { type: 'string' },
    'n-bits': { type: 'string', default: '8' },
    batch: { type: 'string', default: '64' },
    // Peak learning rate (default 1e-3). Given again on --resume it replaces the stored one, for a new cycle.
    lr: { type: 'string' },
    warmup: { type: 'string', default: '500' },
    // Linear learning-rate decay, by step so a resumed run follows the same schedule: from
    // --decay-start over --decay-steps down to --decay-to × lr, then constant. Stored in the
    // manifest; given again on --resume it replaces the stored one.
    'decay-start': { type: 'string' },
    'decay-steps': { type: 'string', default: '2000' },
    'decay-to': { type: 'string', default: '0.1' },
    // Polyak averaging of the weights (0 = off): the average is what is evaluated and shipped.
    polyak: { type: 'string', default: '0.999' },
    clip: { type: 'string', default: '50' },
    steps: { type: 'string' },
    'time-budget': { type: 'string' },
    'checkpoint-every': { type: 'string', default: '5m' },
    'eval-every': { type: 'string', default: '1000' },
    'eval-images': { type: 'string', default: '1000' },
    'skip-final-eval': { type: 'boolean', default: false },
    'init-images': { type: 'string', default: '512' },
    seed: { type: 'string', default: '1' },
    backend: { type: 'string' },
    // Data-parallel worker threads (src/train/data-parallel.ts); default: one per extra core on WASM/CPU.
    workers: { type: 'string' },
  },
});

const log = (msg: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${msg}`);
const wantWorkers = args.workers === undefined ? 'auto' : Number(args.workers);
if (!(wantWorkers === 'auto' || (Number.isInteger(wantWorkers) && wantWorkers >= 0))) throw new Error('--workers must be a whole number ≥ 0');
// With workers, every thread computes on one core: WASM's own threads would only contend with them.
if (wantWorkers !== 0) process.env.GLOW_WASM_THREADS ??= '1';
const backend = await initBackend((args.backend ?? process.env.GLOW_BACKEND ?? 'auto') as never, log);
const name = args.name ?? args.dataset ?? 'mnist';
const outDir = args.out ?? path.join('models', name);
// A resumed run trains on the checkpoint's dataset; naming another one is a mistake, not a switch.
// So does a run grown from a checkpoint.
const sourceDir = args.resume ? outDir : args['grow-from'];
const resumedDataset = sourceDir && existsSync(path.join(sourceDir, 'manifest.json')) ? (await readManifest(sourceDir)).dataset : undefined;
if (resumedDataset && args.dataset && args.dataset !== resumedDataset) throw new Error(`${args.resume ? '--resume' : '--grow-from'}: ${sourceDir} was trained on ${resumedDataset}, not ${args.dataset}`);
const dataset = resumedDataset ?? args.dataset ?? 'mnist';
const batch = Number(args.batch);
const lr = Number(args.lr ?? '1e-3');
if (!(lr > 0)) throw new Error('--lr must be > 0');
const seed = Number(args.seed);
if (args.coupling !== 'affine' && args.coupling !== 'additive') throw new Error('--coupling is affine or additive');
const priorMinSd = args['prior-min-sd'] === undefined ? undefined : Number(args['prior-min-sd']);
if (priorMinSd !== undefined && !(priorMinSd >= 0)) throw new Error('--prior-min-sd must be ≥ 0');
const train = loadDataset(dataset, 'train');
const test = loadDataset(dataset, 'test');
const pixelsPerImage = train.height * train.width * train.channels;

let glow: Glow;
let manifest: Manifest;
let adam: Adam;
let trainingState: Map<string, { data: Float32Array; shape: number[] }> | undefined;
if (args.resume) {
  if (!existsSync(path.join(outDir, 'manifest.json'))) throw new Error(`--resume: no checkpoint in ${outDir}`);
  ({ glow, manifest } = await loadCheckpoint(outDir));
  if (priorMinSd !== undefined && priorMinSd !== (glow.config.priorMinSd ?? 0)) {
    // The same weights in a model whose priors have the new σ floor (workers build theirs from its config).
    log(`prior σ floor: ${glow.config.priorMinSd ?? 0} replaced by ${priorMinSd}`);
    const old = glow;
    glow = growDepth(old, 1, { priorMinSd });
    old.dispose();
    manifest.config = glow.config;
  }
  adam = new Adam(glow.params);
  trainingState = await readTrainingState(outDir, manifest.steps);
  adam.restore(trainingState);
  if (adam.step !== manifest.steps) throw new Error(`optimiser is at step ${adam.step}, the manifest at ${manifest.steps}`);
  log(`resumed ${outDir} at step ${manifest.steps} (${manifest.imagesSeen} images seen, test bpd ${manifest.testBpd ?? 'n/a'})`);
} else if (args['grow-from']) {
  if (existsSync(path.join(outDir, 'manifest.json'))) throw new Error(`${outDir} already holds a checkpoint: pass --resume, or another --out`);
  const source = await loadCheckpoint(args['grow-from']);
  const depth = Number(args.depth);
  if (!(depth % source.glow.config.depth === 0)) throw new Error(`--grow-from: --depth ${depth} must be a multiple of the checkpoint's depth ${source.glow.config.depth}`);
  glow = growDepth(source.glow, depth / source.glow.config.depth, priorMinSd === undefined ? {} : { priorMinSd });
  source.glow.dispose();
  adam = new Adam(glow.params);
  const s = source.manifest;
  manifest = {
    name: args.name ?? s.name,
    dataset,
    config: glow.config,
    steps: 0,
    imagesSeen: 0,
    testBpd: null,
    date: new Date().toISOString(),
    backend,
    // Where the kept steps were trained: their steps, images and seconds come on top of this run's.
    grownFrom: { name: s.name, depth: s.config.depth, steps: s.steps, imagesSeen: s.imagesSeen, seconds: s.training?.seconds ?? 0, testBpd: s.testBpd },
    training: { batch, lr, warmup: Number(args.warmup), clip: Number(args.clip), seed, lrScale: 1, skippedSteps: 0, seconds: 0, history: [] },
  };
  log(`grew ${args['grow-from']} (depth ${s.config.depth}, step ${s.steps}, test bpd ${s.testBpd}) to depth ${depth}: ${glow.parameterCount()} parameters`);
} else {
  if (existsSync(path.join(outDir, 'manifest.json'))) throw new Error(`${outDir} already holds a checkpoint: pass --resume, or another --out`);
  const config: GlowConfig = {
    height: train.height,
    width: train.width,
    channels: train.channels,
    levels: Number(args.levels),
    depth: Number(args.depth),
    hidden: Number(args.hidden),
    coupling: args.coupling as GlowConfig['coupling'],
    nBits: Number(args['n-bits']),
    seed,
    ...(priorMinSd ? { priorMinSd } : {}),
    ...(args['min-scale'] ? { minScale: Number(args['min-scale']) } : {}),
    ...parsePriorBounds(args['prior-bounds']),
  };
  glow = new Glow(config);
  adam = new Adam(glow.params);
  const initCount = Number(args['init-images']);
  const initIdx = Array.from({ length: initCount }, (_, i) => i);
  const x = toModelUnits(batchPixels(train, initIdx), [initCount, train.height, train.width, train.channels], config.nBits, uniformArray(initCount * pixelsPerImage, seed));
  glow.initialize(x); // actnorm data-dependent initialisation
  x.dispose();
  manifest = {
    name,
    dataset,
    config,
    steps: 0,
    imagesSeen: 0,
    testBpd: null,
    date: new Date().toISOString(),
    backend,
    training: { batch, lr, warmup: Number(args.warmup), clip: Number(args.clip), seed, lrScale: 1, skippedSteps: 0, seconds: 0, history: [] },
  };
  log(`new ${config.levels}-level model, depth ${config.depth}, hidden ${config.hidden}, ${config.coupling} coupling: ${glow.parameterCount()} parameters`);
}

function parsePriorBounds(text: string | undefined): Pick<GlowConfig, 'priorBounds'> {
  if (text === undefined) return { priorBounds: DEFAULT_PRIOR_BOUNDS };
  if (text === 'none') return {};
  const [mean, lo, hi] = text.split(',').map(Number);
  if (!(mean > 0 && lo < hi)) throw new Error('--prior-bounds is "mean,logSdMin,logSdMax" (mean > 0, min < max) or "none"');
  return { priorBounds: { mean, logSd: [lo, hi] } };
}

// Set on every path above (a checkpoint without it fails earlier: it has no training state either).
const training = manifest.training!;
// A checkpoint from before averaging existed starts averaging when resumed.
training.polyak ??= Number(args.polyak);
if (!(training.polyak >= 0 && training.polyak < 1)) throw new Error('--polyak must be in [0, 1)');
const polyak = training.polyak > 0 ? new Polyak(glow.params, training.polyak) : undefined;
if (polyak && trainingState) {
  // The weights file holds the averaged weights; the training weights are "raw.<param>" in the state.
  const raw = new Map([...trainingState].filter(([k]) => k.startsWith('raw.')).map(([k, a]) => [k.slice(4), a] as const));
  polyak.restore(raw, training.polyakUpdates ?? 0);
}

/** Runs `fn` with the weights that are evaluated and shipped: the averaged ones when averaging is on. */
async function withShippedWeights<T>(fn: (raw?: Map<string, tf.Tensor>) => Promise<T>): Promise<T> {
  if (!polyak) {
    glow.weightsChanged();
    return fn();
  }
  try {
    return await polyak.withAveraged(async (raw) => {
      glow.weightsChanged(); // the cached W⁻¹ of the 1×1 convolutions
      return fn(raw);
    });
  } finally {
    glow.weightsChanged();
  }
}
if (args.resume && args.lr !== undefined) {
  log(`learning rate: ${training.lr} replaced by ${args.lr}`);
  training.lr = lr;
}
if (args['decay-start'] !== undefined) {
  const decay = { start: Number(args['decay-start']), steps: Number(args['decay-steps']), to: Number(args['decay-to']) };
  if (!(Number.isInteger(decay.start) && decay.start >= 0 && Number.isInteger(decay.steps) && decay.steps >= 1 && decay.to > 0 && decay.to <= 1)) {
    throw new Error('--decay-start must be a step ≥ 0, --decay-steps ≥ 1, --decay-to in (0, 1]');
  }
  training.decay = decay;
  log(`learning rate: ${training.lr} until step ${decay.start}, then linearly to ${training.lr * decay.to} at step ${decay.start + decay.steps}`);
}

/** Learning rate of a step: warm-up, the NaN guard's scale, and the decay. */
function learningRate(step: number): number {
  const warm = Math.min(1, (step + 1) / training.warmup);
  const d = training.decay;
  const decay = d ? 1 - (1 - d.to) * Math.min(1, Math.max(0, step - d.start) / d.steps) : 1;
  return training.lr * training.lrScale * warm * decay;
}
// A resumed run keeps the batch size it started with: the data order depends on it.
const B = training.batch;
const nBits = manifest.config.nBits;

/** Training-set indices of a step: a fresh permutation each epoch, seeded by (seed, epoch). */
let permEpoch = -1;
let perm = new Uint32Array(0);
function batchIndices(step: number): Uint32Array {
  const first = step * B;
  const epoch = Math.floor(first / train.count);
  if (epoch !== permEpoch) {
    const rand = uniformGenerator(training.seed * 7919 + epoch);
    perm = Uint32Array.from({ length: train.count }, (_, i) => i);
    for (let i = perm.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [perm[i], perm[j]] = [perm[j], perm[i]];
    }
    permEpoch = epoch;
  }
  const start = first % train.count;
  return Uint32Array.from({ length: B }, (_, i) => perm[(start + i) % train.count]);
}

const budgetMs = args['time-budget'] ? parseDuration(args['time-budget']) : Infinity;
const stepTarget = args.steps ? Number(args.steps) : Infinity;
if (budgetMs === Infinity && stepTarget === Infinity) throw new Error('give --steps or --time-budget');
const checkpointEveryMs = parseDuration(args['checkpoint-every']!);
const evalEvery = Number(args['eval-every']);
const evalImages = Number(args['eval-images']);
const started = Date.now();
let lastCheckpoint = Date.now();
let secondsAtStart = training.seconds;
let stopRequested = false;
let firstSignalAt = 0;
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.on(signal, () => {
    // A wrapper (npm, tsx) may relay the same signal a moment later: only a repeat after 5 s forces exit.
    if (stopRequested && Date.now() - firstSignalAt > 5000) process.exit(130);
    if (stopRequested) return;
    stopRequested = true;
    firstSignalAt = Date.now();
    log(`${signal}: finishing the step, then saving (send it again after 5 s to quit without saving)`);
  });

async function checkpoint(reason: string): Promise<void> {
  training.seconds = secondsAtStart + (Date.now() - started) / 1000;
  training.polyakUpdates = polyak?.updates;
  manifest.date = new Date().toISOString();
  manifest.backend = backend;
  const state = adam.state();
  await withShippedWeights(async (raw) => {
    const all = new Map(state);
    for (const [name, t] of raw ?? []) all.set(`raw.${name}`, t);
    await saveCheckpoint(outDir, glow, manifest, all);
  });
  tf.dispose([...state.values()]);
  lastCheckpoint = Date.now();
  log(`checkpoint (${reason}): ${outDir} at step ${manifest.steps}`);
}

async function quickEval(): Promise<number> {
  const { bpd } = await withShippedWeights(() => evaluateBpd(glow, test, { limit: evalImages, seed: 12345 }));
  return bpd;
}

const workerCount = wantWorkers === 'auto' ? GradientWorkers.defaultCount(backend) : wantWorkers;
const workers = workerCount > 0 ? await GradientWorkers.start(workerCount, glow, backend) : undefined;
if (workers) log(`data-parallel: each batch of ${B} is split between this thread and ${workerCount} worker thread(s)`);

/** Mean loss of a batch and its named gradients. */
async function lossAndGradients(pixels: Uint8Array, noise: Float32Array): Promise<{ loss: number; grads: Map<string, Float32Array> }> {
  const x = modelUnits(pixels, nBits, noise);
  return workers ? workers.gradients(glow, x, B) : shardGradients(glow, x, B);
}

const progress = new Progress(process.stdout.isTTY === true);
let emaBpd = NaN;
let windowImages = 0;
let windowStart = Date.now();
let imagesPerSecond = 0;

while (manifest.steps < stepTarget && Date.now() - started < budgetMs && !stopRequested) {
  // WASM's data() resolves as a microtask, so without a macrotask turn a SIGTERM would wait for
  // the next checkpoint's file I/O (minutes) to be noticed.
  await new Promise((resolve) => setImmediate(resolve));
  const step = manifest.steps;
  const idx = batchIndices(step);
  const { loss, grads } = await lossAndGradients(batchPixels(train, idx), uniformArray(B * pixelsPerImage, training.seed * 1_000_003 + step));
  let squares = 0;
  for (const g of grads.values()) for (let i = 0; i < g.length; i++) squares += g[i] * g[i];
  const norm = Math.sqrt(squares);
  if (!Number.isFinite(loss) || !Number.isFinite(norm)) {
    // NaN/Inf guard: skip the update, halve the learning rate; the weights stay finite.
    training.lrScale /= 2;
    training.skippedSteps += 1;
    progress.clear();
    log(`step ${step}: non-finite loss/gradient (loss ${loss}, |g| ${norm}); skipped, learning-rate scale now ${training.lrScale}`);
  } else {
    adam.apply(grads, learningRate(step), norm > training.clip ? training.clip / norm : 1);
    polyak?.update();
    emaBpd = Number.isNaN(emaBpd) ? loss : 0.98 * emaBpd + 0.02 * loss;
  }
  manifest.steps += 1;
  manifest.imagesSeen += B;
  windowImages += B;

  const now = Date.now();
  // Over 10 s windows; the first figure as soon as a second has passed.
  if (now - windowStart > 10_000 || (imagesPerSecond === 0 && now - windowStart > 1000)) {
    imagesPerSecond = windowImages / ((now - windowStart) / 1000);
    windowImages = 0;
    windowStart = now;
  }
  const remainingMs = Math.min(budgetMs - (now - started), stepTarget === Infinity ? Infinity : ((stepTarget - manifest.steps) * B * 1000) / (imagesPerSecond || 1));
  progress.update({ step: manifest.steps, epoch: manifest.imagesSeen / train.count, bpd: emaBpd, imagesPerSecond, etaSeconds: remainingMs / 1000 });
  if (!progress.tty && manifest.steps % 50 === 0)
    log(`step ${manifest.steps} epoch ${(manifest.imagesSeen / train.count).toFixed(2)} train bpd ${emaBpd.toFixed(3)} ${imagesPerSecond.toFixed(1)} img/s`);

  if (manifest.steps % evalEvery === 0) {
    const bpd = await quickEval();
    training.history.push({ step: manifest.steps, trainBpd: Number(emaBpd.toFixed(4)), testBpdSample: Number(bpd.toFixed(4)), images: evalImages });
    progress.clear();
    log(`step ${manifest.steps}: test bpd ${bpd.toFixed(4)} on ${evalImages} test images (train ${emaBpd.toFixed(4)})`);
  }
  if (Date.now() - lastCheckpoint > checkpointEveryMs) await checkpoint('periodic');
}
progress.clear();
if (!args['skip-final-eval']) {
  log(`evaluating on all ${test.count} test images…`);
  const { bpd, count, perImage } = await withShippedWeights(() => evaluateBpd(glow, test, { seed: 12345 }));
  manifest.testBpd = Number(bpd.toFixed(4));
  manifest.testImages = count;
  const { median, worst } = outliers(perImage);
  log(`test bpd: ${bpd.toFixed(4)} (${count} images; median ${median.toFixed(4)}; worst ${formatOutliers(worst)})`);
}
await checkpoint(stopRequested ? 'stop requested' : 'end of run');
await workers?.close();
process.exit(0);
