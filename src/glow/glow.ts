import * as tf from '@tensorflow/tfjs';
import { Block } from './block.ts';
import { CouplingKind } from './coupling.ts';
import { Module } from './module.ts';
import { OnnxGraph, addLogdets, type LogDet, type Value } from '../backend/onnx-graph.ts';
import type { PriorBounds } from './prior.ts';
import { normalArray } from './random.ts';

export interface GlowConfig {
  height: number;
  width: number;
  channels: number;
  levels: number;
  /** Steps of flow per level (K in the paper). */
  depth: number;
  /** Channels of the coupling networks' hidden layers. */
  hidden: number;
  coupling: CouplingKind;
  /** Bits per colour sample the model is trained on (8 = every grey level). */
  nBits: number;
  /** Seed of the initial weights. */
  seed?: number;
  /**
   * A soft floor under every prior's σ: σ' = √(σ² + f²) (absent or 0: none). Without it a split prior
   * can grow all but certain of a pixel that is background in every training digit (σ ≈ 1e-4), and one
   * test digit with ink there costs hundreds of bits per dim. Any σ' is still a normalised Gaussian.
   */
  priorMinSd?: number;
  /** Affine coupling: a floor under the scale, s ∈ [minScale, 1] (absent or 0: none). See docs/stability.md. */
  minScale?: number;
  /** Bounds on every prior's predicted mean and log σ (absent: none). See docs/stability.md. */
  priorBounds?: PriorBounds;
}

/**
 * What encode conditions each split level's prior on: the half that went on as decode will rebuild
 * it from the levels above (exact round trips far from the data), or as the forward pass computed
 * it (what training does; cheaper, and the same up to rounding near the data). See Glow.encode.
 */
export type PriorCondition = 'rebuilt' | 'forward';

/**
 * Where new models hold their priors' mean and log σ: wide enough that the shipped models' test
 * figures do not move, narrow enough that exp(log σ) and ε² stay far from float32's range.
 */
export const DEFAULT_PRIOR_BOUNDS: PriorBounds = { mean: 5, logSd: [-10, 5] };

/**
 * Glow (Kingma & Dhariwal 2018): levels of squeeze → K×(actnorm, 1×1 conv, coupling) → split.
 * Images are NHWC in model units [−0.5, 0.5].
 *
 * The latent is the standardised ε of every level, each flattened in NHWC order, level 1 first:
 * for 28×28×1 with 2 levels that is 14·14·2 = 392 values of level 1, then 7·7·8 = 392 of level 2.
 * Every latent dimension is N(0, 1) under the prior, so temperature is a plain scale of ε.
 */
export class Glow extends Module {
  readonly blocks: Block[];
  /** [h, w, c] of each level's ε, in latent order. */
  readonly epsShapes: [number, number, number][] = [];
  readonly latentDim: number;

  constructor(readonly config: GlowConfig) {
    super();
    const { height, width, channels, levels, depth, hidden, coupling } = config;
    const seed = config.seed ?? 0;
    if (height % 2 ** levels || width % 2 ** levels) throw new Error(`${height}×${width} cannot be squeezed ${levels} times`);
    this.blocks = [];
    let [h, w, c] = [height, width, channels];
    for (let level = 0; level < levels; level++) {
      const split = level < levels - 1;
      const bounds = { minScale: config.minScale, prior: config.priorBounds };
      this.blocks.push(new Block(c, depth, hidden, coupling, split, seed + 1000 * level, config.priorMinSd ?? 0, bounds));
      [h, w, c] = [h / 2, w / 2, split ? c * 2 : c * 4];
      this.epsShapes.push([h, w, c]);
    }
    this.blocks.forEach((block, i) => this.adopt(`levels.${i}`, block));
    this.latentDim = height * width * channels;
  }

  get dims(): number {
    return this.latentDim;
  }

  /** Per-level ε and log p(x) per sample (continuous density of x in model units). */
  forward(x: tf.Tensor4D): { eps: tf.Tensor4D[]; logpx: tf.Tensor1D } {
    return tf.tidy(() => {
      let h = x;
      let logpx = tf.zeros([x.shape[0]]) as tf.Tensor1D;
      const eps: tf.Tensor4D[] = [];
      for (const block of this.blocks) {
        const out = block.forward(h);
        eps.push(out.eps);
        logpx = tf.add(logpx, tf.add(out.logdet, out.logp));
        if (out.next) h = out.next;
      }
      return { eps, logpx };
    });
  }

  /**
   * The latent of x, flattened, and log p(x). With `rebuilt` (the default), each split level's prior is
   * conditioned on the half that went on as decode will rebuild it from the levels above, not as the
   * forward pass computed it (`forward`, as in training): far from the data the prior's network
   * amplifies the small difference between the two (23× on an inverted checkerboard), and decode
   * then missed pixels by several levels. Encoded on the rebuilt halves, decode meets the very prior
   * encode used. It costs a reverse of every level but the first.
   */
  encode(x: tf.Tensor4D, condition: PriorCondition = 'rebuilt'): { eps: tf.Tensor2D; logpx: tf.Tensor1D } {
    return tf.tidy(() => {
      const n = x.shape[0];
      const flows: { next?: tf.Tensor4D; z: tf.Tensor4D; logdet: tf.Tensor1D }[] = [];
      let h = x;
      for (const block of this.blocks) {
        const out = block.flow(h);
        flows.push(out);
        if (out.next) h = out.next;
      }
      const eps: tf.Tensor2D[] = [];
      let logpx = tf.zeros([n]) as tf.Tensor1D;
      let rebuilt: tf.Tensor4D | undefined;
      for (let level = this.blocks.length - 1; level >= 0; level--) {
        const block = this.blocks[level];
        const out = block.prior.standardise(flows[level].z, condition === 'rebuilt' ? rebuilt : flows[level].next);
        eps[level] = out.eps.reshape([n, -1]);
        logpx = tf.add(logpx, tf.add(flows[level].logdet, out.logp));
        if (condition === 'rebuilt' && level > 0) rebuilt = block.reverse(out.eps, rebuilt);
      }
      return { eps: tf.concat(eps, 1) as tf.Tensor2D, logpx };
    });
  }

  decode(eps: tf.Tensor2D): tf.Tensor4D {
    if (eps.shape[1] !== this.latentDim) throw new Error(`latent has ${eps.shape[1]} values, the model needs ${this.latentDim}`);
    return tf.tidy(() => {
      const n = eps.shape[0];
      const sizes = this.epsShapes.map(([h, w, c]) => h * w * c);
      const parts = tf.split(eps, sizes, 1).map((p, i) => p.reshape([n, ...this.epsShapes[i]]) as tf.Tensor4D);
      let h: tf.Tensor4D | undefined;
      for (let level = this.blocks.length - 1; level >= 0; level--) h = this.blocks[level].reverse(parts[level], h);
      return h!;
    });
  }

  /** n images at temperature t; the same seed gives the same images on every backend. */
  sample(n: number, temperature: number, seed: number): tf.Tensor4D {
    return tf.tidy(() => this.decode(tf.tensor2d(normalArray(n * this.latentDim, seed, temperature), [n, this.latentDim])));
  }

  /** Bits per dimension of the 2^nBits-level discrete image: −(log p(x) − D·log 2^nBits) / (D·log 2). */
  bitsPerDim(logpx: tf.Tensor1D): tf.Tensor1D {
    const d = this.latentDim;
    return tf.tidy(() => tf.div(tf.sub(d * this.config.nBits * Math.LN2, logpx), d * Math.LN2) as tf.Tensor1D);
  }

  /**
   * The encode graph: x [N, H, W, C] in model units → eps [N, D] (the latent, ordered as encode's),
   * logpx [N] and bpd [N]. NCHW inside, as ONNX's convolutions want. `condition` as in Glow.encode.
   */
  onnxEncode(condition: PriorCondition = 'rebuilt'): OnnxGraph {
    const { height, width, channels } = this.config;
    const g = new OnnxGraph(condition === 'rebuilt' ? 'glow_encode' : 'glow_encode_forward');
    let h = g.transpose(g.input('x', [height, width, channels]), [2, 0, 1]);
    const flows: { next?: Value; z: Value; logdet: LogDet }[] = [];
    for (const block of this.blocks) {
      const out = block.onnxFlow(g, h);
      flows.push(out);
      if (out.next) h = out.next;
    }
    const top = this.blocks.length - 1;
    if (condition === 'forward') {
      const topPrior = this.blocks[top].prior.onnxStandardise(g, flows[top].z);
      const base = g.logdetValue(addLogdets(...flows.map((f) => f.logdet), topPrior.logp));
      const split = flows.slice(0, top).map((f, level) => this.blocks[level].prior.onnxStandardise(g, f.z, f.next));
      this.onnxOutputs(
        g,
        [...split.map((s) => s.eps), topPrior.eps],
        base,
        split.map((s) => s.logp),
      );
      return g;
    }
    // Each prior conditioned on the next level's input as decode rebuilds it from the levels above.
    const terms: LogDet[] = [];
    const eps: Value[] = [];
    let rebuilt: Value | undefined;
    for (let level = top; level >= 0; level--) {
      const block = this.blocks[level];
      const out = block.prior.onnxStandardise(g, flows[level].z, rebuilt);
      eps[level] = out.eps;
      terms.push(flows[level].logdet, out.logp);
      if (level > 0) rebuilt = block.onnxReverse(g, out.eps, rebuilt);
    }
    this.onnxOutputs(g, eps, undefined, terms);
    return g;
  }

  /** eps (every level's ε, NCHW, flattened HWC and concatenated), logpx = base + the terms, and bpd. */
  private onnxOutputs(g: OnnxGraph, eps: Value[], base: Value | undefined, terms: LogDet[]): void {
    const { nBits } = this.config;
    const flat = eps.map((e) => g.reshape(g.transpose(e, [1, 2, 0]), [size(e.dims)]));
    const rest = terms.length > 0 ? g.logdetValue(addLogdets(...terms)) : undefined;
    const logpx = base && rest ? g.add(base, rest) : (base ?? rest!);
    g.output(g.op('Concat', flat, [this.latentDim], { axis: 1 }), 'eps');
    g.output(logpx, 'logpx');
    const d = this.latentDim;
    const bpd = g.div(g.op('Sub', [g.constant([d * nBits * Math.LN2], []), logpx], []), g.constant([d * Math.LN2], []));
    g.output(bpd, 'bpd');
  }

  /** A latent [N, D] as each level's ε, NCHW. */
  private onnxLatentParts(g: OnnxGraph, eps: Value): Value[] {
    const sizes = this.epsShapes.map(([h, w, c]) => h * w * c);
    const flat = g.ops(
      'Split',
      [eps, g.ints(sizes)],
      sizes.map((s) => [s]),
      { axis: 1 },
    );
    return flat.map((p, i) => g.transpose(g.reshape(p, this.epsShapes[i]), [2, 0, 1]));
  }

  /** The decode graph: eps [N, D] → x [N, H, W, C] in model units. */
  onnxDecode(): OnnxGraph {
    const g = new OnnxGraph('glow_decode');
    const parts = this.onnxLatentParts(g, g.input('eps', [this.latentDim]));
    let h: Value | undefined;
    for (let level = this.blocks.length - 1; level >= 0; level--) h = this.blocks[level].onnxReverse(g, parts[level], h);
    g.output(g.transpose(h!, [1, 2, 0]), 'x');
    return g;
  }

  /** Mean bits/dim of a batch: the training loss. */
  loss(x: tf.Tensor4D): tf.Scalar {
    return tf.tidy(() => tf.mean(this.bitsPerDim(this.forward(x).logpx)) as tf.Scalar);
  }

  /** Data-dependent initialisation of every actnorm from one (large) batch. */
  initialize(x: tf.Tensor4D): void {
    for (const a of this.actnorms()) a.initialized = false;
    tf.tidy(() => {
      this.forward(x);
    });
  }

  markInitialized(): void {
    for (const a of this.actnorms()) a.initialized = true;
  }

  /** Clears cached inverses; call after the weights change. */
  weightsChanged(): void {
    for (const block of this.blocks) for (const step of block.steps) step.invconv.weightsChanged();
  }

  parameterCount(): number {
    let n = 0;
    for (const v of this.params.values()) n += v.size;
    return n;
  }

  private *actnorms() {
    for (const block of this.blocks) for (const step of block.steps) yield step.actnorm;
  }

  override dispose(): void {
    for (const block of this.blocks) for (const step of block.steps) step.invconv.dispose();
    super.dispose();
  }
}

function size(dims: number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}
