import t from 'tap';
import { boxWidth, inkMass, medianSplit, slant } from '../../src/attributes/features.ts';

/** A 9×9 image with ink at the given (x, y) points. */
function img(points: [number, number][]): Uint8Array {
  const out = new Uint8Array(81);
  for (const [x, y] of points) out[y * 9 + x] = 255;
  return out;
}

t.test('ink mass, width and slant measure what they say', async (t) => {
  const upright = img([
    [4, 1],
    [4, 2],
    [4, 3],
    [4, 4],
    [4, 5],
    [4, 6],
    [4, 7],
  ]);
  const italic = img([
    [6, 1],
    [6, 2],
    [5, 3],
    [4, 4],
    [3, 5],
    [2, 6],
    [2, 7],
  ]); // top to the right
  const backslash = img([
    [2, 1],
    [2, 2],
    [3, 3],
    [4, 4],
    [5, 5],
    [6, 6],
    [6, 7],
  ]);
  t.equal(inkMass(upright), 7);
  t.equal(boxWidth(upright, 9, 9), 1);
  t.equal(boxWidth(italic, 9, 9), 5);
  t.equal(boxWidth(new Uint8Array(81), 9, 9), 0);
  t.equal(slant(upright, 9, 9), 0);
  t.ok(slant(italic, 9, 9) > 0.3, 'leaning right is positive');
  t.ok(slant(backslash, 9, 9) < -0.3, 'leaning left is negative');
  t.equal(slant(new Uint8Array(81), 9, 9), 0);
});

t.test('median split is per group and drops ties', async (t) => {
  const values = [1, 2, 3, 10, 20, 30, 5];
  const groups = [0, 0, 0, 1, 1, 1, 2];
  const { positive, negative } = medianSplit(values, groups);
  t.same(positive.sort(), [2, 5]);
  t.same(negative.sort(), [0, 3]);
});
