import * as tf from '@tensorflow/tfjs';
import { Module } from './module.ts';
import type { OnnxGraph, Value } from '../backend/onnx-graph.ts';

/**
 * 3×3 convolution initialised to output zeros, with a learned per-channel scale exp(3·s)
 * (Glow §3.3): every coupling starts as the identity and every prior as N(0, 1).
 */
export class ZeroConv2d extends Module {
  readonly kernel: tf.Variable;
  readonly bias: tf.Variable;
  readonly logScale: tf.Variable;

  constructor(inChannels: number, outChannels: number) {
    super();
    this.kernel = this.param('kernel', tf.zeros([3, 3, inChannels, outChannels]));
    this.bias = this.param('bias', tf.zeros([outChannels]));
    this.logScale = this.param('log_scale', tf.zeros([outChannels]));
  }

  apply(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const y = tf.add(tf.conv2d(x, this.kernel as tf.Tensor4D, 1, 'same'), this.bias);
      return tf.mul(y, tf.exp(tf.mul(this.logScale, 3))) as tf.Tensor4D;
    });
  }

  onnxApply(g: OnnxGraph, x: Value): Value {
    return g.mul(
      g.conv(x, this.kernel, this.bias),
      g.channelsOf(() => tf.exp(tf.mul(this.logScale, 3))),
    );
  }
}
