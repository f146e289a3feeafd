import t from 'tap';
import { addScaled, direction, lerpSteps, linspace, mean, norm } from '../../src/attributes/vectors.ts';

const v = (...x: number[]) => Float32Array.from(x);

t.test('mean, direction, norm', async (t) => {
  t.same(Array.from(mean([v(1, 2), v(3, 6)])), [2, 4]);
  t.same(Array.from(direction([v(1, 1), v(3, 3)], [v(0, 1)])), [2, 1]);
  t.equal(norm(v(3, 4)), 5);
  t.throws(() => mean([]));
  t.throws(() => mean([v(1), v(1, 2)]));
});

t.test('addScaled is ε + Σ alpha·d and leaves ε alone', async (t) => {
  const eps = v(1, 1);
  t.same(
    Array.from(
      addScaled(eps, [
        { alpha: 2, vector: v(1, 0) },
        { alpha: -1, vector: v(0, 3) },
      ]),
    ),
    [3, -2],
  );
  t.same(Array.from(eps), [1, 1]);
  t.same(Array.from(addScaled(eps, [{ alpha: 0, vector: v(5, 5) }])), [1, 1]);
});

t.test('lerpSteps and linspace include both ends; odd linspace has an exact 0 middle', async (t) => {
  t.same(
    lerpSteps(v(0, 10), v(1, 20), 3).map((x) => Array.from(x)),
    [
      [0, 10],
      [0.5, 15],
      [1, 20],
    ],
  );
  t.same(linspace(-1, 1, 5), [-1, -0.5, 0, 0.5, 1]);
  t.equal(linspace(-0.7, 0.7, 7)[3], 0);
});
