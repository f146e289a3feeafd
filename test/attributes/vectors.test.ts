import t from 'tap';
import { addScaled, direction, isFloat32, lerpSteps, linspace, mean, norm } from '../../src/attributes/vectors.ts';

const v = (...x: number[]) => Float32Array.from(x);
/** A latent (float64, as the server holds them). */
const l = (...x: number[]) => Float64Array.from(x);

t.test('mean, direction, norm', async (t) => {
  t.same(Array.from(mean([v(1, 2), v(3, 6)])), [2, 4]);
  t.same(Array.from(direction([v(1, 1), v(3, 3)], [v(0, 1)])), [2, 1]);
  t.equal(norm(v(3, 4)), 5);
  t.throws(() => mean([]));
  t.throws(() => mean([v(1), v(1, 2)]));
});

t.test('addScaled is ε + Σ alpha·d and leaves ε alone', async (t) => {
  const eps = l(1, 1);
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

t.test('arithmetic on float32 latents gives float32 values (decoded on the engine); on float64 ones, float64', async (t) => {
  const f32 = l(Math.fround(0.1), 1);
  const f64 = l(0.1, 1);
  const third = v(1 / 3, 0);
  t.ok(isFloat32(addScaled(f32, [{ alpha: 0.7, vector: third }])), 'an edit of a float32 latent');
  t.same(Array.from(addScaled(f64, [{ alpha: 0.7, vector: third }])), [0.1 + 0.7 * Math.fround(1 / 3), 1], 'of a float64 one: float64');
  t.ok(lerpSteps(f32, l(2, 3), 4).every(isFloat32), 'a blend of float32 latents');
  t.notOk(isFloat32(lerpSteps(f32, f64, 3)[1]), 'a blend with a float64 latent');
  t.ok(isFloat32([NaN, 0.5]), 'NaN counts as float32');
});

t.test('lerpSteps and linspace include both ends; odd linspace has an exact 0 middle', async (t) => {
  t.same(
    lerpSteps(l(0, 10), l(1, 20), 3).map((x) => Array.from(x)),
    [
      [0, 10],
      [0.5, 15],
      [1, 20],
    ],
  );
  t.same(linspace(-1, 1, 5), [-1, -0.5, 0, 0.5, 1]);
  t.equal(linspace(-0.7, 0.7, 7)[3], 0);
});
