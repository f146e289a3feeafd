import * as tf from '@tensorflow/tfjs';
import { Module, sumPerSample } from './module.ts';
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
  constructor(readonly channels: number, conditionChannels: number, readonly minSd = 0, readonly bounds?: PriorBounds) {
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
    const { mean: m, logSd: [lo, hi] } = this.bounds;
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
}
