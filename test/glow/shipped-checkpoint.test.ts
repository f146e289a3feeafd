// The checkpoint the server ships: it loads, reconstructs real MNIST test images, and its
// bits/dim on a fixed slice of the test set matches the figure written into its manifest.
import { existsSync } from 'node:fs';
import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import { batchPixels, loadDataset } from '../../src/data/datasets.ts';
import { initBackend } from '../../src/glow/backend.ts';
import { loadCheckpoint } from '../../src/glow/checkpoint.ts';
import { toModelUnits } from '../../src/glow/pixels.ts';
import { evaluateBpd } from '../../src/train/evaluate.ts';

const dir = 'models/mnist';
if (!existsSync(`${dir}/manifest.json`)) {
  t.fail(`${dir} is missing: the shipped checkpoint must be committed`);
} else {
  await initBackend();
  const { glow, manifest } = await loadCheckpoint(dir);
  const test = loadDataset('mnist', 'test');

  t.test('manifest describes a trained MNIST model', async (t) => {
    t.equal(manifest.dataset, 'mnist');
    t.same([manifest.config.height, manifest.config.width, manifest.config.channels], [28, 28, 1]);
    t.ok(manifest.steps > 0, `${manifest.steps} training steps`);
    t.type(manifest.testBpd, 'number', 'test bpd is recorded');
    t.equal(manifest.testImages, 10000, 'measured on the whole test set');
  });

  t.test('reconstructs MNIST test images to within 1e-4', async (t) => {
    const n = 64;
    const x = toModelUnits(batchPixels(test, Array.from({ length: n }, (_, i) => i * 37)), [n, 28, 28, 1], manifest.config.nBits);
    const err = tf.tidy(() => tf.max(tf.abs(tf.sub(glow.decode(glow.encode(x).eps), x))).dataSync()[0]);
    t.ok(err <= 1e-4, `max |decode(encode(x)) − x| = ${err.toExponential(2)}`);
    x.dispose();
  });

  t.test('bits/dim on the fixed test slice matches the manifest', async (t) => {
    const slice = manifest.testSlice as { images: number; bpd: number };
    t.ok(slice, 'the manifest records a slice figure (npm run eval -- --write)');
    const { bpd } = await evaluateBpd(glow, test, { limit: slice.images });
    t.ok(Math.abs(bpd - slice.bpd) <= 0.02, `${bpd.toFixed(4)} vs ${slice.bpd} on ${slice.images} images`);
    t.ok(manifest.testBpd! < 3, `test bpd ${manifest.testBpd} is a trained model's, not an untrained one's (~8)`);
  });
}
