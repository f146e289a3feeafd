import * as tf from '@tensorflow/tfjs';
import { FlowLayer, Module, type OnnxFlowLayer, broadcastLogdet, sumOf } from './module.ts';
import { logdet, type LogDet, type OnnxGraph, type Value } from '../backend/onnx-graph.ts';

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

  /** exp(±logScale) in float64: the forward's factor and the reverse's are each other's inverse to the last bit a float64 run sees. */
  private scale(sign: 1 | -1): Float64Array {
    return Float64Array.from(this.logScale.dataSync(), (s) => Math.exp(sign * s));
  }

  onnxForward(g: OnnxGraph, x: Value): { y: Value; logdet: LogDet } {
    const [, h, w] = x.dims;
    const y = g.mul(
      g.add(
        x,
        g.channelsOf(() => this.bias),
      ),
      g.channels(this.scale(1)),
    );
    return { y, logdet: logdet(h * w * sumOf(this.logScale.dataSync())) };
  }

  onnxReverse(g: OnnxGraph, y: Value): Value {
    return g.sub(
      g.mul(y, g.channels(this.scale(-1))),
      g.channelsOf(() => this.bias),
    );
  }
}
