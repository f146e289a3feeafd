// Trains a Glow model and writes a checkpoint directory (models/<name>/) that the server loads.
//   npm run train -- --dataset mnist --time-budget 2h            (new run)
//   npm run train -- --out models/mnist --resume --time-budget 1h (continue exactly where it stopped)
//   npm run train -- --grow-from models/mnist --depth 16 --out runs/mnist-d16 --time-budget 2h
//                                                                  (a deeper model that starts as the trained one)
// This script reads the flags and handles the stop signals; the training is src/train/trainer.ts.
import path from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend } from '../src/backend/backend.ts';
import type { LearningRateDecay } from '../src/glow/checkpoint.ts';
import { DEFAULT_PRIOR_BOUNDS, GlowConfig } from '../src/glow/glow.ts';
import { parseDuration } from '../src/train/duration.ts';
import { Trainer } from '../src/train/trainer.ts';

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
    // Additive for a new run unless given: its inverse stays exact off the training data (docs/stability.md).
    // With --grow-from, --coupling, --min-scale and --prior-bounds change the grown model's (default: kept).
    coupling: { type: 'string' },
    // Affine coupling only: a floor under the scale (GlowConfig.minScale; default none).
    'min-scale': { type: 'string' },
    // The priors' bounds as "mean,logSdMin,logSdMax" (GlowConfig.priorBounds), or "none".
    'prior-bounds': { type: 'string' },
    'n-bits': { type: 'string', default: '8' },
    batch: { type: 'string', default: '64' },
    // Peak learning rate (default 1e-3). Given again on --resume it replaces the stored one, for a new cycle.
    lr: { type: 'string' },
    // Warm-up steps (default 500). Given on --resume, the rate warms up again from the resumed step.
    warmup: { type: 'string' },
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
if (!(wantWorkers === 'auto' || (Number.isInteger(wantWorkers) && wantWorkers >= 0)))
  throw new Error('--workers must be a whole number ≥ 0');
// With workers, every thread computes on one core: WASM's own threads would only contend with them.
if (wantWorkers !== 0) process.env.GLOW_WASM_THREADS ??= '1';
const backend = await initBackend((args.backend ?? process.env.GLOW_BACKEND ?? 'auto') as never, log);
const coupling = args.coupling ?? 'additive';
if (coupling !== 'affine' && coupling !== 'additive') throw new Error('--coupling is affine or additive');
const minScale = args['min-scale'] === undefined ? undefined : Number(args['min-scale']);
if (minScale !== undefined && !(minScale >= 0 && minScale < 1)) throw new Error('--min-scale must be in [0, 1)');
const priorMinSd = args['prior-min-sd'] === undefined ? undefined : Number(args['prior-min-sd']);
if (priorMinSd !== undefined && !(priorMinSd >= 0)) throw new Error('--prior-min-sd must be ≥ 0');
let decay: LearningRateDecay | undefined;
if (args['decay-start'] !== undefined) {
  decay = { start: Number(args['decay-start']), steps: Number(args['decay-steps']), to: Number(args['decay-to']) };
  if (!(
    Number.isInteger(decay.start) &&
    decay.start >= 0 &&
    Number.isInteger(decay.steps) &&
    decay.steps >= 1 &&
    decay.to > 0 &&
    decay.to <= 1
  )) {
    throw new Error('--decay-start must be a step ≥ 0, --decay-steps ≥ 1, --decay-to in (0, 1]');
  }
}

function parsePriorBounds(text: string | undefined): GlowConfig['priorBounds'] {
  if (text === undefined) return DEFAULT_PRIOR_BOUNDS;
  if (text === 'none') return undefined;
  const [mean, lo, hi] = text.split(',').map(Number);
  if (!(mean > 0 && lo < hi)) throw new Error('--prior-bounds is "mean,logSdMin,logSdMax" (mean > 0, min < max) or "none"');
  return { mean, logSd: [lo, hi] };
}

const trainer = await Trainer.create({
  out: args.out ?? path.join('models', args.name ?? args.dataset ?? 'mnist'),
  resume: args.resume,
  growFrom: args['grow-from'],
  name: args.name,
  dataset: args.dataset,
  model: {
    levels: Number(args.levels),
    depth: Number(args.depth),
    hidden: Number(args.hidden),
    coupling,
    nBits: Number(args['n-bits']),
    minScale,
    priorBounds: parsePriorBounds(args['prior-bounds']),
  },
  growChanges: {
    ...(args.coupling ? { coupling } : {}),
    ...(minScale !== undefined ? { minScale } : {}),
    ...(args['prior-bounds'] !== undefined ? { priorBounds: parsePriorBounds(args['prior-bounds']) } : {}),
  },
  priorMinSd,
  initImages: Number(args['init-images']),
  batch: Number(args.batch),
  lr: args.lr === undefined ? undefined : Number(args.lr),
  lrText: args.lr,
  warmup: args.warmup === undefined ? undefined : Number(args.warmup),
  clip: Number(args.clip),
  seed: Number(args.seed),
  decay,
  polyak: Number(args.polyak),
  backend,
  workers: wantWorkers,
  log,
});

let firstSignalAt = 0;
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.on(signal, () => {
    // A wrapper (npm, tsx) may relay the same signal a moment later: only a repeat after 5 s forces exit.
    if (trainer.stopRequested && Date.now() - firstSignalAt > 5000) process.exit(130);
    if (trainer.stopRequested) return;
    trainer.requestStop();
    firstSignalAt = Date.now();
    log(`${signal}: finishing the step, then saving (send it again after 5 s to quit without saving)`);
  });

await trainer.run({
  steps: args.steps ? Number(args.steps) : undefined,
  timeBudgetMs: args['time-budget'] ? parseDuration(args['time-budget']) : undefined,
  checkpointEveryMs: parseDuration(args['checkpoint-every']!),
  evalEvery: Number(args['eval-every']),
  evalImages: Number(args['eval-images']),
  finalEval: !args['skip-final-eval'],
});
await trainer.close();
process.exit(0);
