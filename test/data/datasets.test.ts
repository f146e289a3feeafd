// The registry: every dataset by name, MNIST read from its installed files, and unknown names refused.
import t from 'tap';
import { DATASETS, loadDataset, prepareDataset } from '../../src/data/datasets.ts';

t.test('the datasets by name, in their order', async (t) => {
  t.same(DATASETS, ['mnist', 'fashion-mnist', 'avatars', 'avatars-64']);
});

t.test('mnist: 28×28 grey digits with a class each, train and test only, nothing to prepare', async (t) => {
  await prepareDataset('mnist');
  const test = loadDataset('mnist', 'test');
  t.match(test, { name: 'mnist', split: 'test', count: 10_000, height: 28, width: 28, channels: 1 });
  t.equal(test.images.length, 10_000 * 28 * 28);
  t.equal(test.labels.length, 10_000);
  t.ok(
    test.labels.every((l) => l < 10),
    'classes 0..9',
  );
  t.throws(() => loadDataset('mnist', 'validation'), /mnist has no validation split \(train, test\)/);
});

t.test('an unknown name lists the known ones', async (t) => {
  t.throws(() => loadDataset('celeba', 'train'), /unknown dataset "celeba" \(known: mnist, fashion-mnist, avatars, avatars-64\)/);
  await t.rejects(prepareDataset('celeba'), /unknown dataset "celeba"/);
});
