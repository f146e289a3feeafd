import * as tf from '@tensorflow/tfjs';
import t from 'tap';
import { Polyak } from '../../src/train/polyak.ts';

await tf.setBackend('cpu');

t.test('the average follows the weights with a warmed-up decay; withAveraged swaps them in and back', async (t) => {
  const w = tf.variable(tf.tensor1d([0, 0]));
  const polyak = new Polyak(new Map([['w', w]]), 0.999);
  w.assign(tf.tensor1d([1, 2]));
  polyak.update(); // decay min(0.999, 2/11)
  const d = 2 / 11;
  t.same(
    Array.from(polyak.shadow.get('w')!.dataSync()).map((v) => +v.toFixed(6)),
    [1 - d, 2 * (1 - d)].map((v) => +v.toFixed(6)),
  );
  for (let i = 0; i < 5000; i++) polyak.update();
  t.ok(Math.abs(polyak.shadow.get('w')!.dataSync()[0] - 1) < 1e-2, 'converges to constant weights');

  const inside = await polyak.withAveraged(async (raw) => {
    t.same(Array.from(raw.get('w')!.dataSync()), [1, 2], 'raw weights handed over');
    return Array.from(w.dataSync());
  });
  t.same(inside, Array.from(polyak.shadow.get('w')!.dataSync()), 'the model holds the average inside');
  t.same(Array.from(w.dataSync()), [1, 2], 'and the training weights after');
  await t.rejects(
    polyak.withAveraged(async () => Promise.reject(new Error('boom'))),
    /boom/,
  );
  t.same(Array.from(w.dataSync()), [1, 2], 'restored after a throw too');
});

t.test('restore: the weights file is the average, the training weights come from raw', async (t) => {
  const w = tf.variable(tf.tensor1d([5, 5])); // as loaded from weights.safetensors
  const polyak = new Polyak(new Map([['w', w]]), 0.99);
  polyak.restore(new Map([['w', { data: Float32Array.from([7, 8]), shape: [2] }]]), 42);
  t.same(Array.from(polyak.shadow.get('w')!.dataSync()), [5, 5]);
  t.same(Array.from(w.dataSync()), [7, 8]);
  t.equal(polyak.updates, 42);
  const old = new Polyak(new Map([['w', w]]), 0.99);
  old.restore(new Map(), 0); // a checkpoint from before averaging: both start from the file
  t.same(Array.from(old.shadow.get('w')!.dataSync()), [7, 8]);
});
