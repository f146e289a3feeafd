import t from 'tap';
import { latentValue } from '../../src/inference/model-service.ts';
import { toNumbers } from '../../src/server/respond.ts';

t.test('a JSON latent value is the float32 its 9-digit print stands for, or itself', async (t) => {
  const f32 = Float64Array.of(Math.fround(0.1), Math.fround(-1 / 3), 2.5, Math.fround(1e-40));
  t.same(toNumbers(f32).map(latentValue), Array.from(f32), 'float32 values printed by /encode come back as those float32s');
  const f64 = Float64Array.of(0.1, -1 / 3, 7.000000000000001);
  t.same(toNumbers(f64).map(latentValue), Array.from(f64), 'float64 values printed whole stay float64');
  t.equal(latentValue(0.1), 0.1, 'a short decimal typed by hand is not taken for a float32');
});
