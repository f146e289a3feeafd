// Growing a trained model deeper (src/glow/grow.ts): the grown model starts as the model it grew from.
import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend/backend.ts';
import { growDepth } from '../../src/glow/grow.ts';
import { normalArray } from '../../src/glow/random.ts';
// Stand-ins for trained models: every parameter moved off its initial value, actnorms initialised.
import { randomGlow } from '../fixtures/model.ts';

await initBackend('cpu');

const base = { height: 8, width: 8, channels: 1, levels: 2, depth: 2, hidden: 8, nBits: 8, seed: 3 } as const;

for (const coupling of ['additive', 'affine'] as const) {
  t.test(`${coupling}: the grown model keeps the trained steps and starts with the same density`, async (t) => {
    const source = randomGlow({ ...base, coupling }, 50, 0.05);
    const grown = growDepth(source, 3);
    t.equal(grown.config.depth, 6);
    t.equal(grown.blocks[1].steps.length, 6);
    const kept = 'levels.1.steps.1.coupling.conv2.kernel';
    t.same(
      grown.params.get('levels.1.steps.3.coupling.conv2.kernel')!.dataSync(),
      source.params.get(kept)!.dataSync(),
      'step 1 became step 3',
    );
    t.same(
      grown.params.get('levels.0.prior.conv.kernel')!.dataSync(),
      source.params.get('levels.0.prior.conv.kernel')!.dataSync(),
      'the priors are copied',
    );

    const x = tf.tensor4d(normalArray(4 * 64, 7, 0.2), [4, 8, 8, 1]);
    const a = source.encode(x);
    const b = grown.encode(x);
    // Additive identity steps are exact; an affine level's last step scales half its channels by
    // sigmoid(6.9) ≈ 0.999, which may cost at most a few thousandths of a nat per dimension.
    const tol = coupling === 'additive' ? 1e-4 : 0.005 * source.latentDim;
    const dLogp = tf.max(tf.abs(tf.sub(a.logpx, b.logpx))).dataSync()[0];
    t.ok(
      dLogp < tol,
      `log p(x) moves by ${dLogp.toExponential(2)} nats (at most ${tol}; of ${Math.abs(a.logpx.dataSync()[0]).toFixed(0)})`,
    );
    const dEps = tf.max(tf.abs(tf.sub(a.eps, b.eps))).dataSync()[0];
    t.ok(dEps < (coupling === 'additive' ? 1e-4 : 0.05), `ε moves by ${dEps.toExponential(2)}`);
    const back = tf.max(tf.abs(tf.sub(grown.decode(b.eps), x))).dataSync()[0];
    t.ok(back < 1e-5, `the grown model inverts (max error ${back.toExponential(2)})`);
    // The new steps train: their coupling's zero-conv is where the gradient must reach.
    const name = 'levels.0.steps.1.coupling.zero_conv.kernel';
    const { grads } = tf.variableGrads(() => grown.loss(x), [grown.params.get(name)!]);
    const norm = tf.norm(Object.values(grads)[0]).dataSync()[0];
    t.ok(norm > 0, `a new step's zero-conv gets a gradient (norm ${norm.toExponential(2)})`);
    tf.dispose([x, a.eps, a.logpx, b.eps, b.logpx, ...Object.values(grads)]);
  });
}

t.test("affine: a new step but a level's last starts at a steep scale, sigmoid(2), which the next actnorm undoes exactly", async (t) => {
  const source = randomGlow({ ...base, coupling: 'affine', minScale: 0.5 }, 50, 0.05);
  const grown = growDepth(source, 2);
  const s0 = 1 / (1 + Math.exp(-2));
  const raw = (level: number, step: number) =>
    Array.from(grown.params.get(`levels.${level}.steps.${step}.coupling.zero_conv.bias`)!.dataSync());
  const c = 4; // level 0: 1 channel squeezed to 4; the zero-conv's outputs are [shift ×2, raw scale ×2]
  t.same(raw(0, 1).slice(c / 2), [0, 0], 'new step 1 of 4: raw scale 0, s = sigmoid(2)');
  t.same(raw(0, 3).slice(c / 2), [4.9, 4.9].map(Math.fround), "new step 3, the level's last: s = sigmoid(6.9)");
  const logScale = (model: typeof grown, level: number, step: number) =>
    Array.from(model.params.get(`levels.${level}.steps.${step}.actnorm.log_scale`)!.dataSync());
  const before = logScale(source, 0, 1);
  const after = logScale(grown, 0, 2);
  t.ok(
    after.every((v, i) => Math.abs(v - (i < c / 2 ? before[i] : before[i] - Math.log(s0))) < 1e-6),
    'trained step 1, now 2: its actnorm scales the scaled half by 1/s₀',
  );
  // Without a level's last step, the grown model is the source up to rounding: depth 2 grown to 4 has
  // steps 1 and 3 new, 3 the last; here, the comparison is made on a model grown by 3 in one level.
  const one = randomGlow({ ...base, levels: 1, coupling: 'affine' }, 60, 0.05);
  const grown3 = growDepth(one, 3);
  const x = tf.tensor4d(normalArray(4 * 64, 9, 0.2), [4, 8, 8, 1]);
  const [a, b] = [one.encode(x), grown3.encode(x)];
  // Steps 1, 2 and 4 are new and steep; 5 is the last and near 1: log p moves by its 0.999 only.
  const near = 4 * 64 * Math.log(1 / (1 / (1 + Math.exp(-6.9)))) + 1e-3;
  const dLogp = tf.max(tf.abs(tf.sub(a.logpx, b.logpx))).dataSync()[0];
  t.ok(dLogp < near, `log p(x) moves by ${dLogp.toExponential(2)} nats, no more than the last step's 0.999 (${near.toExponential(2)})`);
  tf.dispose([x, a.eps, a.logpx, b.eps, b.logpx]);
  for (const m of [source, grown, one, grown3]) m.dispose();
});

t.test('growing by a factor that is not a whole number is refused', async (t) => {
  const source = randomGlow({ ...base, coupling: 'affine' }, 50, 0.05);
  t.throws(() => growDepth(source, 1.5), /whole number/);
});

t.test('factor 1 with a new σ floor: the same weights, the floor in the config and in every prior', async (t) => {
  const source = randomGlow({ ...base, coupling: 'affine' }, 50, 0.05);
  const copy = growDepth(source, 1, { priorMinSd: 1e-3 });
  t.equal(copy.config.priorMinSd, 1e-3);
  t.equal(copy.config.depth, base.depth);
  t.ok(
    copy.blocks.every((b) => b.prior.minSd === 1e-3),
    'every prior has the floor',
  );
  for (const [name, v] of source.params) t.same(copy.params.get(name)!.dataSync(), v.dataSync(), name);
  source.dispose();
  copy.dispose();
});

t.test('additive becomes affine: the trained shift is kept and the new scale starts near 1', async (t) => {
  const source = randomGlow({ ...base, coupling: 'additive' }, 50, 0.05);
  for (const factor of [1, 2]) {
    const grown = growDepth(source, factor, { coupling: 'affine', minScale: 0.5 });
    t.equal(grown.config.coupling, 'affine');
    t.equal(grown.config.minScale, 0.5);
    const x = tf.tensor4d(normalArray(4 * 64, 8, 0.2), [4, 8, 8, 1]);
    const a = source.encode(x);
    const b = grown.encode(x);
    // Every coupling now scales half its channels by sigmoid(6.9) ≈ 0.999 (see the affine case above).
    const dLogp = tf.max(tf.abs(tf.sub(a.logpx, b.logpx))).dataSync()[0];
    t.ok(dLogp < 0.005 * source.latentDim, `factor ${factor}: log p(x) moves by ${dLogp.toExponential(2)} nats`);
    const dEps = tf.max(tf.abs(tf.sub(a.eps, b.eps))).dataSync()[0];
    t.ok(dEps > 0 && dEps < 0.05, `factor ${factor}: ε moves by ${dEps.toExponential(2)}`);
    const back = tf.max(tf.abs(tf.sub(grown.decode(b.eps), x))).dataSync()[0];
    t.ok(back < 1e-5, `factor ${factor}: the grown model inverts (max error ${back.toExponential(2)})`);
    tf.dispose([x, a.eps, a.logpx, b.eps, b.logpx]);
    grown.dispose();
  }
  source.dispose();
});
