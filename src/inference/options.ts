// What the inference runtime is told: which checkpoints to serve, and how to run and share them.
// The HTTP server's configuration extends these with its own settings.
import type { BackendChoice } from '../backend/backend.ts';
import type { EngineChoice } from './worker-protocol.ts';

/** One served checkpoint: `name` is what `?model=` takes (the directory's name). */
export interface ModelSpec {
  name: string;
  dir: string;
}

/** What a model's name may be: it appears in URLs and metric labels. */
export const MODEL_NAME = /^[a-z0-9][a-z0-9_.-]{0,63}$/;

export interface InferenceOptions {
  backend: BackendChoice;
  /** GLOW_ENGINE: who runs encode and decode; auto = ONNX Runtime when it loads, else TF.js. */
  engine: EngineChoice;
  /** GLOW_ONNX_THREADS: ONNX Runtime lanes per model, each a thread with one-thread sessions (onnx-lanes.ts). */
  onnxThreads: number;
  /** A model call taking longer than this means the worker is wedged: it is restarted. */
  inferenceTimeoutMs: number;
  /** Dynamic batching: most items per model call, and longest wait for a batch to fill. */
  maxBatch: number;
  maxDelayMs: number;
  /** Most items (images/latents) waiting for the worker; beyond it requests get 503 + Retry-After. */
  maxQueue: number;
  /** An item that waited this long in the queue is dropped with 503 rather than run late. */
  queueTimeoutMs: number;
  /** While several requests are active, large ones go to the model this many items per call (Batcher). */
  requestSlice: number;
  /**
   * Most images one request may put through the model (encodes + decodes; work.ts): larger
   * requests are refused up front. The default keeps one request to about 2 s of model time here.
   */
  maxWork: number;
  /** sharp's limitInputPixels: images with a larger header are refused before decoding. */
  maxInputPixels: number;
  /** Most pixels on either side of an upload (refused from the header, like maxInputPixels). */
  maxInputSide: number;
  /** After a reload, how long requests still on the previous weights may take to finish (also the drain cap on shutdown). */
  shutdownTimeoutMs: number;
}
