import t from 'tap';
import { toNumbers } from '../../src/server/respond.ts';

t.test('latents as JSON numbers', async (t) => {
  const f32 = Math.fround(0.1);
  const float32s = Float64Array.of(f32, -2.5, Math.fround(1 / 3));
  t.same(JSON.stringify(toNumbers(float32s)), '[0.100000001,-2.5,0.333333343]', 'float32 values: 9 significant digits');
  t.same(
    Float32Array.from(JSON.parse(JSON.stringify(toNumbers(float32s))) as number[]),
    Float32Array.from(float32s),
    'read back as float32: the same bits',
  );
  const precise = Float64Array.of(f32, -2.5, 1 / 3, 7.000000000000001);
  t.same(JSON.stringify(toNumbers(precise)), `[${f32},-2.5,${1 / 3},7.000000000000001]`, 'a float64 latent: every value whole');
  t.same(Float64Array.from(JSON.parse(JSON.stringify(toNumbers(precise))) as number[]), precise, 'read back: the same bits');
  t.same(toNumbers(Float32Array.of(f32)), [0.100000001], 'a float32 vector (an attribute direction)');
});
