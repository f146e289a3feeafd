import * as tf from '@tensorflow/tfjs';
import { identity, invert, luDecompose, matmul, orthogonalFrom } from './linalg.ts';
import { FlowLayer, Module, type OnnxFlowLayer, broadcastLogdet, sumOf } from './module.ts';
import { logdet, type LogDet, type OnnxGraph, type Value } from '../backend/onnx-graph.ts';
import { normalArray } from './random.ts';

/**
 * Invertible 1×1 convolution with an LU-decomposed weight (Glow §3.2):
 * W = P · L · (U + diag(sign · exp(logS))), P fixed, L unit lower, U strictly upper.
 * log|det| = h·w·Σ logS. Initialised from a random rotation.
 */
export class InvConv2dLU extends Module implements FlowLayer, OnnxFlowLayer {
  readonly lower: tf.Variable;
  readonly upper: tf.Variable;
  readonly logS: tf.Variable;
  // Fixed (not trained, but saved): the permutation and the signs of the diagonal.
  readonly permutation: tf.Variable;
  readonly signS: tf.Variable;
  private readonly lowerMask: tf.Tensor2D;
  private readonly upperMask: tf.Tensor2D;
  private readonly eye: tf.Tensor2D;
  private inverseCache: tf.Tensor2D | undefined;

  constructor(
    readonly channels: number,
    seed: number,
  ) {
    super();
    const n = channels;
    const q = orthogonalFrom(Float64Array.from(normalArray(n * n, seed)), n);
    const { p, l, u } = luDecompose(q, n);
    const diag = Array.from({ length: n }, (_, i) => u[i * n + i]);
    const strictUpper = u.map((v, k) => (k % n > Math.floor(k / n) ? v : 0));
    this.permutation = this.buffer('permutation', tf.tensor2d(Float32Array.from(p), [n, n]));
    this.signS = this.buffer('sign_s', tf.tensor1d(diag.map(Math.sign)));
    this.lower = this.param('lower', tf.tensor2d(Float32Array.from(l.map((v, k) => (k % n < Math.floor(k / n) ? v : 0))), [n, n]));
    this.upper = this.param('upper', tf.tensor2d(Float32Array.from(strictUpper), [n, n]));
    this.logS = this.param('log_s', tf.tensor1d(diag.map((d) => Math.log(Math.abs(d)))));
    this.lowerMask = tf.linalg.bandPart(tf.ones([n, n]), -1, 0).sub(tf.eye(n)) as tf.Tensor2D;
    this.upperMask = tf.transpose(this.lowerMask);
    this.eye = tf.eye(n);
  }

  /** W as a TF.js tensor, differentiable in lower, upper and logS. */
  weight(): tf.Tensor2D {
    return tf.tidy(() => {
      const l = tf.add(tf.mul(this.lower, this.lowerMask), this.eye);
      const diag = tf.mul(this.eye, tf.mul(this.signS, tf.exp(this.logS)).reshape([1, this.channels]));
      const u = tf.add(tf.mul(this.upper, this.upperMask), diag);
      return tf.matMul(this.permutation, tf.matMul(l, u)) as tf.Tensor2D;
    });
  }

  forward(x: tf.Tensor4D) {
    return tf.tidy(() => {
      const [n, h, w, c] = x.shape;
      // y[..., i] = Σ_j W[i, j] x[..., j], as one matMul over all pixels.
      const y = tf.matMul(x.reshape([n * h * w, c]), tf.transpose(this.weight())).reshape([n, h, w, c]) as tf.Tensor4D;
      return { y, logdet: broadcastLogdet(tf.mul(tf.sum(this.logS), h * w), n) };
    });
  }

  reverse(y: tf.Tensor4D): tf.Tensor4D {
    const winvT = this.inverseTransposed();
    return tf.tidy(() => {
      const [n, h, w, c] = y.shape;
      return tf.matMul(y.reshape([n * h * w, c]), winvT).reshape([n, h, w, c]) as tf.Tensor4D;
    });
  }

  onnxForward(g: OnnxGraph, x: Value): { y: Value; logdet: LogDet } {
    const [c, h, w] = x.dims;
    // A 1×1 Conv's weight [out, in, 1, 1] is W itself, in float64 like W⁻¹ (onnxReverse).
    const y = g.op('Conv', [x, g.constant(this.weight64(), [c, c, 1, 1])], x.dims, { kernel_shape: [1, 1] });
    return { y, logdet: logdet(h * w * sumOf(this.logS.dataSync())) };
  }

  onnxReverse(g: OnnxGraph, y: Value): Value {
    const c = this.channels;
    return g.op('Conv', [y, g.constant(this.inverse(), [c, c, 1, 1])], y.dims, { kernel_shape: [1, 1] });
  }

  /** (W⁻¹)ᵀ computed in float64 from the current parameters, cached until the weights change. */
  private inverseTransposed(): tf.Tensor2D {
    if (this.inverseCache) return this.inverseCache;
    const n = this.channels;
    const inv = this.inverse();
    const invT = new Float32Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) invT[i * n + j] = inv[j * n + i];
    this.inverseCache = tf.keep(tf.tensor2d(invT, [n, n])); // outlives the caller's tidy
    return this.inverseCache;
  }

  /** W⁻¹ (row-major), computed in float64 from the current parameters. */
  private inverse(): Float64Array {
    return invert(this.weight64(), this.channels);
  }

  /** W (row-major), computed in float64 from the current parameters. */
  private weight64(): Float64Array {
    const n = this.channels;
    const l = Float64Array.from(this.lower.dataSync());
    const u = Float64Array.from(this.upper.dataSync());
    const logS = this.logS.dataSync();
    const sign = this.signS.dataSync();
    const p = Float64Array.from(this.permutation.dataSync());
    const lFull = identity(n);
    const uFull = new Float64Array(n * n);
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) {
        if (j < i) lFull[i * n + j] = l[i * n + j];
        if (j > i) uFull[i * n + j] = u[i * n + j];
      }
    for (let i = 0; i < n; i++) uFull[i * n + i] = sign[i] * Math.exp(logS[i]);
    return matmul(p, matmul(lFull, uFull, n), n);
  }

  /** Call after the parameters change (a training step, a checkpoint load). */
  weightsChanged(): void {
    this.inverseCache?.dispose();
    this.inverseCache = undefined;
  }

  override dispose(): void {
    super.dispose();
    this.weightsChanged();
    for (const t of [this.lowerMask, this.upperMask, this.eye]) t.dispose();
  }
}
