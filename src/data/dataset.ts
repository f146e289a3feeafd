// What a dataset is: the images of one split in memory (Dataset), and the module that provides them
// (DatasetSource). Each dataset is one DatasetSource in a file of its own, listed in datasets.ts.

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

/** One dataset, as the trainer and the evaluation scripts reach it through loadDataset(name, split). */
export interface DatasetSource {
  /** What --dataset and a checkpoint's manifest call it. */
  name: string;
  /** A whole split in memory; a generated dataset makes and caches a missing split first. */
  load(split: Split): Dataset;
  /** Generated datasets: makes the split in this process, so that load() generates nothing. */
  prepare?(split: Split): Promise<void>;
}

/** Pixels of images [start, start + n) of a dataset, or of the given indices. */
export function batchPixels(ds: Dataset, indices: ArrayLike<number>): Uint8Array {
  const size = ds.height * ds.width * ds.channels;
  const out = new Uint8Array(indices.length * size);
  for (let i = 0; i < indices.length; i++) out.set(ds.images.subarray(indices[i] * size, (indices[i] + 1) * size), i * size);
  return out;
}
