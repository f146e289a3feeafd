// The checkpoints the server ships (every directory in models/): each loads, reconstructs real test
// images of its dataset, and its bits/dim on a fixed slice of the test set matches the figure
// written into its manifest.
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import { batchPixels } from '../../src/data/dataset.ts';
import { loadDataset } from '../../src/data/datasets.ts';
import { initBackend } from '../../src/backend/backend.ts';
import { loadCheckpoint } from '../../src/glow/checkpoint.ts';
import { toModelUnits } from '../../src/glow/pixels.ts';
import { evaluateBpd, formatOutliers, outliers } from '../../src/train/evaluate.ts';

/** Test bpd a trained checkpoint must be under (an untrained one is at about 8). */
const TRAINED: Record<string, number> = { mnist: 2, avatars: 4 };

const dirs = readdirSync('models')
  .map((d) => path.join('models', d))
  .filter((d) => existsSync(path.join(d, 'manifest.json')));
t.ok(dirs.includes(path.join('models', 'mnist')), 'models/mnist, the default model, is committed');
await initBackend();

for (const dir of dirs) {
  t.test(dir, async (t) => {
    const { glow, manifest } = await loadCheckpoint(dir);
    t.teardown(() => glow.dispose());
    const test = loadDataset(manifest.dataset, 'test');
    const { height, width, channels } = manifest.config;

    t.test('manifest describes a trained model of its dataset', async (t) => {
      t.same([height, width, channels], [test.height, test.width, test.channels]);
      t.ok(manifest.steps > 0, `${manifest.steps} training steps`);
      t.type(manifest.testBpd, 'number', 'test bpd is recorded');
      t.equal(manifest.testImages, test.count, `measured on the whole test split (${test.count} images)`);
      const bound = TRAINED[manifest.dataset] ?? 4;
      t.ok(manifest.testBpd! < bound, `test bpd ${manifest.testBpd} < ${bound}: a trained model's, not an untrained one's (~8)`);
    });

    t.test('reconstructs test images to within 1e-4', async (t) => {
      const n = 64;
      const x = toModelUnits(
        batchPixels(
          test,
          Array.from({ length: n }, (_, i) => (i * 37) % test.count),
        ),
        [n, height, width, channels],
        manifest.config.nBits,
      );
      const err = tf.tidy(() => tf.max(tf.abs(tf.sub(glow.decode(glow.encode(x).eps), x))).dataSync()[0]);
      t.ok(err <= 1e-4, `max |decode(encode(x)) − x| = ${err.toExponential(2)}`);
      x.dispose();
    });

    t.test('bits/dim on the fixed test slice matches the manifest', async (t) => {
      const slice = manifest.testSlice as { images: number; bpd: number };
      t.ok(slice, 'the manifest records a slice figure (npm run eval -- --write)');
      const { bpd, perImage } = await evaluateBpd(glow, test, { limit: slice.images });
      t.ok(Math.abs(bpd - slice.bpd) <= 0.02, `${bpd.toFixed(4)} vs ${slice.bpd} on ${slice.images} images`);
      // The per-image figures are the ones averaged, and the outliers come from them.
      t.equal(perImage.length, slice.images);
      t.ok(Math.abs(perImage.reduce((a, b) => a + b, 0) / perImage.length - bpd) < 1e-9, 'bpd is the mean of the per-image figures');
      const { median, worst } = outliers(perImage, 3);
      t.same(
        worst.map((w) => w.index),
        [...perImage.keys()].sort((a, b) => perImage[b] - perImage[a]).slice(0, 3),
        'the worst images, worst first',
      );
      t.ok(worst[0].bpd >= median && median > 0, `median ${median.toFixed(4)}, worst ${formatOutliers(worst)}`);
    });
  });
}
