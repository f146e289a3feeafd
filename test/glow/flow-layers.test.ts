// One property test for every flow layer and for the whole flow: reverse∘forward is the identity,
// and the log-det each layer reports equals log|det J| of its Jacobian, computed independently by
// autodiff on a tiny input. A new layer gets both checks by adding one line to `layers`.
import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import { ActNorm } from '../../src/glow/actnorm.ts';
import { initBackend } from '../../src/backend/backend.ts';
import { Block } from '../../src/glow/block.ts';
import { Coupling } from '../../src/glow/coupling.ts';
import { FlowStep } from '../../src/glow/flow-step.ts';
import { Glow } from '../../src/glow/glow.ts';
import { InvConv2dLU } from '../../src/glow/invconv.ts';
import { luDecompose } from '../../src/glow/linalg.ts';
import { FlowLayer, Module } from '../../src/glow/module.ts';
import { normalArray } from '../../src/glow/random.ts';
import { squeeze, unsqueeze } from '../../src/glow/squeeze.ts';
import { randomise } from '../fixtures/model.ts';

await initBackend('cpu');

/** log|det| of a dense float64 matrix via LU. */
function logAbsDet(m: Float64Array, n: number): number {
  const { u } = luDecompose(m, n);
  let s = 0;
  for (let i = 0; i < n; i++) s += Math.log(Math.abs(u[i * n + i]));
  return s;
}

/** The Jacobian of a [1,h,w,c] → [1,…] map by one reverse-mode pass per output. */
function jacobian(f: (x: tf.Tensor4D) => tf.Tensor, x: tf.Tensor4D): Float64Array {
  const d = x.size;
  const out = new Float64Array(d * d);
  for (let k = 0; k < d; k++) {
    const row = tf.tidy(() =>
      tf
        .grad((xx: tf.Tensor) =>
          f(xx as tf.Tensor4D)
            .flatten()
            .gather([k])
            .sum(),
        )(x)
        .dataSync(),
    );
    for (let j = 0; j < d; j++) out[k * d + j] = row[j];
  }
  return out;
}

const LOG_2PI = Math.log(2 * Math.PI);

/** The whole flow seen as one layer x → ε, whose log-det is log p(x) − Σ log N(ε; 0, 1). */
function glowAsLayer(g: Glow): FlowLayer {
  return {
    forward(x) {
      return tf.tidy(() => {
        const { eps, logpx } = g.encode(x);
        const logN = tf.sum(tf.mul(tf.add(tf.square(eps), LOG_2PI), -0.5), 1);
        return { y: eps.reshape([x.shape[0], 1, 1, -1]) as tf.Tensor4D, logdet: tf.sub(logpx, logN) as tf.Tensor1D };
      });
    },
    reverse: (y) => g.decode(y.reshape([y.shape[0], -1]) as tf.Tensor2D),
  };
}

/** A split level seen as one layer: x → concat(next, ε) with log-det = logdet + log p(z) − log N(ε). */
function blockAsLayer(b: Block): FlowLayer {
  return {
    forward(x) {
      return tf.tidy(() => {
        const { next, eps, logdet, logp } = b.forward(x);
        const logN = tf.sum(tf.mul(tf.add(tf.square(eps), LOG_2PI), -0.5), [1, 2, 3]);
        const y = tf.concat([next!, eps], 3) as tf.Tensor4D;
        return { y, logdet: tf.add(logdet, tf.sub(logp, logN)) as tf.Tensor1D };
      });
    },
    reverse(y) {
      const [next, eps] = tf.split(y, 2, 3) as [tf.Tensor4D, tf.Tensor4D];
      return b.reverse(eps, next);
    },
  };
}

const layers: { name: string; shape: [number, number, number, number]; make: () => FlowLayer }[] = [
  {
    name: 'ActNorm',
    shape: [3, 2, 2, 4],
    make: () => {
      const a = new ActNorm(4);
      a.initialize(tf.randomNormal([8, 2, 2, 4], 1, 3) as tf.Tensor4D);
      return a;
    },
  },
  { name: 'InvConv2dLU', shape: [3, 2, 2, 4], make: () => new InvConv2dLU(4, 7) },
  { name: 'Coupling (affine)', shape: [3, 2, 2, 4], make: () => new Coupling(4, 8, 'affine', 3) },
  // A floor of 0.9 sits inside the scales the random weights give: both sides of it are exercised.
  { name: 'Coupling (affine, scale floor)', shape: [3, 2, 2, 4], make: () => new Coupling(4, 8, 'affine', 3, 0.9) },
  { name: 'Coupling (additive)', shape: [3, 2, 2, 4], make: () => new Coupling(4, 8, 'additive', 3) },
  { name: 'FlowStep', shape: [3, 2, 2, 4], make: () => new FlowStep(4, 8, 'affine', 5) },
  {
    name: 'squeeze',
    shape: [3, 4, 4, 1],
    make: () => ({ forward: (x) => ({ y: squeeze(x), logdet: tf.zeros([x.shape[0]]) as tf.Tensor1D }), reverse: unsqueeze }),
  },
  {
    name: 'Block (split, learned conditional prior)',
    shape: [3, 2, 2, 2],
    make: () => blockAsLayer(trained(new Block(2, 2, 8, 'affine', true, 9))),
  },
  {
    name: 'Block (split, prior with a σ floor)',
    shape: [3, 2, 2, 2],
    make: () => blockAsLayer(trained(new Block(2, 2, 8, 'affine', true, 9, 0.3))),
  },
  // Bounds tight enough that the random weights' predictions are clipped.
  {
    name: 'Block (split, bounded prior)',
    shape: [3, 2, 2, 2],
    make: () => blockAsLayer(trained(new Block(2, 2, 8, 'affine', true, 9, 0, { prior: { mean: 0.05, logSd: [-0.1, 0.1] } }))),
  },
  {
    name: 'Glow (2 levels, whole flow)',
    shape: [3, 4, 4, 1],
    make: () =>
      glowAsLayer(
        trained(new Glow({ height: 4, width: 4, channels: 1, levels: 2, depth: 2, hidden: 8, coupling: 'affine', nBits: 8, seed: 2 })),
      ),
  },
  {
    name: 'Glow (3 levels, additive, RGB)',
    shape: [2, 8, 8, 3],
    make: () =>
      glowAsLayer(
        trained(new Glow({ height: 8, width: 8, channels: 3, levels: 3, depth: 1, hidden: 8, coupling: 'additive', nBits: 5, seed: 4 })),
      ),
  },
];

/** Random parameters everywhere, actnorms counted as initialised: a stand-in for a trained model. */
function trained<M extends Module>(m: M): M {
  randomise(m, 200, 0.1);
  (m as unknown as { markInitialized?: () => void }).markInitialized?.();
  if (m instanceof Block) for (const s of m.steps) s.actnorm.initialized = true;
  return m;
}

for (const { name, shape, make } of layers) {
  t.test(name, async (t) => {
    const layer = make();
    if (layer instanceof Module) randomise(layer, 100);
    const x = tf.tensor4d(
      normalArray(
        shape.reduce((a, b) => a * b),
        11,
        0.5,
      ),
      shape,
    );

    const { y, logdet } = layer.forward(x);
    const back = layer.reverse(y);
    const err = tf.max(tf.abs(tf.sub(back, x))).dataSync()[0];
    t.ok(err <= 1e-5, `reverse(forward(x)) = x (max error ${err.toExponential(2)})`);

    // Independent log|det J| on the first sample (D ≤ 192 values).
    const x0 = x.slice([0], [1]);
    const d = x0.size;
    const jac = jacobian((xx) => layer.forward(xx).y, x0);
    const expected = logAbsDet(jac, d);
    const got = logdet.dataSync()[0];
    t.ok(
      Math.abs(got - expected) <= 1e-3 * Math.max(1, Math.abs(expected)),
      `log-det ${got.toFixed(5)} = log|det J| ${expected.toFixed(5)}`,
    );
    if (y.size === x.size) {
      const moved = tf.max(tf.abs(tf.sub(y.reshape(x.shape), x))).dataSync()[0];
      t.ok(moved > 1e-2, `the layer is not the identity (moves x by up to ${moved.toFixed(3)})`);
    }
    tf.dispose([x, x0, y, logdet, back]);
  });
}
