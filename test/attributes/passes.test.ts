import t from 'tap';
import { editInPasses, type PassModel } from '../../src/attributes/passes.ts';
import { edit, glowPasses } from '../../src/eval/manipulation.ts';
import { decodeLatents, encodePixels } from '../../src/eval/latents.ts';
import { addScaled } from '../../src/attributes/vectors.ts';
import { initBackend } from '../../src/backend/backend.ts';
import { Glow } from '../../src/glow/glow.ts';
import { toModelUnits } from '../../src/glow/pixels.ts';

/** A "model" whose latent is the image itself: decoding rounds to 8 bits, as the real one does. */
function identityModel() {
  const calls = { decode: 0, encode: 0 };
  const model: PassModel<{ pixels: Uint8Array }> = {
    decode: async (latents) => {
      calls.decode++;
      return latents.map((z) => ({ pixels: Uint8Array.from(z, (v) => Math.max(0, Math.min(255, Math.round(v)))) }));
    },
    encode: async (images) => {
      calls.encode++;
      return images.map((im) => Float64Array.from(im));
    },
  };
  return { model, calls };
}

t.test('editInPasses: small moves snap back at every pass, large ones add up', async (t) => {
  const eps = [Float64Array.from([100, 100, 100]), Float64Array.from([10, 20, 30])];
  // Component 0 moves 0.4 per pass (rounded away each time), component 1 moves 2 per pass, component 2 −3.
  const direction = Float32Array.from([0.4, 2, -3]);
  const terms = eps.map(() => [{ alpha: 4, vector: direction }]);

  const one = identityModel();
  const single = await editInPasses(one.model, eps, terms, 1);
  t.same([...single.decoded[0].pixels], [102, 108, 88], 'one pass: decode(ε + α·d), the small move survives rounding');
  t.same([...single.latents[1]], [11.6, 28, 18].map(Math.fround));
  t.same(one.calls, { decode: 1, encode: 0 });

  const four = identityModel();
  const seen: number[] = [];
  const passed = await editInPasses(four.model, eps, terms, 4, (pass, decoded) => {
    seen.push(pass);
    t.equal(decoded.length, 2);
  });
  t.same([...passed.decoded[0].pixels], [100, 108, 88], 'four passes: 0.4 a pass rounds away, the rest is the same');
  t.same([...passed.decoded[1].pixels], [10, 28, 18]);
  t.same(seen, [1, 2, 3, 4]);
  t.same(four.calls, { decode: 4, encode: 3 }, 'no encode after the last pass');
  t.same([...passed.latents[0]], [100.4, 108, 88].map(Math.fround), 'the latents the last images were decoded from');

  // Several edits per latent, one row of terms per latent (a strip).
  const two = await editInPasses(
    identityModel().model,
    [eps[1], eps[1]],
    [
      [
        { alpha: 1, vector: direction },
        { alpha: 1, vector: direction },
      ],
      [],
    ],
    2,
  );
  t.same([...two.decoded[0].pixels], [10, 24, 24], 'both edits add up; 0.4 a pass still rounds away');
  t.same([...two.decoded[1].pixels], [10, 20, 30], 'no terms: the image itself');

  await t.rejects(editInPasses(one.model, eps, terms, 0), /whole number ≥ 1/);
  await t.rejects(editInPasses(one.model, eps, terms, 1.5), /whole number ≥ 1/);
  await t.rejects(editInPasses(one.model, eps, terms.slice(1), 2), /1 edits for 2 latents/);
});

t.test('on a Glow: one pass is the plain edit, and α = 0 in any number of passes gives the image back', async (t) => {
  await initBackend('cpu');
  const glow = new Glow({ height: 8, width: 8, channels: 3, levels: 2, depth: 2, hidden: 8, coupling: 'additive', nBits: 8, seed: 11 });
  const n = 4;
  const pixels = Uint8Array.from({ length: n * 8 * 8 * 3 }, (_, i) => (i * 37 + (i >> 5) * 11) % 256);
  const x = toModelUnits(pixels, [n, 8, 8, 3], 8);
  glow.initialize(x);
  x.dispose();
  const eps = await encodePixels(glow, pixels, n);
  const d = Float32Array.from({ length: glow.latentDim }, (_, i) => Math.sin(i));
  t.same(
    await edit(glow, eps, d, 0.5, n, 1),
    await decodeLatents(
      glow,
      eps.map((e) => addScaled(e, [{ alpha: 0.5, vector: d }])),
      n,
    ),
    'passes = 1 is the plain edit: decode(ε + α·d)',
  );
  t.same(await edit(glow, eps, d, 0, n, 3), pixels, 'three passes of nothing: the images exactly (the round trip is exact)');
  const three = await edit(glow, eps, d, 0.5, n, 3);
  t.notSame(three, pixels, 'a real edit changes the images');
  // Pass by pass by hand: decode, encode the 8-bit images, add the next third.
  const model = glowPasses(glow, n);
  let current = eps;
  let images: Uint8Array[] = [];
  for (let p = 0; p < 3; p++) {
    images = (await model.decode(current.map((e) => e.map((v, i) => v + (0.5 / 3) * d[i])))).map((o) => o.pixels);
    current = await model.encode(images);
  }
  t.same(three, Uint8Array.from(images.flatMap((im) => [...im])), 'edit(…, passes) = decode and encode in turn');
  glow.dispose();
});
