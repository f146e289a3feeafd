import * as tf from '@tensorflow/tfjs';
import type { LogDet, OnnxGraph, Value } from '../backend/onnx-graph.ts';

/** What every flow layer provides: an exact forward with its log-determinant, and the inverse. */
export interface FlowLayer {
  /** y = f(x) and log|det ∂f/∂x| per sample, shape [N]. */
  forward(x: tf.Tensor4D): { y: tf.Tensor4D; logdet: tf.Tensor1D };
  reverse(y: tf.Tensor4D): tf.Tensor4D;
}

/** The same forward and reverse as ONNX nodes (NCHW, the current weights as constants), for export. */
export interface OnnxFlowLayer {
  onnxForward(g: OnnxGraph, x: Value): { y: Value; logdet: LogDet };
  onnxReverse(g: OnnxGraph, y: Value): Value;
}

/** Σ of a weight's values in float64: the constant log-determinants. */
export function sumOf(values: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i];
  return s;
}

/**
 * Holds named trainable variables. Names are the checkpoint keys ("levels.0.steps.3.actnorm.bias");
 * TF.js's own variable names stay auto-generated so that two models can live in one process.
 */
export class Module {
  /** Trained by the optimiser. */
  readonly params = new Map<string, tf.Variable>();
  /** Fixed after initialisation but saved with the weights (the 1×1 conv's permutation and signs). */
  readonly buffers = new Map<string, tf.Variable>();

  protected param(name: string, value: tf.Tensor): tf.Variable {
    const v = tf.variable(value, true);
    value.dispose();
    this.params.set(name, v);
    return v;
  }

  protected buffer(name: string, value: tf.Tensor): tf.Variable {
    const v = tf.variable(value, false);
    value.dispose();
    this.buffers.set(name, v);
    return v;
  }

  protected adopt(prefix: string, child: Module): void {
    for (const [name, v] of child.params) this.params.set(`${prefix}.${name}`, v);
    for (const [name, v] of child.buffers) this.buffers.set(`${prefix}.${name}`, v);
  }

  dispose(): void {
    // A child may have been disposed already (it owns extra tensors of its own).
    for (const v of [...this.params.values(), ...this.buffers.values()]) if (!v.isDisposed) v.dispose();
  }
}

/** Per-sample sum over every axis but the batch axis. */
export function sumPerSample(x: tf.Tensor): tf.Tensor1D {
  return tf.sum(
    x,
    x.shape.slice(1).map((_, i) => i + 1),
  ) as tf.Tensor1D;
}

/** A per-sample log-det that is the same for every sample (actnorm, 1×1 conv). */
export function broadcastLogdet(total: tf.Scalar, batch: number): tf.Tensor1D {
  return tf.mul(total, tf.ones([batch])) as tf.Tensor1D;
}
