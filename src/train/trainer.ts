// The training loop of scripts/train.ts, importable: a new model, a resumed checkpoint or one grown
// deeper; Adam with warm-up, decay and a NaN guard; Polyak averaging; data-parallel workers;
// periodic evaluation and checkpoints. Everything random derives from the seed and the step number
// (data order per epoch, dequantisation noise per step), so a resumed run draws the same batches it
// would have drawn without the stop.
import { fitForDataset } from '../images/fit.ts';
import { existsSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { Dataset, batchPixels } from '../data/dataset.ts';
import { loadDataset } from '../data/datasets.ts';
import {
  LearningRateDecay,
  Manifest,
  TrainingManifest,
  loadCheckpoint,
  readManifest,
  readTrainingState,
  saveCheckpoint,
} from '../glow/checkpoint.ts';
import { Glow, GlowConfig } from '../glow/glow.ts';
import { type GrowChanges, growDepth } from '../glow/grow.ts';
import { modelUnits, toModelUnits } from '../glow/pixels.ts';
import { uniformArray, uniformGenerator } from '../glow/random.ts';
import type { NamedArray } from '../glow/safetensors.ts';
import { Progress } from '../progress.ts';
import { Adam } from './adam.ts';
import { GradientWorkers, shardGradients } from './data-parallel.ts';
import { EvalResult, evaluateBpd, formatOutliers, outliers } from './evaluate.ts';
import { Polyak } from './polyak.ts';

export interface TrainerOptions {
  /** The checkpoint directory written (and read, with `resume`). */
  out: string;
  /** Continue the checkpoint in `out`. */
  resume?: boolean;
  /** A new run from this checkpoint, grown to `model.depth` (a multiple of its depth; src/glow/grow.ts). */
  growFrom?: string;
  /** With growFrom: config fields to change on the way (coupling, scale floor, prior bounds; src/glow/grow.ts). */
  growChanges?: GrowChanges;
  /** Default: the dataset (new run), the grown checkpoint's name (growFrom). Ignored on resume. */
  name?: string;
  /** Default mnist; with resume or growFrom the checkpoint's, and naming another is an error. */
  dataset?: string;
  /** The architecture of a new run (growFrom uses `depth` only; resume none of it). */
  model: Pick<GlowConfig, 'levels' | 'depth' | 'hidden' | 'coupling' | 'nBits'> & Partial<Pick<GlowConfig, 'minScale' | 'priorBounds'>>;
  /** Soft floor under the priors' σ; with resume or growFrom it replaces the stored one. */
  priorMinSd?: number;
  /** Images of the actnorm data-dependent initialisation (new run). */
  initImages: number;
  batch: number;
  /** Peak learning rate, default 1e-3. Given with resume, it replaces the stored one. */
  lr?: number;
  /** `lr` as the user wrote it, for the log line of its replacement (default: the number). */
  lrText?: string;
  /** Linear warm-up steps, default 500. Given with resume, the rate warms up again from the resumed step. */
  warmup?: number;
  clip: number;
  seed: number;
  /** Given with resume, it replaces the stored one. */
  decay?: LearningRateDecay;
  /** Decay of the weights' average (0 = off), for a run that has none stored. */
  polyak: number;
  /** The initialised TF.js backend (its name). */
  backend: string;
  /** Data-parallel worker threads; 'auto': GradientWorkers.defaultCount. */
  workers: number | 'auto';
  log?: (msg: string) => void;
  /** A progress bar on stdout instead of a log line every 50 steps. Default: when stdout is a terminal. */
  progress?: boolean;
}

export interface RunOptions {
  /** Train until the manifest's step count reaches this. */
  steps?: number;
  /** Or until this long after the trainer was created. */
  timeBudgetMs?: number;
  checkpointEveryMs: number;
  /** Steps between evaluations on the first `evalImages` test images. */
  evalEvery: number;
  evalImages: number;
  /** Evaluate on the whole test split before the last checkpoint. */
  finalEval: boolean;
}

const EVAL_SEED = 12345;

/** Learning rate of a step: warm-up, the NaN guard's scale, and the decay. */
export function learningRate(training: Pick<TrainingManifest, 'lr' | 'lrScale' | 'warmup' | 'warmupFrom' | 'decay'>, step: number): number {
  const warm = Math.min(1, (step - (training.warmupFrom ?? 0) + 1) / training.warmup);
  const d = training.decay;
  const decay = d ? 1 - (1 - d.to) * Math.min(1, Math.max(0, step - d.start) / d.steps) : 1;
  return training.lr * training.lrScale * warm * decay;
}

/** The training-set order of an epoch: a permutation of 0…count−1 seeded by (seed, epoch). */
export function epochOrder(seed: number, epoch: number, count: number): Uint32Array {
  const rand = uniformGenerator(seed * 7919 + epoch);
  const perm = Uint32Array.from({ length: count }, (_, i) => i);
  for (let i = perm.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [perm[i], perm[j]] = [perm[j], perm[i]];
  }
  return perm;
}

/**
 * Training-set indices of each step: consecutive slices of the epoch's order. The epoch is that of
 * the batch's first image; a batch that runs past the end of the epoch wraps to the start of the
 * same order (kept so that checkpoints made so far resume on the batches they would have drawn).
 */
export class BatchOrder {
  private epoch = -1;
  private perm: Uint32Array = new Uint32Array(0);

  constructor(
    readonly seed: number,
    readonly batch: number,
    readonly count: number,
  ) {}

  indices(step: number): Uint32Array {
    const first = step * this.batch;
    const epoch = Math.floor(first / this.count);
    if (epoch !== this.epoch) {
      this.perm = epochOrder(this.seed, epoch, this.count);
      this.epoch = epoch;
    }
    const start = first % this.count;
    return Uint32Array.from({ length: this.batch }, (_, i) => this.perm[(start + i) % this.count]);
  }
}

export class Trainer {
  /** Set by requestStop: run() finishes the step, then saves and returns. */
  stopRequested = false;
  /** Moving average of the training loss (bits/dim); NaN before the first update. */
  emaBpd = NaN;
  readonly training: TrainingManifest;
  readonly polyak?: Polyak;
  readonly batches: BatchOrder;
  private readonly log: (msg: string) => void;
  private readonly progress: Progress;
  private readonly pixelsPerImage: number;
  // The clock of `seconds` in the manifest and of the time budget.
  private readonly started = Date.now();
  private readonly secondsAtStart: number;
  private lastCheckpoint = Date.now();
  private workers?: Promise<GradientWorkers | undefined>;

  private constructor(
    private readonly opts: TrainerOptions,
    readonly glow: Glow,
    readonly manifest: Manifest,
    readonly adam: Adam,
    readonly train: Dataset,
    readonly test: Dataset,
    trainingState: Map<string, NamedArray> | undefined,
  ) {
    const log = (this.log = opts.log ?? (() => {}));
    this.progress = new Progress(opts.progress ?? process.stdout.isTTY === true);
    this.pixelsPerImage = train.height * train.width * train.channels;
    // Every path of create() sets it (a checkpoint without it has no training state either).
    const training = (this.training = manifest.training!);
    // A checkpoint from before averaging existed starts averaging when resumed.
    training.polyak ??= opts.polyak;
    if (!(training.polyak >= 0 && training.polyak < 1)) throw new Error('--polyak must be in [0, 1)');
    this.polyak = training.polyak > 0 ? new Polyak(glow.params, training.polyak) : undefined;
    if (this.polyak && trainingState) {
      // The weights file holds the averaged weights; the training weights are "raw.<param>" in the state.
      const raw = new Map([...trainingState].filter(([k]) => k.startsWith('raw.')).map(([k, a]) => [k.slice(4), a] as const));
      this.polyak.restore(raw, training.polyakUpdates ?? 0);
    }
    if (opts.resume && opts.lr !== undefined) {
      log(`learning rate: ${training.lr} replaced by ${opts.lrText ?? opts.lr}`);
      training.lr = opts.lr;
    }
    if (opts.resume && opts.warmup !== undefined) {
      // A new cycle that jumps from a decayed rate straight to its peak threw the MNIST retrain back
      // (train bpd 1.34 → 1.38 at 3.6e-5 → 3e-4); given --warmup, it ramps up like the first.
      training.warmup = opts.warmup;
      training.warmupFrom = manifest.steps;
      log(`learning rate: warming up again over ${opts.warmup} steps from step ${manifest.steps}`);
    }
    if (opts.decay) {
      const decay = opts.decay;
      training.decay = decay;
      log(
        `learning rate: ${training.lr} until step ${decay.start}, then linearly to ${training.lr * decay.to} at step ${decay.start + decay.steps}`,
      );
    }
    // A resumed run keeps the batch size it started with: the data order depends on it.
    this.batches = new BatchOrder(training.seed, training.batch, train.count);
    this.secondsAtStart = training.seconds;
  }

  /** A new model, the checkpoint in `out` resumed, or a checkpoint grown deeper. */
  static async create(opts: TrainerOptions): Promise<Trainer> {
    const log = opts.log ?? (() => {});
    const { out: outDir, backend, batch, seed, priorMinSd } = opts;
    const lr = opts.lr ?? 1e-3;
    if (!(lr > 0)) throw new Error('--lr must be > 0');
    // A resumed run trains on the checkpoint's dataset; naming another one is a mistake, not a switch.
    // So does a run grown from a checkpoint.
    const sourceDir = opts.resume ? outDir : opts.growFrom;
    const resumedDataset =
      sourceDir && existsSync(path.join(sourceDir, 'manifest.json')) ? (await readManifest(sourceDir)).dataset : undefined;
    if (resumedDataset && opts.dataset && opts.dataset !== resumedDataset)
      throw new Error(`${opts.resume ? '--resume' : '--grow-from'}: ${sourceDir} was trained on ${resumedDataset}, not ${opts.dataset}`);
    const dataset = resumedDataset ?? opts.dataset ?? 'mnist';
    const train = loadDataset(dataset, 'train');
    const test = loadDataset(dataset, 'test');
    const newTraining = (): TrainingManifest => ({
      batch,
      lr,
      warmup: opts.warmup ?? 500,
      clip: opts.clip,
      seed,
      lrScale: 1,
      skippedSteps: 0,
      seconds: 0,
      history: [],
    });

    let glow: Glow;
    let manifest: Manifest;
    let trainingState: Map<string, NamedArray> | undefined;
    if (opts.resume) {
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
      trainingState = await readTrainingState(outDir, manifest.steps);
    } else if (opts.growFrom) {
      if (existsSync(path.join(outDir, 'manifest.json')))
        throw new Error(`${outDir} already holds a checkpoint: pass --resume, or another --out`);
      const source = await loadCheckpoint(opts.growFrom);
      const depth = opts.model.depth;
      if (!(depth % source.glow.config.depth === 0))
        throw new Error(`--grow-from: --depth ${depth} must be a multiple of the checkpoint's depth ${source.glow.config.depth}`);
      const changes: GrowChanges = { ...opts.growChanges, ...(priorMinSd === undefined ? {} : { priorMinSd }) };
      glow = growDepth(source.glow, depth / source.glow.config.depth, changes);
      source.glow.dispose();
      const s = source.manifest;
      manifest = {
        name: opts.name ?? s.name,
        dataset,
        // What fit=true does to uploads for this model (src/images/fit.ts).
        fit: s.fit ?? fitForDataset(dataset),
        config: glow.config,
        steps: 0,
        imagesSeen: 0,
        testBpd: null,
        date: new Date().toISOString(),
        backend,
        // Where the kept steps were trained: their steps, images and seconds come on top of this run's.
        grownFrom: {
          name: s.name,
          depth: s.config.depth,
          steps: s.steps,
          imagesSeen: s.imagesSeen,
          seconds: s.training?.seconds ?? 0,
          testBpd: s.testBpd,
        },
        training: newTraining(),
      };
      log(
        `grew ${opts.growFrom} (depth ${s.config.depth}, step ${s.steps}, test bpd ${s.testBpd}) to depth ${depth}, ${glow.config.coupling} coupling${glow.config.minScale ? ` (scale floor ${glow.config.minScale})` : ''}: ${glow.parameterCount()} parameters`,
      );
    } else {
      if (existsSync(path.join(outDir, 'manifest.json')))
        throw new Error(`${outDir} already holds a checkpoint: pass --resume, or another --out`);
      const { levels, depth, hidden, coupling, nBits, minScale, priorBounds } = opts.model;
      const config: GlowConfig = {
        height: train.height,
        width: train.width,
        channels: train.channels,
        levels,
        depth,
        hidden,
        coupling,
        nBits,
        seed,
        ...(priorMinSd ? { priorMinSd } : {}),
        ...(minScale !== undefined ? { minScale } : {}),
        ...(priorBounds ? { priorBounds } : {}),
      };
      glow = new Glow(config);
      const initCount = opts.initImages;
      const initIdx = Array.from({ length: initCount }, (_, i) => i);
      const x = toModelUnits(
        batchPixels(train, initIdx),
        [initCount, train.height, train.width, train.channels],
        config.nBits,
        uniformArray(initCount * train.height * train.width * train.channels, seed),
      );
      glow.initialize(x); // actnorm data-dependent initialisation
      x.dispose();
      manifest = {
        name: opts.name ?? dataset,
        dataset,
        fit: fitForDataset(dataset),
        config,
        steps: 0,
        imagesSeen: 0,
        testBpd: null,
        date: new Date().toISOString(),
        backend,
        training: newTraining(),
      };
      log(
        `new ${config.levels}-level model, depth ${config.depth}, hidden ${config.hidden}, ${config.coupling} coupling: ${glow.parameterCount()} parameters`,
      );
    }
    const adam = new Adam(glow.params);
    if (trainingState) {
      adam.restore(trainingState);
      if (adam.step !== manifest.steps) throw new Error(`optimiser is at step ${adam.step}, the manifest at ${manifest.steps}`);
      log(`resumed ${outDir} at step ${manifest.steps} (${manifest.imagesSeen} images seen, test bpd ${manifest.testBpd ?? 'n/a'})`);
    }
    return new Trainer(opts, glow, manifest, adam, train, test, trainingState);
  }

  /** run() finishes the current step, then saves and returns. */
  requestStop(): void {
    this.stopRequested = true;
  }

  /** Learning rate of a step under this run's schedule. */
  learningRate(step: number): number {
    return learningRate(this.training, step);
  }

  /** Runs `fn` with the weights that are evaluated and shipped: the averaged ones when averaging is on. */
  async withShippedWeights<T>(fn: (raw?: Map<string, tf.Tensor>) => Promise<T>): Promise<T> {
    const { glow, polyak } = this;
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

  /** Bits/dim of the shipped weights on the first `limit` test images (all by default). */
  evaluate(limit?: number): Promise<EvalResult> {
    return this.withShippedWeights(() => evaluateBpd(this.glow, this.test, { limit, seed: EVAL_SEED }));
  }

  /** Writes the checkpoint: the shipped weights, the optimiser state and the raw weights, the manifest. */
  async checkpoint(reason: string): Promise<void> {
    const { training, manifest } = this;
    training.seconds = this.secondsAtStart + (Date.now() - this.started) / 1000;
    training.polyakUpdates = this.polyak?.updates;
    manifest.date = new Date().toISOString();
    manifest.backend = this.opts.backend;
    const state = this.adam.state();
    await this.withShippedWeights(async (raw) => {
      const all = new Map(state);
      for (const [name, t] of raw ?? []) all.set(`raw.${name}`, t);
      await saveCheckpoint(this.opts.out, this.glow, manifest, all);
    });
    tf.dispose([...state.values()]);
    this.lastCheckpoint = Date.now();
    this.log(`checkpoint (${reason}): ${this.opts.out} at step ${manifest.steps}`);
  }

  /** The data-parallel workers, started on first use (none if 0 are wanted). */
  private startWorkers(): Promise<GradientWorkers | undefined> {
    this.workers ??= (async () => {
      const { workers: want, backend } = this.opts;
      const count = want === 'auto' ? GradientWorkers.defaultCount(backend) : want;
      if (count === 0) return undefined;
      const workers = await GradientWorkers.start(count, this.glow, backend);
      this.log(`data-parallel: each batch of ${this.training.batch} is split between this thread and ${count} worker thread(s)`);
      return workers;
    })();
    return this.workers;
  }

  /** Mean loss of a step's batch (its images, its noise) and the named gradients, at the training weights. */
  async gradients(step: number): Promise<{ loss: number; grads: Map<string, Float32Array> }> {
    const workers = await this.startWorkers();
    const B = this.training.batch;
    const pixels = batchPixels(this.train, this.batches.indices(step));
    const x = modelUnits(pixels, this.manifest.config.nBits, uniformArray(B * this.pixelsPerImage, this.training.seed * 1_000_003 + step));
    return workers ? workers.gradients(this.glow, x, B) : shardGradients(this.glow, x, B);
  }

  /**
   * Applies a step's gradients: Adam with the step's learning rate and the gradient clipped, then
   * the average. A non-finite loss or gradient skips the update and halves the learning rate, so
   * the weights stay finite. Returns whether the update was applied.
   */
  update(step: number, loss: number, grads: Map<string, Float32Array>): boolean {
    const training = this.training;
    let squares = 0;
    for (const g of grads.values()) for (let i = 0; i < g.length; i++) squares += g[i] * g[i];
    const norm = Math.sqrt(squares);
    if (!Number.isFinite(loss) || !Number.isFinite(norm)) {
      training.lrScale /= 2;
      training.skippedSteps += 1;
      this.progress.clear();
      this.log(`step ${step}: non-finite loss/gradient (loss ${loss}, |g| ${norm}); skipped, learning-rate scale now ${training.lrScale}`);
      return false;
    }
    this.adam.apply(grads, this.learningRate(step), norm > training.clip ? training.clip / norm : 1);
    this.polyak?.update();
    this.emaBpd = Number.isNaN(this.emaBpd) ? loss : 0.98 * this.emaBpd + 0.02 * loss;
    return true;
  }

  /** One training step (skipped by the NaN guard or not, it counts). Returns the batch's loss. */
  async step(): Promise<number> {
    const step = this.manifest.steps;
    const { loss, grads } = await this.gradients(step);
    this.update(step, loss, grads);
    this.manifest.steps += 1;
    this.manifest.imagesSeen += this.training.batch;
    return loss;
  }

  /**
   * Trains until the step target, the time budget or a stop request, evaluating and checkpointing
   * on the way; then the final evaluation (unless skipped) and the last checkpoint.
   */
  async run(o: RunOptions): Promise<void> {
    const { manifest, training, progress, train } = this;
    const B = training.batch;
    const budgetMs = o.timeBudgetMs ?? Infinity;
    const stepTarget = o.steps ?? Infinity;
    if (budgetMs === Infinity && stepTarget === Infinity) throw new Error('give --steps or --time-budget');
    await this.startWorkers();
    let windowImages = 0;
    let windowStart = Date.now();
    let imagesPerSecond = 0;

    while (manifest.steps < stepTarget && Date.now() - this.started < budgetMs && !this.stopRequested) {
      // WASM's data() resolves as a microtask, so without a macrotask turn a SIGTERM would wait for
      // the next checkpoint's file I/O (minutes) to be noticed.
      await new Promise((resolve) => setImmediate(resolve));
      await this.step();
      windowImages += B;

      const now = Date.now();
      // Over 10 s windows; the first figure as soon as a second has passed.
      if (now - windowStart > 10_000 || (imagesPerSecond === 0 && now - windowStart > 1000)) {
        imagesPerSecond = windowImages / ((now - windowStart) / 1000);
        windowImages = 0;
        windowStart = now;
      }
      const remainingMs = Math.min(
        budgetMs - (now - this.started),
        stepTarget === Infinity ? Infinity : ((stepTarget - manifest.steps) * B * 1000) / (imagesPerSecond || 1),
      );
      progress.show(
        statusLine({
          step: manifest.steps,
          epoch: manifest.imagesSeen / train.count,
          bpd: this.emaBpd,
          imagesPerSecond,
          etaSeconds: remainingMs / 1000,
        }),
      );
      if (!progress.tty && manifest.steps % 50 === 0)
        this.log(
          `step ${manifest.steps} epoch ${(manifest.imagesSeen / train.count).toFixed(2)} train bpd ${this.emaBpd.toFixed(3)} ${imagesPerSecond.toFixed(1)} img/s`,
        );

      if (manifest.steps % o.evalEvery === 0) {
        const { bpd } = await this.evaluate(o.evalImages);
        training.history.push({
          step: manifest.steps,
          trainBpd: Number(this.emaBpd.toFixed(4)),
          testBpdSample: Number(bpd.toFixed(4)),
          images: o.evalImages,
        });
        progress.clear();
        this.log(`step ${manifest.steps}: test bpd ${bpd.toFixed(4)} on ${o.evalImages} test images (train ${this.emaBpd.toFixed(4)})`);
      }
      if (Date.now() - this.lastCheckpoint > o.checkpointEveryMs) await this.checkpoint('periodic');
    }
    progress.clear();
    if (o.finalEval) {
      this.log(`evaluating on all ${this.test.count} test images…`);
      const { bpd, count, perImage } = await this.evaluate();
      manifest.testBpd = Number(bpd.toFixed(4));
      manifest.testImages = count;
      const { median, worst } = outliers(perImage);
      this.log(`test bpd: ${bpd.toFixed(4)} (${count} images; median ${median.toFixed(4)}; worst ${formatOutliers(worst)})`);
    }
    await this.checkpoint(this.stopRequested ? 'stop requested' : 'end of run');
  }

  /** Stops the workers and frees the model and the average. */
  async close(): Promise<void> {
    await (await this.workers)?.close();
    this.polyak?.dispose();
    this.glow.dispose();
  }
}

/** The progress line on a terminal (stdout): where training is and how fast it goes. */
function statusLine(s: { step: number; epoch: number; bpd: number; imagesPerSecond: number; etaSeconds: number }): string {
  const eta = Number.isFinite(s.etaSeconds) ? formatSeconds(s.etaSeconds) : '?';
  return `step ${s.step}  epoch ${s.epoch.toFixed(2)}  bpd ${s.bpd.toFixed(3)}  ${s.imagesPerSecond.toFixed(1)} img/s  ETA ${eta}   `;
}

function formatSeconds(sec: number): string {
  const s = Math.max(0, Math.round(sec));
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m${String(s % 60).padStart(2, '0')}s`;
}
