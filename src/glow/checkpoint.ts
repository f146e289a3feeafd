import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { Glow, GlowConfig } from './glow.ts';
import { NamedArray, decodeSafetensors, encodeSafetensors, safetensorsMetadata } from './safetensors.ts';

/**
 * A checkpoint is a directory: manifest.json (what the model is and how it was trained) and
 * weights.safetensors (every parameter and fixed buffer, keyed "levels.0.steps.3.actnorm.bias").
 * A training run adds training-state.safetensors (optimiser moments) so --resume continues exactly.
 */
export interface Manifest {
  name: string;
  dataset: string;
  config: GlowConfig;
  steps: number;
  imagesSeen: number;
  /** Bits/dim on the whole test split, with uniform dequantisation (null until evaluated). */
  testBpd: number | null;
  testImages?: number;
  date: string;
  backend: string;
  parameters?: number;
  /** How the weights were trained (src/train/trainer.ts); absent in checkpoints not made by the trainer. */
  training?: TrainingManifest;
  [key: string]: unknown;
}

/**
 * The trainer's settings and counters, kept in the manifest so --resume continues the same run.
 * Fields added later are optional: manifests written before them still load and resume.
 */
export interface TrainingManifest {
  /** Images per step. A resumed run keeps it: the data order depends on it. */
  batch: number;
  /** Peak learning rate. */
  lr: number;
  /** Steps of linear learning-rate warm-up. */
  warmup: number;
  /** The step the last warm-up began at: a resumed run given --warmup warms up again (absent: 0). */
  warmupFrom?: number;
  /** Gradient norm above which a step's gradient is scaled down to it. */
  clip: number;
  /** Seeds the data order per epoch and the dequantisation noise per step. */
  seed: number;
  /** Learning-rate factor, halved by the NaN guard on every skipped step. */
  lrScale: number;
  skippedSteps: number;
  /** Training time over all runs of this checkpoint (not counting a checkpoint it was grown from). */
  seconds: number;
  history: TrainingHistoryEntry[];
  decay?: LearningRateDecay;
  /** Decay of the Polyak average of the weights (0 = off); absent before averaging existed. */
  polyak?: number;
  /** Updates of the average so far, for its warmed-up decay. */
  polyakUpdates?: number;
}

/** Linear decay by step: from `start` over `steps` steps down to `to` × lr, then constant. */
export interface LearningRateDecay {
  start: number;
  steps: number;
  to: number;
}

/** A periodic evaluation during training. */
export interface TrainingHistoryEntry {
  step: number;
  /** Moving average of the training loss (bits/dim). */
  trainBpd: number;
  /** Bits/dim on the first `images` test images. */
  testBpdSample: number;
  images: number;
}

export const WEIGHTS_FILE = 'weights.safetensors';
export const MANIFEST_FILE = 'manifest.json';
export const TRAINING_STATE_FILE = 'training-state.safetensors';

/** Writes to a temporary name, then renames: a reader never sees a half-written file. */
export async function writeFileAtomic(file: string, data: Buffer | string): Promise<void> {
  const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, file);
}

export async function tensorsToArrays(tensors: Map<string, tf.Tensor>): Promise<Map<string, NamedArray>> {
  const out = new Map<string, NamedArray>();
  for (const [name, t] of tensors) {
    const data = (await t.data()) as Float32Array;
    for (let i = 0; i < data.length; i++)
      if (!Number.isFinite(data[i])) throw new Error(`refusing to save: ${name} has a non-finite value`);
    out.set(name, { data, shape: t.shape });
  }
  return out;
}

export async function saveCheckpoint(dir: string, glow: Glow, manifest: Manifest, trainingState?: Map<string, tf.Tensor>): Promise<void> {
  await mkdir(dir, { recursive: true });
  const weights = await tensorsToArrays(new Map<string, tf.Tensor>([...glow.params, ...glow.buffers]));
  const stamp = { steps: String(manifest.steps) };
  await writeFileAtomic(path.join(dir, WEIGHTS_FILE), encodeSafetensors(weights, stamp));
  if (trainingState)
    await writeFileAtomic(path.join(dir, TRAINING_STATE_FILE), encodeSafetensors(await tensorsToArrays(trainingState), stamp));
  // The manifest goes last: it names the step the other files were written at.
  await writeFileAtomic(path.join(dir, MANIFEST_FILE), JSON.stringify({ ...manifest, parameters: glow.parameterCount() }, null, 2) + '\n');
}

export async function readManifest(dir: string): Promise<Manifest> {
  return JSON.parse(await readFile(path.join(dir, MANIFEST_FILE), 'utf8')) as Manifest;
}

/** A checkpoint as read from disk: what the server's inference worker loads, so a respawned worker
 * gets the very weights its predecessor had even if the files have been replaced since. */
export interface CheckpointFiles {
  manifest: Manifest;
  weights: Uint8Array;
}

/**
 * Reads the manifest and the weights of one step. A trainer saving into `dir` writes the weights
 * first and the manifest last, so a read that lands between the two sees two steps: it is retried
 * (for up to ~5 s) until both files name the same step. Files that never agree are returned as they
 * are, for checkpointFromFiles to report.
 */
export async function readCheckpointFiles(dir: string, attempts = 25): Promise<CheckpointFiles> {
  for (let i = 1; ; i++) {
    const manifest = await readManifest(dir);
    const weights = await readFile(path.join(dir, WEIGHTS_FILE));
    let steps: string | undefined;
    try {
      steps = safetensorsMetadata(weights).steps;
    } catch {
      // not a safetensors file at all: checkpointFromFiles says so
    }
    if (steps === undefined || Number(steps) === manifest.steps || i >= attempts) return { manifest, weights };
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** The model of a checkpoint read by readCheckpointFiles; `source` names it in errors. */
export function checkpointFromFiles({ manifest, weights }: CheckpointFiles, source: string): { glow: Glow; manifest: Manifest } {
  // A Buffer that crossed to a worker thread arrives as a plain Uint8Array.
  const { tensors, metadata } = decodeSafetensors(Buffer.from(weights.buffer, weights.byteOffset, weights.byteLength));
  // Files written by a trainer at different steps (the manifest is renamed in last) never mix.
  if (metadata.steps !== undefined && Number(metadata.steps) !== manifest.steps)
    throw new Error(`${source}: weights are from step ${metadata.steps} but the manifest says ${manifest.steps}`);
  const glow = new Glow(manifest.config);
  try {
    assignAll(new Map([...glow.params, ...glow.buffers]), tensors, source);
  } catch (err) {
    glow.dispose();
    throw err;
  }
  glow.markInitialized();
  glow.weightsChanged();
  return { glow, manifest };
}

export async function loadCheckpoint(dir: string): Promise<{ glow: Glow; manifest: Manifest }> {
  return checkpointFromFiles(await readCheckpointFiles(dir), dir);
}

/** Loads a training-state file (optimiser moments), checking it belongs to the manifest's step. */
export async function readTrainingState(dir: string, steps: number): Promise<Map<string, NamedArray>> {
  const { tensors, metadata } = decodeSafetensors(await readFile(path.join(dir, TRAINING_STATE_FILE)));
  if (Number(metadata.steps) !== steps) throw new Error(`${dir}: training state is from step ${metadata.steps}, the weights from ${steps}`);
  return tensors;
}

export function assignAll(variables: Map<string, tf.Variable>, arrays: Map<string, NamedArray>, source: string): void {
  for (const [name, v] of variables) {
    const a = arrays.get(name);
    if (!a) throw new Error(`${source}: ${name} is missing`);
    if (a.shape.join() !== v.shape.join()) throw new Error(`${source}: ${name} has shape [${a.shape}], the model needs [${v.shape}]`);
    tf.tidy(() => v.assign(tf.tensor(a.data, a.shape)));
  }
}
