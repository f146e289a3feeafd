// src/train/trainer.ts in-process, on a tiny MNIST model and the CPU backend: the learning-rate
// schedule, the data order, a few steps, stop and resume, and the NaN guard.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { initBackend } from '../../src/backend/backend.ts';
import { BatchOrder, Trainer, TrainerOptions, epochOrder, learningRate } from '../../src/train/trainer.ts';
import { tempDir } from '../fixtures/app.ts';

const backend = await initBackend('cpu');

function tiny(out: string, extra: Partial<TrainerOptions> = {}): TrainerOptions & { lines: string[] } {
  const lines: string[] = [];
  const model = { levels: 2, depth: 1, hidden: 8, coupling: 'additive' as const, nBits: 8 };
  return {
    out,
    dataset: 'mnist',
    model,
    initImages: 64,
    batch: 8,
    warmup: 2,
    clip: 50,
    seed: 1,
    polyak: 0.999,
    backend,
    workers: 0,
    progress: false,
    log: (m) => lines.push(m),
    lines,
    ...extra,
  };
}
const RUN = { checkpointEveryMs: Infinity, evalEvery: 1_000_000, evalImages: 10, finalEval: false };
const weights = (trainer: Trainer) =>
  new Map([...trainer.glow.params].map(([name, v]) => [name, Float32Array.from(v.dataSync() as Float32Array)]));
const close = (a: number, b: number) => Math.abs(a - b) <= 1e-12 + 1e-9 * Math.abs(b);

t.test('learning rate: linear warm-up, the NaN guard scale, linear decay by step', async (t) => {
  const base = { lr: 1e-3, lrScale: 1, warmup: 4 };
  t.ok(close(learningRate(base, 0), 2.5e-4), 'step 0: a quarter of the way up');
  t.ok(close(learningRate(base, 1), 5e-4));
  t.ok(close(learningRate(base, 3), 1e-3), 'full rate at the end of warm-up');
  t.ok(close(learningRate(base, 1000), 1e-3), 'constant without decay');
  t.ok(close(learningRate({ ...base, lrScale: 0.25 }, 1000), 2.5e-4), 'scaled by lrScale');
  const decay = { ...base, decay: { start: 10, steps: 4, to: 0.2 } };
  t.ok(close(learningRate(decay, 10), 1e-3), 'decay starts at its start step');
  t.ok(close(learningRate(decay, 12), 6e-4), 'halfway: 1 − 0.8 / 2');
  t.ok(close(learningRate(decay, 14), 2e-4), 'at the end: to × lr');
  t.ok(close(learningRate(decay, 100), 2e-4), 'then constant');
  const again = { ...decay, warmupFrom: 12 };
  t.ok(close(learningRate(again, 12), 6e-4 / 4), 'a new warm-up from warmupFrom: a quarter of the decayed rate');
  t.ok(close(learningRate(again, 13), 1e-3 * 0.5 * 0.4), 'halfway up, times the decay');
  t.ok(close(learningRate(again, 15), 1e-3 * (1 - 0.8)), 'warmed up again: the decayed rate');
});

t.test('data order: a seeded permutation per epoch, batches are its consecutive slices', async (t) => {
  const count = 12;
  const order = epochOrder(1, 0, count);
  t.same(
    [...order].sort((a, b) => a - b),
    [...Array(count).keys()],
    'every index once',
  );
  t.notSame([...order], [...Array(count).keys()], 'shuffled');
  t.same(epochOrder(1, 0, count), order, 'same seed and epoch, same order');
  t.notSame(epochOrder(1, 1, count), order, 'another epoch, another order');
  t.notSame(epochOrder(2, 0, count), order, 'another seed, another order');

  const batches = new BatchOrder(1, 4, count);
  for (const epoch of [0, 1, 2]) {
    const seen = [0, 1, 2].flatMap((s) => [...batches.indices(epoch * 3 + s)]);
    t.same(seen, [...epochOrder(1, epoch, count)], `epoch ${epoch}: its permutation, each index once`);
  }
  // A resumed run starts a fresh BatchOrder mid-epoch: it must draw the same batch.
  t.same(new BatchOrder(1, 4, count).indices(4), batches.indices(4));
  // A batch past the end of an epoch wraps to the start of the same epoch's order.
  const perm = epochOrder(1, 0, 10);
  t.same([...new BatchOrder(1, 4, 10).indices(2)], [perm[8], perm[9], perm[0], perm[1]]);
});

t.test('a few steps in-process: weights, optimiser, average and manifest move together', async (t) => {
  const opts = tiny(path.join(tempDir(t, 'glow-serve-trainer-'), 'run'));
  const trainer = await Trainer.create(opts);
  t.teardown(() => trainer.close());
  t.match(opts.lines[0], /^new 2-level model, depth 1, hidden 8, additive coupling: \d+ parameters$/);
  const before = weights(trainer);
  await trainer.run({ ...RUN, steps: 3 });
  t.equal(trainer.manifest.steps, 3);
  t.equal(trainer.manifest.imagesSeen, 24);
  t.equal(trainer.adam.step, 3);
  t.equal(trainer.polyak?.updates, 3);
  t.ok(Number.isFinite(trainer.emaBpd), `train bpd ${trainer.emaBpd}`);
  const name = 'levels.0.steps.0.coupling.conv1.kernel';
  t.not(weights(trainer).get(name)![0], before.get(name)![0], 'the weights moved');
  t.match(opts.lines.at(-1), /^checkpoint \(end of run\): .* at step 3$/);
  const manifest = JSON.parse(readFileSync(path.join(opts.out, 'manifest.json'), 'utf8'));
  t.match(manifest.training, {
    batch: 8,
    lr: 1e-3,
    warmup: 2,
    clip: 50,
    seed: 1,
    lrScale: 1,
    skippedSteps: 0,
    history: [],
    polyak: 0.999,
    polyakUpdates: 3,
  });

  // A stop request: no further step, and the checkpoint says why it was made.
  trainer.requestStop();
  await trainer.run({ ...RUN, steps: 10 });
  t.equal(trainer.manifest.steps, 3);
  t.match(opts.lines.at(-1), /^checkpoint \(stop requested\)/);
});

t.test('a resumed trainer continues exactly as one that never stopped', async (t) => {
  const dir = tempDir(t, 'glow-serve-trainer-');
  const decay = { start: 1, steps: 2, to: 0.5 };
  const files = (d: string) => ['weights.safetensors', 'training-state.safetensors'].map((f) => readFileSync(path.join(d, f)));

  const straight = await Trainer.create(tiny(path.join(dir, 'straight'), { decay }));
  await straight.run({ ...RUN, steps: 4 });
  await straight.close();

  const first = await Trainer.create(tiny(path.join(dir, 'stopped'), { decay }));
  await first.run({ ...RUN, steps: 2 });
  await first.close();
  t.notOk(files(path.join(dir, 'straight'))[0].equals(files(path.join(dir, 'stopped'))[0]), 'two steps apart, the weights differ');
  // No decay or warm-up given: the schedule comes from the manifest.
  const opts = tiny(path.join(dir, 'stopped'), { resume: true, warmup: undefined });
  const resumed = await Trainer.create(opts);
  t.teardown(() => resumed.close());
  t.match(opts.lines[0], /^resumed .* at step 2 \(16 images seen, test bpd n\/a\)$/);
  t.same(resumed.training.decay, decay);
  t.equal(resumed.adam.step, 2);
  t.equal(resumed.polyak?.updates, 2);
  await resumed.run({ ...RUN, steps: 4 });

  const [a, b] = [files(path.join(dir, 'straight')), files(path.join(dir, 'stopped'))];
  t.ok(a[0].equals(b[0]), 'weights: identical bytes');
  t.ok(a[1].equals(b[1]), 'training state: identical bytes');
  await t.rejects(Trainer.create(tiny(path.join(dir, 'straight'))), /already holds a checkpoint/);
});

t.test('resumed with --lr and --warmup: a new cycle warms up from the resumed step', async (t) => {
  const dir = tempDir(t, 'glow-serve-trainer-');
  const first = await Trainer.create(tiny(dir));
  await first.run({ ...RUN, steps: 3 });
  await first.close();
  const opts = tiny(dir, { resume: true, lr: 5e-4, warmup: 10 });
  const resumed = await Trainer.create(opts);
  t.teardown(() => resumed.close());
  t.equal(resumed.training.warmupFrom, 3);
  t.equal(resumed.training.warmup, 10);
  t.ok(opts.lines.some((l) => l === 'learning rate: warming up again over 10 steps from step 3'));
  t.ok(close(learningRate(resumed.training, 3), 5e-5), 'the first step of the cycle: a tenth of the new peak');
  await resumed.run({ ...RUN, steps: 4 });
  await resumed.close();
  const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
  t.equal(manifest.training.warmupFrom, 3, 'stored, so a later resume keeps the same schedule');
});

t.test('grown from a checkpoint with changes: a deeper affine model with a scale floor, from an additive one', async (t) => {
  const dir = tempDir(t, 'glow-serve-trainer-');
  const source = await Trainer.create(tiny(path.join(dir, 'additive')));
  await source.run({ ...RUN, steps: 2 });
  await source.close();
  const opts = tiny(path.join(dir, 'affine'), {
    growFrom: path.join(dir, 'additive'),
    model: { levels: 2, depth: 2, hidden: 8, coupling: 'additive', nBits: 8 },
    growChanges: { coupling: 'affine', minScale: 0.5 },
  });
  const grown = await Trainer.create(opts);
  t.teardown(() => grown.close());
  t.match(opts.lines[0], /^grew .* \(depth 1, step 2, test bpd null\) to depth 2, affine coupling \(scale floor 0\.5\): \d+ parameters$/);
  t.match(grown.manifest.config, { coupling: 'affine', minScale: 0.5, depth: 2 });
  t.match(grown.manifest.grownFrom, { depth: 1, steps: 2 });
  await grown.run({ ...RUN, steps: 2 });
  t.ok(Number.isFinite(grown.emaBpd), `it trains: train bpd ${grown.emaBpd}`);
  const manifest = JSON.parse(readFileSync(path.join(opts.out, 'manifest.json'), 'utf8'));
  t.match(manifest.config, { coupling: 'affine', minScale: 0.5 }, 'the checkpoint records the new config');
});

t.test('the NaN guard: a non-finite loss or gradient skips the update and halves the learning rate', async (t) => {
  const opts = tiny(path.join(tempDir(t, 'glow-serve-trainer-'), 'run'));
  const trainer = await Trainer.create(opts);
  t.teardown(() => trainer.close());
  const { loss, grads } = await trainer.gradients(0);
  t.ok(Number.isFinite(loss));
  const before = weights(trainer);
  const unchanged = () => [...weights(trainer)].every(([name, w]) => w.every((v, i) => v === before.get(name)![i]));

  t.equal(trainer.update(0, NaN, grads), false, 'NaN loss: skipped');
  t.equal(trainer.training.lrScale, 0.5);
  t.match(opts.lines.at(-1), /^step 0: non-finite loss\/gradient \(loss NaN, .*\); skipped, learning-rate scale now 0\.5$/);
  const bad = new Map(grads);
  const [firstName, g] = [...grads][0];
  bad.set(
    firstName,
    Float32Array.from(g, (v, i) => (i === 0 ? Infinity : v)),
  );
  t.equal(trainer.update(0, loss, bad), false, 'infinite gradient: skipped');
  t.equal(trainer.training.lrScale, 0.25);
  t.equal(trainer.training.skippedSteps, 2);
  t.equal(trainer.adam.step, 0, 'the optimiser did not step');
  t.equal(trainer.polyak?.updates, 0, 'nor the average');
  t.ok(Number.isNaN(trainer.emaBpd), 'the train loss average ignores skipped steps');
  t.ok(unchanged(), 'the weights are untouched');

  // The next good step runs at the halved rate: Adam's first step moves a weight by at most the rate.
  t.equal(trainer.update(0, loss, grads), true);
  t.equal(trainer.adam.step, 1);
  const rate = 1e-3 * 0.25 * 0.5; // peak × lrScale × warm-up at step 0 of 2
  let largest = 0;
  for (const [name, w] of weights(trainer))
    for (let i = 0; i < w.length; i++) largest = Math.max(largest, Math.abs(w[i] - before.get(name)![i]));
  t.ok(largest > rate * 0.99 && largest < rate * 1.01, `largest change ${largest} ≈ ${rate}`);
});
