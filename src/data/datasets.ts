// The datasets the trainer, the evaluation scripts and the tests know by name. Adding one: a file
// exporting a DatasetSource (src/data/dataset.ts; like mnist.ts, or avatars/dataset.ts for a generated
// one), listed in SOURCES below.
import { avatars, avatars64 } from './avatars/dataset.ts';
import type { Dataset, DatasetSource, Split } from './dataset.ts';
import { fashionMnist, mnist } from './mnist.ts';

const SOURCES: readonly DatasetSource[] = [mnist, fashionMnist, avatars, avatars64];

export const DATASETS: readonly string[] = SOURCES.map((s) => s.name);

function source(name: string): DatasetSource {
  const found = SOURCES.find((s) => s.name === name);
  if (!found) throw new Error(`unknown dataset "${name}" (known: ${DATASETS.join(', ')})`);
  return found;
}

/**
 * Makes sure loadDataset can read the splits without generating anything: generates and caches
 * the avatars splits in this process (a no-op for the MNISTs, whose files are installed).
 */
export async function prepareDataset(name: string, splits: Split[] = ['train', 'test']): Promise<void> {
  const dataset = source(name);
  if (dataset.prepare) for (const split of splits) await dataset.prepare(split);
}

/** A whole split in memory. Generated datasets come from their disk cache, made on first use (see prepareDataset). */
export function loadDataset(name: string, split: Split): Dataset {
  return source(name).load(split);
}
