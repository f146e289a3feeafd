import * as tf from '@tensorflow/tfjs';
import { Module, sumPerSample } from './module.ts';
import { logdet, type LogDet, type OnnxGraph, type Value } from '../backend/onnx-graph.ts';
import { ZeroConv2d } from './zero-conv.ts';

const LOG_2PI = Math.log(2 * Math.PI);

/** Where a prior's predicted mean and log σ are held: |μ| ≤ mean, log σ in [logSd[0], logSd[1]]. */
export interface PriorBounds {
  mean: number;
  logSd: [number, number];
}

/**
 * The learned Gaussian prior of one level's factored-out latent z (Glow §3, multi-scale):
 * conditioned on the half that goes on (split levels) or a learned constant (the top level).
 * It works in standardised units ε = (z − μ)/σ, so every latent dimension is N(0, 1) a priori.
 * With bounds, μ and log σ are clipped: off the data the network predicted log σ of 40 and more,
 * whose exp overflows float32 (an infinite bpd, and a decode that multiplies by Infinity).
 */
export class LearnedPrior extends Module {
  private readonly conv?: ZeroConv2d;
  private readonly topMean?: tf.Variable;
  private readonly topLogSd?: tf.Variable;

  /** conditionChannels = 0 for the top level (no conditioning input); minSd: soft floor under σ (GlowConfig.priorMinSd). */
  constructor(
    readonly channels: number,
    conditionChannels: number,
    readonly minSd = 0,
    readonly bounds?: PriorBounds,
  ) {
    super();
    if (!(minSd >= 0)) throw new Error(`the prior's σ floor must be ≥ 0, not ${minSd}`);
    if (conditionChannels > 0) {
      this.conv = new ZeroConv2d(conditionChannels, 2 * channels);
      this.adopt('conv', this.conv);
    } else {
      this.topMean = this.param('mean', tf.zeros([channels]));
      this.topLogSd = this.param('log_sd', tf.zeros([channels]));
    }
  }

  private meanAndLogSd(condition?: tf.Tensor4D): [tf.Tensor, tf.Tensor] {
    const [mean, logSd] = this.learnedMeanAndLogSd(condition);
    if (this.minSd === 0) return [mean, logSd];
    // log √(σ² + f²) = ½·log(exp(2·log σ) + f²)
    return [mean, tf.mul(0.5, tf.log(tf.add(tf.exp(tf.mul(2, logSd)), this.minSd * this.minSd)))];
  }

  private learnedMeanAndLogSd(condition?: tf.Tensor4D): [tf.Tensor, tf.Tensor] {
    const [mean, logSd] = this.predictedMeanAndLogSd(condition);
    if (!this.bounds) return [mean, logSd];
    const {
      mean: m,
      logSd: [lo, hi],
    } = this.bounds;
    return [tf.clipByValue(mean, -m, m), tf.clipByValue(logSd, lo, hi)];
  }

  private predictedMeanAndLogSd(condition?: tf.Tensor4D): [tf.Tensor, tf.Tensor] {
    if (this.conv) {
      if (!condition) throw new Error('this prior needs its conditioning half');
      return tf.split(this.conv.apply(condition), 2, 3) as [tf.Tensor, tf.Tensor];
    }
    // Per-channel, left to broadcasting (tf.broadcastTo's gradient is thousands of slices on wasm).
    return [this.topMean!, this.topLogSd!];
  }

  /** ε and log p(z) per sample, where log p(z) = Σ log N(ε; 0, 1) − Σ log σ. */
  standardise(z: tf.Tensor4D, condition?: tf.Tensor4D): { eps: tf.Tensor4D; logp: tf.Tensor1D } {
    return tf.tidy(() => {
      const [mean, logSd] = this.meanAndLogSd(condition);
      const eps = tf.mul(tf.sub(z, mean), tf.exp(tf.neg(logSd))) as tf.Tensor4D;
      const logp = sumPerSample(tf.sub(tf.mul(tf.add(tf.square(eps), LOG_2PI), -0.5), logSd));
      return { eps, logp };
    });
  }

  unstandardise(eps: tf.Tensor4D, condition?: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const [mean, logSd] = this.meanAndLogSd(condition);
      return tf.add(mean, tf.mul(eps, tf.exp(logSd))) as tf.Tensor4D;
    });
  }

  /**
   * meanAndLogSd as graph operands, with exp(±log σ): nodes for a conditioned prior, per-channel
   * constants (computed by meanAndLogSd itself, float32 as there) for the top level, whose Σ log σ is
   * then a constant too.
   */
  private onnxMeanAndLogSd(
    g: OnnxGraph,
    condition?: Value,
  ): { mean: Value | string; logSd: (h: number, w: number) => LogDet; sd: (sign: 1 | -1) => Value | string } {
    if (!this.conv) {
      // Only what a graph uses becomes a constant (decode needs no log σ). exp(±log σ) in float64, so
      // that in a float64 run decode's σ undoes encode's 1/σ.
      const logSds = () => Float64Array.from(tf.tidy(() => this.meanAndLogSd()[1].dataSync()));
      return {
        mean: g.channelsOf(() => this.meanAndLogSd()[0]),
        logSd: (h, w) => logdet(h * w * logSds().reduce((s, l) => s + l, 0)),
        sd: (sign) => g.channels(Float64Array.from(logSds(), (l) => Math.exp(sign * l))),
      };
    }
    if (!condition) throw new Error('this prior needs its conditioning half');
    let [mean, learned] = g.splitChannels(this.conv.onnxApply(g, condition));
    if (this.bounds) {
      const {
        mean: m,
        logSd: [lo, hi],
      } = this.bounds;
      mean = g.op('Clip', [mean, g.constant([-m], []), g.constant([m], [])], mean.dims);
      learned = g.op('Clip', [learned, g.constant([lo], []), g.constant([hi], [])], learned.dims);
    }
    const logSd =
      this.minSd === 0
        ? learned
        : g.mul(
            g.unary('Log', g.add(g.unary('Exp', g.mul(learned, g.constant([2], []))), g.constant([this.minSd * this.minSd], []))),
            g.constant([0.5], []),
          );
    return { mean, logSd: () => logdet(0, [logSd]), sd: (sign) => g.unary('Exp', sign === 1 ? logSd : g.unary('Neg', logSd)) };
  }

  /** ε, and log p(z) = −½·Σ ε² − Σ log σ − ½·D·log 2π per sample, its constant part computed at export. */
  onnxStandardise(g: OnnxGraph, z: Value, condition?: Value): { eps: Value; logp: LogDet } {
    const { mean, logSd, sd } = this.onnxMeanAndLogSd(g, condition);
    const eps = g.mul(g.sub(z, mean), sd(-1));
    const [c, h, w] = z.dims;
    const sigma = logSd(h, w);
    const halfSquare = g.mul(g.mul(eps, eps), g.constant([0.5], []));
    return { eps, logp: logdet(-sigma.constant - 0.5 * c * h * w * LOG_2PI, [], [halfSquare, ...sigma.terms]) };
  }

  onnxUnstandardise(g: OnnxGraph, eps: Value, condition?: Value): Value {
    const { mean, sd } = this.onnxMeanAndLogSd(g, condition);
    return g.add(g.mul(eps, sd(1)), mean);
  }
}
