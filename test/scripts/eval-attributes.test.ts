// The avatars attribute pipeline end to end on a tiny untrained Glow: directions from labelled
// faces (scripts/attributes-avatars.ts), then the ground-truth manipulation eval (scripts/eval-attributes.ts).
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import t from 'tap';
import { loadBuiltinAttributes, weightsFingerprint } from '../../src/attributes/builtin.ts';
import { ATTRIBUTE_NAMES } from '../../src/data/avatars/attributes.ts';
import { avatarOptions } from '../../src/data/avatars/options.ts';
import { renderAvatars } from '../../src/data/avatars/render.ts';
import { splitSeeds } from '../../src/data/avatars/splits.ts';
import {
  edit,
  fitDirection,
  meanPixelDifference,
  parseAlphas,
  pixelArithmetic,
  pixelEdit,
  renderPairs,
  score,
  styleFloor,
} from '../../src/eval/manipulation.ts';
import { initBackend } from '../../src/backend/backend.ts';
import { encodePixels } from '../../src/eval/latents.ts';
import { saveCheckpoint } from '../../src/glow/checkpoint.ts';
import { Glow, type GlowConfig } from '../../src/glow/glow.ts';
import { toModelUnits } from '../../src/glow/pixels.ts';
import { decodePng } from '../fixtures/app.ts';

const run = promisify(execFile);
const dir = mkdtempSync(path.join(os.tmpdir(), 'glow-eval-attributes-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const env = { ...process.env, GLOW_BACKEND: 'wasm', GLOW_WASM_THREADS: '1', GLOW_CACHE_DIR: path.join(dir, 'cache') };

t.test('score: 0 when A′ is B, 1 when A′ is A', async (t) => {
  const pairs = await renderPairs('eyeglasses', 'validation', 3, 32);
  t.same(score(pairs.with, pairs), { ratio: 0, inside: 0, outside: 0, improved: 1 });
  t.same(score(pairs.without, pairs), { ratio: 1, inside: 1, outside: 0, improved: 0 });
  // A′ = A with one pixel changed where A and B agree: all of the extra error is outside the region.
  const edited = pairs.without.slice();
  let k = 0;
  while ([0, 1, 2].some((c) => pairs.without[k + c] !== pairs.with[k + c])) k += 3;
  edited[k] = pairs.without[k] < 128 ? pairs.without[k] + 90 : pairs.without[k] - 90;
  const den = pairs.without.reduce((sum, v, i) => sum + Math.abs(v - pairs.with[i]), 0);
  const s = score(edited, pairs);
  t.equal(s.inside, 1);
  t.ok(Math.abs(s.outside - 90 / den) < 1e-12 && Math.abs(s.ratio - (1 + 90 / den)) < 1e-12, `outside ${s.outside} = 90 / ${den}`);
  // Hats come in 7 styles and colours, and B draws one at random: even a perfect edit cannot expect 0.
  const hats = await renderPairs('hat', 'validation', 3, 32);
  const floor = await styleFloor(hats);
  t.ok(floor > 0.2 && floor < 1, `hat floor ${floor}`);
  t.equal(await styleFloor(hats), floor, 'deterministic');
  for (const name of ['smiling', 'eyeglasses', 'beard'])
    t.equal(await styleFloor(await renderPairs(name, 'validation', 3, 32)), 0, `one ${name} style: a perfect edit can reach B`);
  // Pixel arithmetic: one pair's own difference takes it exactly to B; on other faces, α = 0 is A.
  const one = {
    ...pairs,
    seeds: pairs.seeds.subarray(0, 1),
    without: pairs.without.subarray(0, 32 * 32 * 3),
    with: pairs.with.subarray(0, 32 * 32 * 3),
  };
  t.equal(score(pixelEdit(one, meanPixelDifference(one), 1), one).ratio, 0, 'A + (B − A) is B');
  t.same(pixelEdit(pairs, meanPixelDifference(one), 0), pairs.without, 'α = 0 leaves A');
  const baseline = pixelArithmetic(pairs, pairs, [0, 0.5, 1]);
  t.ok(
    baseline.alpha > 0 && baseline.validation.ratio < 1,
    `glasses drawn by pixel arithmetic: ${baseline.validation.ratio} at α ${baseline.alpha}`,
  );
  t.same(baseline.test, baseline.validation, 'scored on the same pairs, the same figures');
  t.same(parseAlphas('0:1:0.25'), [0, 0.25, 0.5, 0.75, 1]);
  t.same(parseAlphas('0.5, 2'), [0.5, 2]);
  t.throws(() => parseAlphas('1:0:0.5'));
  t.throws(() => parseAlphas('a,b'));
});

t.test('fitDirection: the fitted direction takes the training pairs closer to B than the direction it started from', async (t) => {
  await initBackend('cpu');
  const glow = new Glow({ height: 32, width: 32, channels: 3, levels: 3, depth: 1, hidden: 8, coupling: 'additive', nBits: 8, seed: 5 });
  const pairs = await renderPairs('eyeglasses', 'train', 6, 32);
  const x = toModelUnits(pairs.without, [6, 32, 32, 3], 8);
  glow.initialize(x);
  x.dispose();
  const start = new Float32Array(glow.latentDim);
  const losses: number[] = [];
  const eps = await encodePixels(glow, pairs.without, 6);
  const before = score(await edit(glow, eps, start, 1), pairs).ratio; // also fills the inverse-weight caches
  const tensors = tf.memory().numTensors;
  const fitted = await fitDirection(glow, pairs, start, { steps: 30, lr: 0.05, batch: 6, seed: 1 }, (_, loss) => losses.push(loss));
  t.equal(losses.length, 30);
  t.ok(losses[29] < losses[0], `batch error ${losses[0]} → ${losses[29]} grey levels`);
  const after = score(await edit(glow, eps, fitted, 1), pairs).ratio;
  t.equal(before, 1, 'the zero direction leaves A');
  t.ok(after < 0.9, `ratio on the pairs it was fitted to: ${after}`);
  t.equal(tf.memory().numTensors, tensors, 'no tensors leak');
  glow.dispose();
});

t.test('directions from labelled faces, then the eval reports finite ratios for every attribute', async (t) => {
  await initBackend('cpu');
  const config: GlowConfig = { height: 32, width: 32, channels: 3, levels: 3, depth: 1, hidden: 8, coupling: 'affine', nBits: 8, seed: 3 };
  const glow = new Glow(config);
  const n = 16;
  const x = toModelUnits(await renderAvatars([...splitSeeds('train', n)].map(avatarOptions)), [n, 32, 32, 3], 8);
  glow.initialize(x);
  x.dispose();
  const modelDir = path.join(dir, 'model');
  await saveCheckpoint(modelDir, glow, {
    name: 'tiny-avatars',
    dataset: 'avatars',
    config,
    steps: 0,
    imagesSeen: 0,
    testBpd: null,
    date: new Date(0).toISOString(),
    backend: tf.getBackend(),
  });
  glow.dispose();

  const out = path.join(dir, 'out');
  const attr = await run(
    process.execPath,
    [
      '--import',
      'tsx',
      'scripts/attributes-avatars.ts',
      '--model',
      modelDir,
      '--images',
      '80',
      '--strips',
      out,
      '--strip-images',
      '2',
      '--steps',
      '3',
    ],
    { env },
  );
  t.match(attr.stdout, /wrote .*attributes\.safetensors: 6 attributes/);
  const { attributes, warnings } = await loadBuiltinAttributes(
    modelDir,
    32 * 32 * 3,
    await weightsFingerprint(path.join(modelDir, 'weights.safetensors')),
  );
  t.same(warnings, []);
  t.same([...attributes.keys()].sort(), [...ATTRIBUTE_NAMES].sort());
  for (const a of attributes.values()) {
    t.ok(a.positive > 0 && a.negative > 0, `${a.name}: ${a.positive} vs ${a.negative}`);
    t.ok(a.norm > 0 && Number.isFinite(a.norm));
  }
  t.ok(attributes.get('blond-hair')!.positive + attributes.get('blond-hair')!.negative < 80, 'hair directions leave out faces with hats');

  const ev = await run(
    process.execPath,
    [
      '--import',
      'tsx',
      'scripts/eval-attributes.ts',
      '--model',
      modelDir,
      '--seeds',
      '6',
      '--val-seeds',
      '4',
      '--alphas',
      '0:1:0.5',
      '--out',
      out,
      '--strip-rows',
      '2',
      '--pass-sizes',
      '0.25,0.5',
      '--fit-pairs',
      '4',
      '--fit-steps',
      '2',
    ],
    { env },
  );
  t.match(
    ev.stdout,
    /\| attribute \| α \(validation\) \| ratio, validation \| ratio, test \|.*\| in passes: ratio, test \| fitted direction, test \|/,
  );
  const report = JSON.parse(readFileSync(path.join(out, 'tiny-avatars-eval.json'), 'utf8'));
  t.equal(report.testSeeds, 6);
  t.same(
    report.results.map((r: { attribute: string }) => r.attribute),
    ATTRIBUTE_NAMES,
  );
  for (const r of report.results) {
    t.ok(Number.isFinite(r.testRatio) && r.testRatio >= 0, `${r.attribute}: test ratio ${r.testRatio}`);
    t.ok(Math.abs(r.testInside + r.testOutside - r.testRatio) < 1e-9, `${r.attribute}: inside + outside = ratio`);
    t.ok(r.styleFloor >= 0 && r.styleFloor < 1, `${r.attribute}: floor ${r.styleFloor}`);
    t.ok(
      r.pixelArithmetic.testRatio >= 0 && r.pixelArithmetic.testRatio <= 1,
      `${r.attribute}: pixel arithmetic ${r.pixelArithmetic.testRatio}`,
    );
    t.ok(
      Number.isFinite(r.validationRatio) && r.validationRatio <= 1 + 1e-9,
      `${r.attribute}: validation ratio ${r.validationRatio} (α = 0 gives 1)`,
    );
    t.ok([0, 0.5, 1].includes(r.alpha));
    t.ok(
      r.fitted.pairs === 4 && r.fitted.steps === 2 && Number.isFinite(r.fitted.testRatio) && r.fitted.validationRatio <= 1 + 1e-9,
      `${r.attribute}: fitted ${JSON.stringify(r.fitted)}`,
    );
    t.equal(r.curve.length, 3);
    const p = r.inPasses;
    t.ok(
      [0.25, 0.5].includes(p.passSize) && [0.5, 1].includes(p.alpha) && Math.abs(p.passes * p.passSize - p.alpha) < 1e-9,
      `${r.attribute}: in passes ${JSON.stringify({ ...p, curves: undefined })}`,
    );
    t.ok(
      Number.isFinite(p.validationRatio) && Math.abs(p.testInside + p.testOutside - p.testRatio) < 1e-9,
      `${r.attribute}: in passes, inside + outside = ratio`,
    );
    t.same(
      p.curves.map((c: { passSize: number; curve: { alpha: number }[] }) => [c.passSize, c.curve.map((x) => x.alpha)]),
      [
        [0.25, [0.5, 1]],
        [0.5, [0.5, 1]],
      ],
      'each pass size scored at the αs of the grid it reaches',
    );
    const strip = await decodePng(readFileSync(path.join(out, `tiny-avatars-eval-${r.attribute}.png`)));
    t.equal(strip.width, 4 * 96 + 5 * 2 * 3, 'columns A, A′ in one pass, A′ in passes, B');
  }
  t.equal(readdirSync(out).filter((f) => f.endsWith('.png')).length, 12, '6 direction strips + 6 eval strips');

  // Asking for a direction the model does not have is an error that says what to run.
  await t.rejects(
    run(
      process.execPath,
      ['--import', 'tsx', 'scripts/eval-attributes.ts', '--model', modelDir, '--attributes', 'moustache', '--out', out],
      { env },
    ),
    /unknown attribute "moustache"/,
  );
});
