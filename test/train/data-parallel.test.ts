// Data-parallel training: the gradient of a batch split between this thread and worker threads equals
// the gradient of the whole batch computed in one piece, whatever the split.
import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend/backend.ts';
import { Glow, GlowConfig } from '../../src/glow/glow.ts';
import { modelUnits } from '../../src/glow/pixels.ts';
import { normalArray, uniformArray } from '../../src/glow/random.ts';
import { GradientWorkers } from '../../src/train/data-parallel.ts';

await initBackend('cpu');
const config: GlowConfig = { height: 8, width: 8, channels: 1, levels: 2, depth: 2, hidden: 16, coupling: 'affine', nBits: 8, seed: 3 };

function maxRelativeDifference(a: Float32Array, b: Float32Array): number {
  let scale = 1e-6;
  for (const v of b) scale = Math.max(scale, Math.abs(v));
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / scale);
  return worst;
}

t.test('gradients split over 1 and 2 workers equal those of the whole batch', async (t) => {
  const glow = new Glow(config);
  const n = 7; // uneven shards on purpose
  const pixels = Uint8Array.from(uniformArray(n * 64, 5), (u) => Math.floor(u * 256));
  const x = modelUnits(pixels, 8, uniformArray(n * 64, 6));
  glow.initialize(tf.tensor4d(x, [n, 8, 8, 1]));
  // Move the weights off their initial values (the zero-convs start at zero) so every gradient is non-trivial.
  for (const [i, v] of [...glow.params.values()].entries())
    tf.tidy(() => v.assign(tf.add(v, tf.tensor(normalArray(v.size, 100 + i, 0.02), v.shape))));
  const xs = tf.tensor4d(x, [n, 8, 8, 1]);
  const whole = tf.variableGrads(() => glow.loss(xs), [...glow.params.values()]);
  const names = new Map([...glow.params].map(([name, v]) => [v.name, name]));
  const expected = new Map(Object.entries(whole.grads).map(([tfName, g]) => [names.get(tfName)!, g.dataSync() as Float32Array]));
  const expectedLoss = whole.value.dataSync()[0];

  for (const count of [1, 2]) {
    const workers = await GradientWorkers.start(count, glow, 'cpu');
    t.teardown(() => workers.close());
    const { loss, grads } = await workers.gradients(glow, x, n);
    t.ok(Math.abs(loss - expectedLoss) < 1e-5, `${count} worker(s): loss ${loss} vs ${expectedLoss}`);
    t.equal(grads.size, expected.size, 'a gradient for every parameter');
    let worst = 0;
    for (const [name, g] of grads) worst = Math.max(worst, maxRelativeDifference(g, expected.get(name)!));
    t.ok(worst < 1e-4, `${count} worker(s): largest gradient difference ${worst.toExponential(2)} of the gradient's scale`);
  }
});

t.test('a worker that fails answers with its error', async (t) => {
  const glow = new Glow(config);
  glow.markInitialized();
  const workers = await GradientWorkers.start(1, glow, 'cpu');
  t.teardown(() => workers.close());
  // A batch of the wrong size for the declared n: the worker's tensor4d throws.
  await t.rejects(workers.gradients(glow, new Float32Array(3 * 64 - 5), 3), /gradient worker/);
});
