// Messages between the HTTP thread and the inference worker. Pixel and latent buffers are
// transferred (not copied) in both directions.
import type { CheckpointFiles } from '../glow/checkpoint.ts';
import type { GlowConfig } from '../glow/glow.ts';

/** GLOW_ENGINE: who runs encode and decode (engines.ts); auto = ONNX Runtime when it loads, else TF.js. */
export type EngineChoice = 'auto' | 'onnx' | 'tfjs';
export type EngineName = 'onnx' | 'tfjs';
export const ENGINES: EngineChoice[] = ['auto', 'onnx', 'tfjs'];

export interface WorkerInit {
  /** Where the checkpoint was read from, for messages. */
  modelDir: string;
  /** Its bytes, read once by the client: every (re)spawned worker serves exactly these weights. */
  checkpoint: CheckpointFiles;
  backend: 'auto' | 'tensorflow' | 'wasm' | 'cpu';
  /** GLOW_ENGINE: who runs encode and decode (default auto). */
  engine?: EngineChoice;
  /** GLOW_ONNX_THREADS: ONNX Runtime lanes, each a thread with one-thread sessions (default 2). */
  onnxThreads?: number;
}

export interface ModelInfo {
  name: string;
  dataset: string;
  config: GlowConfig;
  latentDim: number;
  parameterCount: number;
  steps: number;
  testBpd: number | null;
  backend: string;
  /** The engine that runs encode and decode (training always runs on TF.js). */
  engine: EngineName;
  /** sha256 of the weights file: attribute directions are keyed by it. */
  fingerprint: string;
  /** Raw manifest, for fields this server does not know about. */
  manifest: Record<string, unknown>;
}

export type WorkerRequest =
  | { kind: 'encode'; id: number; n: number; pixels: Uint8Array }
  | { kind: 'decode'; id: number; n: number; latents: Float64Array }
  | { kind: 'stats'; id: number }
  /** Exit once the batch in progress is done (see InferenceClient.retire). */
  | { kind: 'retire' };

export interface WorkerStats {
  /** tf.memory().numTensors after the call: flat over time means no leak. */
  numTensors: number;
  /** Compute time inside the worker, ms. */
  ms: number;
}

export type WorkerResponse =
  | { kind: 'ready'; info: ModelInfo }
  | { kind: 'init-error'; message: string }
  | { kind: 'log'; message: string }
  /** reencoded: how many of the n images took encode's precise pass (src/inference/engines.ts). */
  | ({ kind: 'encoded'; id: number; eps: Float64Array; bpd: Float32Array; reencoded: number } & WorkerStats)
  /** nonFinite[i]: how many of image i's values the reverse left NaN or ±Inf (its pixels there are not real). */
  | ({ kind: 'decoded'; id: number; pixels: Uint8Array; nonFinite: Uint32Array } & WorkerStats)
  | ({ kind: 'stats'; id: number } & WorkerStats)
  | { kind: 'error'; id: number; message: string };
