import * as tf from '@tensorflow/tfjs';
import { FlowLayer, Module, type OnnxFlowLayer, broadcastLogdet, sumOf } from './module.ts';
import { logdet, type LogDet, type OnnxGraph, type Value } from '../backend/onnx-graph.ts';

/** y = scale · x + shift per channel (float64), the form in which actnorm folds into a following 1×1 conv. */
export interface ChannelAffine {
  scale: Float64Array;
  shift: Float64Array;
}

/**
 * Activation normalisation (Glow §3.1): y = (x + bias) · exp(logScale) per channel.
 * Data-dependent initialisation: the first batch seen gives every channel zero mean and unit variance.
 */
export class ActNorm extends Module implements FlowLayer, OnnxFlowLayer {
  readonly bias: tf.Variable;
  readonly logScale: tf.Variable;
  initialized = false;

  constructor(readonly channels: number) {
    super();
    this.bias = this.param('bias', tf.zeros([channels]));
    this.logScale = this.param('log_scale', tf.zeros([channels]));
  }

  /** Sets bias = −mean and scale = 1/std from a batch; a constant channel keeps scale 1. */
  initialize(x: tf.Tensor4D): void {
    tf.tidy(() => {
      const { mean, variance } = tf.moments(x, [0, 1, 2]);
      const std = tf.sqrt(variance);
      const logScale = tf.where(tf.less(std, 1e-6), tf.zerosLike(std), tf.neg(tf.log(tf.add(std, 1e-6))));
      this.bias.assign(tf.neg(mean));
      this.logScale.assign(logScale);
    });
    this.initialized = true;
  }

  forward(x: tf.Tensor4D) {
    if (!this.initialized) this.initialize(x);
    return tf.tidy(() => {
      const [n, h, w] = x.shape;
      const y = tf.mul(tf.add(x, this.bias), tf.exp(this.logScale)) as tf.Tensor4D;
      const logdet = broadcastLogdet(tf.mul(tf.sum(this.logScale), h * w), n);
      return { y, logdet };
    });
  }

  reverse(y: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => tf.sub(tf.mul(y, tf.exp(tf.neg(this.logScale))), this.bias) as tf.Tensor4D);
  }

  /** The forward as a per-channel affine map: (x + bias)·e^s = e^s·x + bias·e^s. */
  affine(): ChannelAffine {
    const scale = Float64Array.from(this.logScale.dataSync(), Math.exp);
    return { scale, shift: Float64Array.from(this.bias.dataSync(), (b, i) => b * scale[i]) };
  }

  /** The reverse as a per-channel affine map: y·e^−s − bias. */
  inverseAffine(): ChannelAffine {
    return { scale: Float64Array.from(this.logScale.dataSync(), (s) => Math.exp(-s)), shift: Float64Array.from(this.bias.dataSync(), (b) => -b) };
  }

  /** The log-det per sample at h×w pixels: h·w·Σ s, a constant (float64). */
  onnxLogdet(h: number, w: number): LogDet {
    return logdet(h * w * sumOf(this.logScale.dataSync()));
  }

  // On its own; in a flow step the affine map is folded into the 1×1 conv that follows (FlowStep).
  onnxForward(g: OnnxGraph, x: Value) {
    const [, h, w] = x.dims;
    const { scale, shift } = this.affine();
    return { y: g.add(g.mul(x, g.channels(scale)), g.channels(shift)), logdet: this.onnxLogdet(h, w) };
  }

  onnxReverse(g: OnnxGraph, y: Value): Value {
    const { scale, shift } = this.inverseAffine();
    return g.add(g.mul(y, g.channels(scale)), g.channels(shift));
  }
}
