import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import { ActNorm } from '../../src/glow/actnorm.ts';
import { initBackend } from '../../src/backend/backend.ts';
import { checkpointFromFiles, loadCheckpoint, readCheckpointFiles, saveCheckpoint, Manifest } from '../../src/glow/checkpoint.ts';
import { Glow, GlowConfig } from '../../src/glow/glow.ts';
import { InvConv2dLU } from '../../src/glow/invconv.ts';
import { identity, invert, luDecompose, matmul, orthogonalFrom } from '../../src/glow/linalg.ts';
import { fromModelUnits, toModelUnits } from '../../src/glow/pixels.ts';
import { normalArray } from '../../src/glow/random.ts';
import { LearnedPrior } from '../../src/glow/prior.ts';
import { Adam } from '../../src/train/adam.ts';
import { randomGlow } from '../fixtures/model.ts';

await initBackend('cpu');

const tiny: GlowConfig = { height: 8, width: 8, channels: 1, levels: 2, depth: 2, hidden: 16, coupling: 'affine', nBits: 8, seed: 3 };

t.test('ActNorm data-dependent init gives zero mean, unit variance per channel, and survives a constant channel', async (t) => {
  const a = new ActNorm(3);
  const data = normalArray(64 * 4 * 4 * 3, 1).map((v, i) => (i % 3 === 2 ? 5 : v * (1 + (i % 3)) + 4 * (i % 3)));
  const x = tf.tensor4d(data, [64, 4, 4, 3]);
  const { y } = a.forward(x);
  const { mean, variance } = tf.moments(y, [0, 1, 2]);
  const m = mean.dataSync();
  const v = variance.dataSync();
  for (const c of [0, 1]) {
    t.ok(Math.abs(m[c]) < 1e-4, `channel ${c} mean ${m[c]}`);
    t.ok(Math.abs(v[c] - 1) < 1e-3, `channel ${c} variance ${v[c]}`);
  }
  t.equal(m[2], 0, 'constant channel is centred');
  t.equal(a.logScale.dataSync()[2], 0, 'constant channel keeps scale 1 (no division by zero)');
  t.ok(Number.isFinite(a.forward(x).logdet.dataSync()[0]), 'log-det stays finite');
});

t.test('LU decomposition reconstructs W, and the 1×1 conv weight is P·L·(U + diag(s))', async (t) => {
  const n = 6;
  const q = orthogonalFrom(Float64Array.from(normalArray(n * n, 9)), n);
  const qtq = matmul(
    Float64Array.from({ length: n * n }, (_, k) => q[(k % n) * n + Math.floor(k / n)]),
    q,
    n,
  );
  t.ok(
    qtq.every((v, k) => Math.abs(v - identity(n)[k]) < 1e-12),
    'the random rotation is orthogonal',
  );
  const { p, l, u } = luDecompose(q, n);
  const back = matmul(p, matmul(l, u, n), n);
  t.ok(
    back.every((v, k) => Math.abs(v - q[k]) < 1e-12),
    'P·L·U = W',
  );
  const inv = invert(q, n);
  t.ok(
    matmul(inv, q, n).every((v, k) => Math.abs(v - identity(n)[k]) < 1e-12),
    'W⁻¹·W = I',
  );

  const conv = new InvConv2dLU(n, 9);
  const w = conv.weight().dataSync();
  t.ok(
    w.every((v, k) => Math.abs(v - q[k]) < 1e-6),
    'the layer starts at the same rotation',
  );
  t.ok(Math.abs(Array.from(conv.logS.dataSync()).reduce((a, b) => a + b, 0)) < 1e-5, 'a rotation has log|det| = 0');
});

t.test('checkpoint save → load is bit-identical and gives the same latents', async (t) => {
  const g = new Glow(tiny);
  const x = tf.randomUniform([4, 8, 8, 1], -0.5, 0.5, 'float32', 1) as tf.Tensor4D;
  g.initialize(x);
  for (const v of g.params.values()) tf.tidy(() => v.assign(tf.add(v, tf.randomNormal(v.shape, 0, 0.05, 'float32', 5))));
  g.weightsChanged();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'glow-ckpt-'));
  const manifest: Manifest = {
    name: 'tiny',
    dataset: 'none',
    config: tiny,
    steps: 7,
    imagesSeen: 28,
    testBpd: null,
    date: new Date().toISOString(),
    backend: 'cpu',
  };
  await saveCheckpoint(dir, g, manifest);
  const { glow: h, manifest: m2 } = await loadCheckpoint(dir);
  t.equal(m2.steps, 7);
  const differing: string[] = [];
  for (const [name, v] of [...g.params, ...g.buffers]) {
    const other = h.params.get(name) ?? h.buffers.get(name);
    if (!other) {
      differing.push(`${name} (missing)`);
      continue;
    }
    const a = new Uint32Array(v.dataSync().buffer.slice(0));
    const b = new Uint32Array(other!.dataSync().buffer.slice(0));
    if (a.some((bits, i) => bits !== b[i])) differing.push(name);
  }
  t.same(differing, [], `all ${g.params.size + g.buffers.size} tensors are bit-identical`);
  const e1 = g.encode(x).eps.dataSync();
  const e2 = h.encode(x).eps.dataSync();
  t.same(Array.from(e2), Array.from(e1), 'same latents after reload');
  // Saving the loaded model again gives the same bytes.
  const dir2 = await mkdtemp(path.join(os.tmpdir(), 'glow-ckpt-'));
  await saveCheckpoint(dir2, h, m2);
  t.ok(
    (await readFile(path.join(dir, 'weights.safetensors'))).equals(await readFile(path.join(dir2, 'weights.safetensors'))),
    'weights file round-trips byte for byte',
  );
  g.dispose();
  h.dispose();
});

t.test('a checkpoint with a wrong shape or missing tensor is refused with a clear error', async (t) => {
  const g = new Glow(tiny);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'glow-ckpt-'));
  await saveCheckpoint(dir, g, {
    name: 't',
    dataset: 'none',
    config: tiny,
    steps: 0,
    imagesSeen: 0,
    testBpd: null,
    date: '',
    backend: 'cpu',
  });
  const manifestPath = path.join(dir, 'manifest.json');
  const m = JSON.parse(await readFile(manifestPath, 'utf8'));
  m.config.hidden = 32;
  await import('node:fs/promises').then((fs) => fs.writeFile(manifestPath, JSON.stringify(m)));
  await t.rejects(loadCheckpoint(dir), /has shape/);
  g.dispose();
});

t.test('a checkpoint read while a trainer saves into it waits for the manifest to match the weights', async (t) => {
  const g = new Glow(tiny);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'glow-ckpt-'));
  const at = (steps: number): Manifest => ({
    name: 't',
    dataset: 'none',
    config: tiny,
    steps,
    imagesSeen: 0,
    testBpd: null,
    date: '',
    backend: 'cpu',
  });
  await saveCheckpoint(dir, g, at(5));
  // Mid-save: the weights of step 6 are in place, the manifest still says step 5 …
  const manifest = await readFile(path.join(dir, 'manifest.json'), 'utf8');
  await saveCheckpoint(dir, g, at(6));
  await writeFile(path.join(dir, 'manifest.json'), manifest);
  const read = readCheckpointFiles(dir);
  // … until the trainer renames the new manifest in.
  await new Promise((r) => setTimeout(r, 300));
  await saveCheckpoint(dir, g, at(6));
  t.equal((await read).manifest.steps, 6, 'the read retried and got one step');
  // Files that never agree are refused by the loader, not returned as a model.
  await writeFile(path.join(dir, 'manifest.json'), manifest);
  await t.rejects(
    async () => checkpointFromFiles(await readCheckpointFiles(dir, 2), dir),
    /weights are from step 6 but the manifest says 5/,
  );
  g.dispose();
});

t.test('sampling is deterministic per seed and differs between seeds', async (t) => {
  const g = new Glow(tiny);
  g.initialize(tf.randomUniform([8, 8, 8, 1], -0.5, 0.5, 'float32', 2) as tf.Tensor4D);
  const a = g.sample(3, 0.7, 42).dataSync();
  const b = g.sample(3, 0.7, 42).dataSync();
  const c = g.sample(3, 0.7, 43).dataSync();
  t.same(Array.from(a), Array.from(b), 'same seed, same images');
  t.notSame(Array.from(a), Array.from(c), 'another seed, other images');
  const zero = g.sample(1, 0, 42);
  t.ok(Number.isFinite(zero.dataSync()[0]), 'temperature 0 gives the mode');
  g.dispose();
});

t.test('pixels → model units → pixels is exact at 8 and 5 bits', async (t) => {
  const pixels = Uint8Array.from({ length: 256 }, (_, i) => i);
  const back8 = await fromModelUnits(toModelUnits(pixels, [1, 16, 16, 1], 8), 8);
  t.same(Array.from(back8), Array.from(pixels));
  const back5 = await fromModelUnits(toModelUnits(pixels, [1, 16, 16, 1], 5), 5);
  t.ok(
    back5.every((v, i) => Math.abs(v - pixels[i]) <= 4),
    '5-bit keeps the top 5 bits',
  );
});

t.test('a few Adam steps on one batch lower the loss', async (t) => {
  const g = new Glow(tiny);
  const x = tf.tensor4d(
    normalArray(16 * 64, 8, 0.15).map((v) => Math.max(-0.5, Math.min(0.5, v))),
    [16, 8, 8, 1],
  );
  g.initialize(x);
  const adam = new Adam(g.params);
  const names = new Map([...g.params].map(([n, v]) => [v.name, n]));
  const losses: number[] = [];
  for (let i = 0; i < 8; i++) {
    const { value, grads } = tf.variableGrads(() => g.loss(x), [...g.params.values()]);
    losses.push(value.dataSync()[0]);
    adam.apply(new Map(Object.entries(grads).map(([k, v]) => [names.get(k)!, v.dataSync() as Float32Array])), 3e-3);
    tf.dispose([value, ...Object.values(grads)]);
  }
  t.ok(losses[7] < losses[0] - 0.05, `loss fell from ${losses[0].toFixed(3)} to ${losses[7].toFixed(3)} bits/dim`);
  g.dispose();
});

t.test("the priors' σ floor: σ' = √(σ² + f²), in ε and in log p, and decode inverts it", async (t) => {
  const prior = new LearnedPrior(2, 0, 0.5);
  const logSd = [...prior.params].find(([n]) => n.endsWith('log_sd'))![1];
  logSd.assign(tf.tensor1d([Math.log(0.1), Math.log(2)]));
  const z = tf.tensor4d([1, -3], [1, 1, 1, 2]);
  const { eps, logp } = prior.standardise(z);
  const sd = [Math.sqrt(0.01 + 0.25), Math.sqrt(4 + 0.25)];
  const want = [1 / sd[0], -3 / sd[1]];
  const got = Array.from(eps.dataSync());
  t.ok(
    got.every((v, i) => Math.abs(v - want[i]) < 1e-5),
    `ε = ${got.map((v) => v.toFixed(4))}, want ${want.map((v) => v.toFixed(4))}`,
  );
  const wantLogp = want.reduce((a, e, i) => a - 0.5 * (e * e + Math.log(2 * Math.PI)) - Math.log(sd[i]), 0);
  t.ok(Math.abs(logp.dataSync()[0] - wantLogp) < 1e-4, `log p = ${logp.dataSync()[0].toFixed(5)}, want ${wantLogp.toFixed(5)}`);
  const back = Array.from(prior.unstandardise(eps).dataSync());
  t.ok(Math.abs(back[0] - 1) < 1e-5 && Math.abs(back[1] + 3) < 1e-5, `unstandardise(ε) = ${back}`);
  t.throws(() => new LearnedPrior(2, 0, -1), /σ floor must be ≥ 0/);
  tf.dispose([z, eps, logp]);
  prior.dispose();
});

t.test("encode conditions each split level's prior on the half that went on as decode rebuilds it", async (t) => {
  const glow = randomGlow(
    { height: 8, width: 8, channels: 1, levels: 3, depth: 2, hidden: 8, coupling: 'affine', nBits: 8, seed: 3 },
    40,
    0.2,
  );
  const x = tf.tensor4d(normalArray(2 * 64, 5, 0.3), [2, 8, 8, 1]);
  const { eps } = glow.encode(x);
  const sizes = glow.epsShapes.map(([h, w, c]) => h * w * c);
  const parts = tf.split(eps, sizes, 1).map((p, i) => p.reshape([2, ...glow.epsShapes[i]]) as tf.Tensor4D);
  // What decode rebuilds as level 0's next half, from the latents of levels 1 and 2.
  const rebuilt = glow.blocks[1].reverse(parts[1], glow.blocks[2].reverse(parts[2]));
  const { z, next } = glow.blocks[0].flow(x);
  const want = glow.blocks[0].prior.standardise(z, rebuilt).eps;
  t.same(Array.from(parts[0].dataSync()), Array.from(want.dataSync()), "level 0's ε: standardised under the rebuilt half, bit for bit");
  const forward = glow.forward(x).eps[0];
  t.notSame(Array.from(forward.dataSync()), Array.from(want.dataSync()), "which is not what training's forward pass gives");
  const gap = tf.max(tf.abs(tf.sub(rebuilt, next!))).dataSync()[0];
  t.ok(gap < 1e-4, `and the rebuilt half is the forward pass's up to rounding (${gap.toExponential(1)})`);
  tf.dispose([x, eps, ...parts, rebuilt, z, next!, want, forward]);
  glow.dispose();
});
