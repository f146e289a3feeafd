// scripts/train.ts end to end on a tiny model: a run stopped and resumed ends with exactly the
// weights of a run that never stopped (data order, noise, Adam state and the learning-rate
// schedule all continue), and a finished run refuses to be overwritten.
import { execFile, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { decodeSafetensors } from '../../src/glow/safetensors.ts';
import { tempDir } from '../fixtures/app.ts';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');
const TINY = [
  '--levels',
  '2',
  '--depth',
  '1',
  '--hidden',
  '8',
  '--batch',
  '8',
  '--init-images',
  '64',
  '--eval-every',
  '1000000',
  '--skip-final-eval',
  '--backend',
  'cpu',
];

async function train(...args: string[]): Promise<string> {
  // --warmup given with --resume starts a new warm-up, so a resumed run gets it only where a test says so.
  const warmup = args.includes('--resume') ? [] : ['--warmup', '2'];
  const { stdout } = await run(process.execPath, ['--import=tsx', 'scripts/train.ts', ...TINY, ...warmup, ...args], {
    cwd: ROOT,
    timeout: 120_000,
    env: { ...process.env, ...env },
  });
  return stdout;
}
let env: Record<string, string> = {};

t.test('stop and --resume give the weights of an uninterrupted run, learning-rate decay included', async (t) => {
  const dir = tempDir(t, 'glow-serve-train-');
  const [straight, resumed] = [path.join(dir, 'straight'), path.join(dir, 'resumed')];
  const decay = ['--decay-start', '2', '--decay-steps', '3', '--decay-to', '0.2'];

  const log = await train('--out', straight, '--steps', '6', ...decay);
  t.match(log, /then linearly to 0\.0002 at step 5/);
  await train('--out', resumed, '--dataset', 'mnist', '--steps', '3', ...decay);
  await train('--out', resumed, '--resume', '--steps', '6'); // the schedule comes from the manifest

  const manifest = (d: string) => JSON.parse(readFileSync(path.join(d, 'manifest.json'), 'utf8'));
  t.equal(manifest(resumed).steps, 6);
  // The stable design by default (docs/stability.md).
  t.equal(manifest(straight).config.coupling, 'additive');
  t.same(manifest(straight).config.priorBounds, { mean: 5, logSd: [-10, 5] });
  t.same(manifest(resumed).training.decay, { start: 2, steps: 3, to: 0.2 });
  t.same(manifest(straight).fit, { method: 'digit', box: 20 }, "a new checkpoint names its fit step (its dataset's)");
  t.same(manifest(resumed).fit, manifest(straight).fit, 'and a resumed one keeps it');
  for (const file of ['weights.safetensors', 'training-state.safetensors']) {
    t.ok(readFileSync(path.join(straight, file)).equals(readFileSync(path.join(resumed, file))), `${file}: identical bytes`);
  }
  // Polyak averaging: the weights file holds the average, the training state the raw weights.
  const { tensors } = decodeSafetensors(readFileSync(path.join(straight, 'training-state.safetensors')));
  const weights = decodeSafetensors(readFileSync(path.join(straight, 'weights.safetensors'))).tensors;
  const name = 'levels.0.steps.0.coupling.conv1.kernel';
  t.ok(weights.has(name) && tensors.has(`raw.${name}`), `raw.${name} in the training state`);
  t.not(weights.get(name)!.data[0], tensors.get(`raw.${name}`)!.data[0], 'the shipped weights are the average, not the raw ones');
  t.equal(manifest(straight).training.polyakUpdates, 6);
  await t.rejects(train('--out', straight, '--steps', '7'), /already holds a checkpoint/);

  // A new cycle: --lr, --warmup, --decay-* and --prior-min-sd given with --resume replace the stored ones.
  const cycle = await train(
    '--out',
    resumed,
    '--resume',
    '--steps',
    '7',
    '--lr',
    '5e-4',
    '--warmup',
    '3',
    '--decay-start',
    '6',
    '--decay-steps',
    '4',
    '--decay-to',
    '0.5',
    '--prior-min-sd',
    '1e-3',
  );
  t.match(cycle, /learning rate: 0\.001 replaced by 5e-4/);
  t.match(cycle, /prior σ floor: 0 replaced by 0\.001/);
  t.equal(manifest(resumed).config.priorMinSd, 1e-3, 'the floor is part of the model config');
  t.match(cycle, /then linearly to 0\.00025 at step 10/);
  t.equal(manifest(resumed).steps, 7);
  t.equal(manifest(resumed).training.lr, 5e-4);
  t.same(manifest(resumed).training.decay, { start: 6, steps: 4, to: 0.5 });
  t.match(cycle, /learning rate: warming up again over 3 steps from step 6/);
  t.equal(manifest(resumed).training.warmupFrom, 6);
});

t.test('--resume trains on the dataset of the checkpoint, and refuses another', async (t) => {
  const dir = tempDir(t, 'glow-serve-train-');
  // A few generated faces, cached in the temp dir.
  env = { GLOW_CACHE_DIR: path.join(dir, 'cache'), GLOW_AVATARS_TRAIN: '64', GLOW_AVATARS_TEST: '16' };
  t.teardown(() => void (env = {}));
  const out = path.join(dir, 'faces');
  await train('--dataset', 'avatars', '--out', out, '--steps', '1');
  await train('--out', out, '--resume', '--steps', '2'); // no --dataset: still the faces
  const faces = JSON.parse(readFileSync(path.join(out, 'manifest.json'), 'utf8'));
  t.equal(faces.steps, 2);
  t.same(faces.fit, { method: 'centre-crop' }, "the faces' fit step");
  await t.rejects(train('--out', out, '--resume', '--dataset', 'mnist', '--steps', '3'), /trained on avatars, not mnist/);
});

t.test('--grow-from starts a deeper model from a trained checkpoint, on its dataset', async (t) => {
  const dir = tempDir(t, 'glow-serve-train-');
  const [small, grown] = [path.join(dir, 'small'), path.join(dir, 'grown')];
  await train('--out', small, '--steps', '2', '--depth', '2');
  const log = await train('--grow-from', small, '--out', grown, '--steps', '1', '--depth', '4', '--prior-min-sd', '2e-3');
  t.match(log, /grew .* \(depth 2, step 2, .*\) to depth 4/);
  const manifest = JSON.parse(readFileSync(path.join(grown, 'manifest.json'), 'utf8'));
  t.equal(manifest.config.depth, 4);
  t.equal(manifest.config.priorMinSd, 2e-3, '--prior-min-sd applies to the grown model');
  t.equal(manifest.dataset, 'mnist');
  t.match(manifest.grownFrom, { depth: 2, steps: 2, imagesSeen: 16 });
  t.equal(manifest.steps, 1, 'a new run: its own steps count from 0');
  await t.rejects(
    train('--grow-from', small, '--out', path.join(dir, 'odd'), '--steps', '1', '--depth', '3'),
    /must be a multiple of the checkpoint's depth 2/,
  );
});

t.test('SIGTERM is noticed within a step on the WASM backend: the run saves and exits', async (t) => {
  const out = path.join(tempDir(t, 'glow-serve-train-'), 'stopped');
  const args = [
    ...TINY.slice(0, -2),
    '--backend',
    'wasm',
    '--dataset',
    'mnist',
    '--out',
    out,
    '--time-budget',
    '30s',
    '--checkpoint-every',
    '10m',
  ];
  const child = spawn(process.execPath, ['--import=tsx', 'scripts/train.ts', ...args], {
    cwd: ROOT,
    env: { ...process.env, GLOW_WASM_THREADS: '1' },
  });
  t.teardown(() => void child.kill('SIGKILL'));
  const lines: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      lines.push(line);
      if (/step 50 /.test(line)) resolve();
    });
    child.on('exit', () => reject(new Error(lines.join('\n'))));
  });
  const sent = Date.now();
  child.kill('SIGTERM');
  t.equal(await exited, 0);
  t.ok(Date.now() - sent < 10_000, `exited ${Date.now() - sent} ms after SIGTERM`);
  t.match(lines.join('\n'), /checkpoint \(stop requested\)/);
});
