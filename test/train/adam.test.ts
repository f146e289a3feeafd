import * as tf from '@tensorflow/tfjs';
import t from 'tap';
import { Adam } from '../../src/train/adam.ts';

await tf.setBackend('cpu');

/** Adam written out for one scalar weight, in float64: the reference. */
function reference(w: number, grads: number[], lr: number, scale = 1): number {
  let [m, v] = [0, 0];
  grads.forEach((g0, k) => {
    const g = g0 * scale;
    m = 0.9 * m + 0.1 * g;
    v = 0.999 * v + 0.001 * g * g;
    w -= (lr * (m / (1 - 0.9 ** (k + 1)))) / (Math.sqrt(v / (1 - 0.999 ** (k + 1))) + 1e-8);
  });
  return w;
}

t.test('Adam follows the textbook update, with gradient scaling, and its state round-trips', async (t) => {
  const w = tf.variable(tf.tensor2d([1, -2, 3, 0.5], [2, 2]));
  const adam = new Adam(new Map([['w', w]]));
  const steps = [Float32Array.from([0.5, -1, 2, 0]), Float32Array.from([0.1, 0.2, -3, 1e-3]), Float32Array.from([-0.4, 0.3, 1, 2])];
  for (const g of steps) adam.apply(new Map([['w', g]]), 0.01, 0.5);
  const got = w.dataSync();
  for (let i = 0; i < 4; i++) {
    const want = reference(
      [1, -2, 3, 0.5][i],
      steps.map((g) => g[i]),
      0.01,
      0.5,
    );
    t.ok(Math.abs(got[i] - want) < 1e-6, `weight ${i}: ${got[i]} vs ${want}`);
  }
  t.equal(adam.step, 3);

  // A restored optimiser continues exactly where the saved one would.
  const state = adam.state();
  const arrays = new Map([...state].map(([k, v]) => [k, { data: v.dataSync() as Float32Array, shape: v.shape }]));
  const w2 = tf.variable(w.clone());
  const again = new Adam(new Map([['w', w2]]));
  again.restore(arrays);
  const g = Float32Array.from([1, 1, -1, 0.2]);
  adam.apply(new Map([['w', g]]), 0.01);
  again.apply(new Map([['w', g]]), 0.01);
  t.same(Array.from(w2.dataSync()), Array.from(w.dataSync()));
  tf.dispose([...state.values()]);
  t.throws(() => new Adam(new Map([['w', tf.variable(tf.zeros([3]))]])).restore(arrays), /has 4 values, the model 3/);
});
