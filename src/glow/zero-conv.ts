import * as tf from '@tensorflow/tfjs';
import { Module } from './module.ts';
import { onnxKernel, type OnnxGraph, type Value } from '../backend/onnx-graph.ts';

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

  /**
   * One Conv: the scale exp(3·s) folded into the kernel and bias in float64, plus `addToBias` (per
   * output channel, e.g. the coupling's +2 before its sigmoid), so no Mul or Add follows it.
   */
  onnxApply(g: OnnxGraph, x: Value, addToBias?: ArrayLike<number>): Value {
    const { values, shape } = onnxKernel(this.kernel);
    const [out] = shape;
    const perOut = values.length / out;
    const scale = Array.from(this.logScale.dataSync(), (s) => Math.exp(3 * s));
    const bias = this.bias.dataSync();
    const kernel = Float64Array.from(values, (v, i) => v * scale[Math.floor(i / perOut)]);
    return g.convWith(x, { values: kernel, shape }, Array.from(bias, (b, o) => b * scale[o] + (addToBias?.[o] ?? 0)));
  }
}
