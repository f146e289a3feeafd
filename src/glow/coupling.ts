import * as tf from '@tensorflow/tfjs';
import { FlowLayer, Module, type OnnxFlowLayer, sumPerSample } from './module.ts';
import { logdet, type LogDet, type OnnxGraph, type Value } from '../backend/onnx-graph.ts';
import { normalArray } from './random.ts';
import { ZeroConv2d } from './zero-conv.ts';

export type CouplingKind = 'affine' | 'additive';

/**
 * Affine coupling (Glow §3.3, RealNVP): the first half of the channels passes through and
 * conditions a scale and shift of the second half. scale = sigmoid(h + 2) keeps it in (0, 1)
 * and near 0.88 at initialisation, which trains stably. Additive coupling is the shift alone.
 * NN = conv3×3 → ReLU → conv1×1 → ReLU → zero-initialised conv3×3.
 *
 * minScale > 0 bounds the scale from below too, s ∈ [minScale, 1]: off the training data the
 * network can ask for s ≈ 0, which the forward rounds away and the reverse divides by
 * (Behrmann et al. 2021, exploding inverses); the floor caps what one coupling's reverse amplifies.
 */
export class Coupling extends Module implements FlowLayer, OnnxFlowLayer {
  readonly conv1: tf.Variable;
  readonly bias1: tf.Variable;
  readonly conv2: tf.Variable;
  readonly bias2: tf.Variable;
  readonly out: ZeroConv2d;
  private readonly half: number;

  constructor(
    readonly channels: number,
    hidden: number,
    readonly kind: CouplingKind,
    seed: number,
    readonly minScale = 0,
  ) {
    super();
    this.half = channels / 2;
    this.conv1 = this.param('conv1.kernel', tf.tensor4d(normalArray(9 * this.half * hidden, seed, 0.05), [3, 3, this.half, hidden]));
    this.bias1 = this.param('conv1.bias', tf.zeros([hidden]));
    this.conv2 = this.param('conv2.kernel', tf.tensor4d(normalArray(hidden * hidden, seed + 1, 0.05), [1, 1, hidden, hidden]));
    this.bias2 = this.param('conv2.bias', tf.zeros([hidden]));
    this.out = new ZeroConv2d(hidden, kind === 'affine' ? channels : this.half);
    this.adopt('zero_conv', this.out);
  }

  private net(a: tf.Tensor4D): tf.Tensor4D {
    const h1 = tf.relu(tf.add(tf.conv2d(a, this.conv1 as tf.Tensor4D, 1, 'same'), this.bias1)) as tf.Tensor4D;
    const h2 = tf.relu(tf.add(tf.conv2d(h1, this.conv2 as tf.Tensor4D, 1, 'same'), this.bias2)) as tf.Tensor4D;
    return this.out.apply(h2);
  }

  /** Shift and the pre-sigmoid scale for the second half, from the first half. */
  private shiftAndScale(a: tf.Tensor4D): { shift: tf.Tensor4D; rawScale?: tf.Tensor4D } {
    const h = this.net(a);
    if (this.kind === 'additive') return { shift: h };
    const [shift, raw] = tf.split(h, 2, 3) as [tf.Tensor4D, tf.Tensor4D];
    return { shift, rawScale: tf.add(raw, 2) as tf.Tensor4D };
  }

  private scale(rawScale: tf.Tensor4D): tf.Tensor4D {
    const s = tf.sigmoid(rawScale);
    return (this.minScale > 0 ? tf.maximum(s, this.minScale) : s) as tf.Tensor4D;
  }

  forward(x: tf.Tensor4D) {
    return tf.tidy(() => {
      const [a, b] = tf.split(x, 2, 3) as [tf.Tensor4D, tf.Tensor4D];
      const { shift, rawScale } = this.shiftAndScale(a);
      if (!rawScale) return { y: tf.concat([a, tf.add(b, shift)], 3) as tf.Tensor4D, logdet: tf.zeros([x.shape[0]]) as tf.Tensor1D };
      const yb = tf.mul(tf.add(b, shift), this.scale(rawScale));
      // log sigmoid(s) = −softplus(−s); tf.logSigmoid's custom gradient breaks inside nested tidies.
      let negLogScale = tf.softplus(tf.neg(rawScale));
      if (this.minScale > 0) negLogScale = tf.minimum(negLogScale, -Math.log(this.minScale));
      return { y: tf.concat([a, yb], 3) as tf.Tensor4D, logdet: tf.neg(sumPerSample(negLogScale)) as tf.Tensor1D };
    });
  }

  reverse(y: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const [a, yb] = tf.split(y, 2, 3) as [tf.Tensor4D, tf.Tensor4D];
      const { shift, rawScale } = this.shiftAndScale(a);
      const b = rawScale ? tf.sub(tf.div(yb, this.scale(rawScale)), shift) : tf.sub(yb, shift);
      return tf.concat([a, b], 3) as tf.Tensor4D;
    });
  }

  private onnxShiftAndScale(g: OnnxGraph, a: Value): { shift: Value; rawScale?: Value } {
    const h1 = g.unary('Relu', g.conv(a, this.conv1, this.bias1));
    const h2 = g.unary('Relu', g.conv(h1, this.conv2, this.bias2));
    const h = this.out.onnxApply(g, h2);
    if (this.kind === 'additive') return { shift: h };
    const [shift, raw] = g.splitChannels(h);
    return { shift, rawScale: g.add(raw, g.constant([2], [])) };
  }

  private onnxScale(g: OnnxGraph, rawScale: Value): Value {
    const s = g.unary('Sigmoid', rawScale);
    return this.minScale > 0 ? g.op('Max', [s, g.constant([this.minScale], [])], s.dims) : s;
  }

  onnxForward(g: OnnxGraph, x: Value): { y: Value; logdet: LogDet } {
    const [a, b] = g.splitChannels(x);
    const { shift, rawScale } = this.onnxShiftAndScale(g, a);
    if (!rawScale) return { y: g.concatChannels([a, g.add(b, shift)]), logdet: logdet() };
    const scale = this.onnxScale(g, rawScale);
    const yb = g.mul(g.add(b, shift), scale);
    // With a floor, log s = log max(sigmoid(r), m) = −min(softplus(−r), −log m) exactly as forward has
    // it, and s ≥ m keeps the Log accurate: one node. Without, −softplus(−r) stays accurate where
    // sigmoid(r) underflows.
    if (this.minScale > 0) return { y: g.concatChannels([a, yb]), logdet: logdet(0, [g.unary('Log', scale)]) };
    return { y: g.concatChannels([a, yb]), logdet: logdet(0, [], [g.unary('Softplus', g.unary('Neg', rawScale))]) };
  }

  onnxReverse(g: OnnxGraph, y: Value): Value {
    const [a, yb] = g.splitChannels(y);
    const { shift, rawScale } = this.onnxShiftAndScale(g, a);
    const b = rawScale ? g.sub(g.div(yb, this.onnxScale(g, rawScale)), shift) : g.sub(yb, shift);
    return g.concatChannels([a, b]);
  }
}
