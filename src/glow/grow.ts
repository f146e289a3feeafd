import * as tf from '@tensorflow/tfjs';
import { Glow, GlowConfig } from './glow.ts';

/**
 * Grows a trained model deeper (net2net-style): a model with `factor` times the steps of flow per
 * level, in which step i of the trained model becomes step factor·i and every step in between starts
 * as (nearly) the identity, so the grown model begins where the trained one stopped and trains on
 * with more capacity. A new step has a plain actnorm, W = I and a coupling whose zero-conv outputs
 * zero shift and, for affine coupling, a scale of sigmoid(2) ≈ 0.88 that the next step's actnorm
 * undoes (steepenScale), or, in a level's last step, sigmoid(2 + scaleBias) ≈ 1 − 1e-3 (sigmoid(h + 2)
 * cannot be exactly 1). Everything else (priors, the trained steps) is copied. `changes` sets config
 * fields that have no weights of their own (the priors' σ floor and bounds, the scale floor); factor
 * 1 then copies the model. Changing affine coupling to additive keeps each coupling's shift and drops
 * its scale: a warm start for a model whose inverse is better conditioned (docs/stability.md). Changing
 * additive to affine keeps the shift and adds a scale that starts as a new step's, so a trained additive
 * model goes on training with the affine coupling's capacity (with a scale floor, minScale).
 */
export function growDepth(source: Glow, factor: number, changes: GrowChanges = {}, scaleBias = 4.9): Glow {
  if (!Number.isInteger(factor) || factor < 1) throw new Error(`grow factor must be a whole number ≥ 1, not ${factor}`);
  if (changes.coupling && changes.coupling !== 'additive' && changes.coupling !== 'affine')
    throw new Error(`no coupling ${changes.coupling}`);
  const config = { ...source.config, ...changes, depth: source.config.depth * factor };
  const dropScale = source.config.coupling === 'affine' && config.coupling === 'additive';
  const addScale = source.config.coupling === 'additive' && config.coupling === 'affine';
  const grown = new Glow(config);
  const sourceVars = new Map([...source.params, ...source.buffers]);
  for (const [name, v] of [...grown.params, ...grown.buffers]) {
    const m = /^levels\.(\d+)\.steps\.(\d+)\.(.*)$/.exec(name);
    if (!m) {
      v.assign(sourceVars.get(name)!); // priors
      continue;
    }
    const [level, step, rest] = [m[1], Number(m[2]), m[3]];
    if (step % factor === 0) {
      const trained = sourceVars.get(`levels.${level}.steps.${step / factor}.${rest}`)!;
      // The affine zero-conv's outputs are [shift, raw scale]: additive keeps the shift half.
      if (dropScale && rest.startsWith('coupling.zero_conv.')) tf.tidy(() => v.assign(tf.split(trained, 2, trained.rank - 1)[0]));
      else if (addScale && rest.startsWith('coupling.zero_conv.')) {
        // The trained outputs become the shift half; the scale half starts as a new step's (s ≈ 1).
        const fresh = identityValue(rest, v, scaleBias);
        tf.tidy(() => v.assign(tf.concat([trained, tf.split(fresh, 2, fresh.rank - 1)[1]], trained.rank - 1)));
        fresh.dispose();
      } else v.assign(trained);
      continue;
    }
    tf.tidy(() => v.assign(identityValue(rest, v, config.coupling === 'affine' ? scaleBias : 0)));
  }
  if (config.coupling === 'affine') {
    const fresh = (step: number) => addScale || step % factor !== 0;
    grown.blocks.forEach((block, level) => {
      for (let step = 0; step < block.steps.length - 1; step++) if (fresh(step)) steepenScale(grown, level, step);
    });
  }
  grown.markInitialized();
  grown.weightsChanged();
  return grown;
}

/**
 * A fresh scale at sigmoid(2 + scaleBias) ≈ 1 − 1e-3 sits where the sigmoid is flat (slope 1e-3), and
 * stays there: on the MNIST retrain, 27,000 steps after growing to depth 16, 9 of the 16 grown couplings
 * still had s ≥ 0.98 on each of 200 test digits, where the 16 that were there before had a mean log s of
 * −0.08 to −0.49. So a fresh scale of a step that is not its level's last starts at s₀ = sigmoid(2) (slope 0.1,
 * Glow's own initial scale), constant while its zero-conv's kernel is zero, and the next step's actnorm
 * multiplies those channels by 1/s₀ again: (s₀x + b·s₀)·e^(ls − log s₀) = (x + b)·e^ls, and the
 * log-dets cancel. The grown model is the source up to rounding. The last step's next layer is the
 * prior, which cannot absorb it: that step keeps the near-1 scale.
 */
function steepenScale(glow: Glow, level: number, step: number): void {
  const { coupling } = glow.blocks[level].steps[step];
  const { actnorm } = glow.blocks[level].steps[step + 1];
  const half = coupling.channels / 2;
  const s0 = Math.max(1 / (1 + Math.exp(-2)), coupling.minScale);
  const bias = coupling.out.bias.dataSync().slice();
  bias.fill(0, half);
  const logScale = actnorm.logScale.dataSync().slice();
  const shift = actnorm.bias.dataSync().slice();
  for (let c = half; c < 2 * half; c++) {
    logScale[c] -= Math.log(s0);
    shift[c] *= s0;
  }
  coupling.out.bias.assign(tf.tensor1d(bias));
  actnorm.logScale.assign(tf.tensor1d(logScale));
  actnorm.bias.assign(tf.tensor1d(shift));
}

export type GrowChanges = Partial<Pick<GlowConfig, 'priorMinSd' | 'priorBounds' | 'minScale' | 'coupling'>>;

/** The value of a new step's variable that makes the step (nearly) the identity. */
function identityValue(rest: string, v: tf.Variable, scaleBias: number): tf.Tensor {
  const n = v.shape[0]!;
  switch (rest) {
    case 'invconv.permutation':
      return tf.eye(n);
    case 'invconv.sign_s':
      return tf.ones([n]);
    case 'coupling.zero_conv.bias':
      if (scaleBias === 0) return tf.zerosLike(v);
      // The affine zero-conv's outputs are [shift, raw scale]: only the raw scale gets the bias.
      return tf.concat([tf.zeros([n / 2]), tf.fill([n / 2], scaleBias)]);
    case 'actnorm.bias':
    case 'actnorm.log_scale':
    case 'invconv.lower':
    case 'invconv.upper':
    case 'invconv.log_s':
    case 'coupling.zero_conv.kernel':
    case 'coupling.zero_conv.log_scale':
      return tf.zerosLike(v);
    default:
      return v.clone(); // the coupling network's hidden layers keep their random initialisation
  }
}
