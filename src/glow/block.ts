import * as tf from '@tensorflow/tfjs';
import { CouplingKind } from './coupling.ts';
import { FlowStep } from './flow-step.ts';
import { Module } from './module.ts';
import { addLogdets, type LogDet, type OnnxGraph, type Value } from '../backend/onnx-graph.ts';
import { LearnedPrior, type PriorBounds } from './prior.ts';
import { onnxSqueeze, onnxUnsqueeze, squeeze, unsqueeze } from './squeeze.ts';

/**
 * One level of the multi-scale architecture (Glow Fig. 2b): squeeze → K steps of flow → split.
 * A split level factors out half the channels as latent z (prior conditioned on the other half,
 * which goes on to the next level); the top level keeps all channels as z under a learned prior.
 */
export class Block extends Module {
  readonly steps: FlowStep[];
  readonly prior: LearnedPrior;

  constructor(
    inChannels: number,
    depth: number,
    hidden: number,
    coupling: CouplingKind,
    readonly split: boolean,
    seed: number,
    priorMinSd = 0,
    bounds: { minScale?: number; prior?: PriorBounds } = {},
  ) {
    super();
    const channels = inChannels * 4;
    this.steps = Array.from({ length: depth }, (_, i) => new FlowStep(channels, hidden, coupling, seed + 10 * i, bounds.minScale));
    this.steps.forEach((step, i) => this.adopt(`steps.${i}`, step));
    this.prior = split
      ? new LearnedPrior(channels / 2, channels / 2, priorMinSd, bounds.prior)
      : new LearnedPrior(channels, 0, priorMinSd, bounds.prior);
    this.adopt('prior', this.prior);
  }

  /** The steps of flow: for split levels the half that goes on and this level's z, and the log-det. */
  flow(x: tf.Tensor4D): { next?: tf.Tensor4D; z: tf.Tensor4D; logdet: tf.Tensor1D } {
    return tf.tidy(() => {
      let h = squeeze(x);
      let logdet = tf.zeros([x.shape[0]]) as tf.Tensor1D;
      for (const step of this.steps) {
        const out = step.forward(h);
        h = out.y;
        logdet = tf.add(logdet, out.logdet);
      }
      if (!this.split) return { z: h, logdet };
      const [next, z] = tf.split(h, 2, 3) as [tf.Tensor4D, tf.Tensor4D];
      return { next, z, logdet };
    });
  }

  /** Returns the half that goes on (split levels only), this level's ε, and its log-det and log p(z). */
  forward(x: tf.Tensor4D): { next?: tf.Tensor4D; eps: tf.Tensor4D; logdet: tf.Tensor1D; logp: tf.Tensor1D } {
    return tf.tidy(() => {
      const { next, z, logdet } = this.flow(x);
      return { next, logdet, ...this.prior.standardise(z, next) };
    });
  }

  /** Inverse of forward: from this level's ε (and, for split levels, the next level's input) to this level's input. */
  reverse(eps: tf.Tensor4D, next?: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      let h = this.split ? (tf.concat([next!, this.prior.unstandardise(eps, next)], 3) as tf.Tensor4D) : this.prior.unstandardise(eps);
      for (let i = this.steps.length - 1; i >= 0; i--) h = this.steps[i].reverse(h);
      return unsqueeze(h);
    });
  }

  onnxFlow(g: OnnxGraph, x: Value): { next?: Value; z: Value; logdet: LogDet } {
    let h = onnxSqueeze(g, x);
    const logdets: LogDet[] = [];
    for (const step of this.steps) {
      const out = step.onnxForward(g, h);
      h = out.y;
      logdets.push(out.logdet);
    }
    const logdet = addLogdets(...logdets);
    if (!this.split) return { z: h, logdet };
    const [next, z] = g.splitChannels(h);
    return { next, z, logdet };
  }

  onnxReverse(g: OnnxGraph, eps: Value, next?: Value): Value {
    let h = this.split ? g.concatChannels([next!, this.prior.onnxUnstandardise(g, eps, next)]) : this.prior.onnxUnstandardise(g, eps);
    for (let i = this.steps.length - 1; i >= 0; i--) h = this.steps[i].onnxReverse(g, h);
    return onnxUnsqueeze(g, h);
  }
}
