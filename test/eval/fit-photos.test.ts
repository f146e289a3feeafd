// Issue #25's measure of fitting, with whatever checkpoint is in models/mnist: MNIST test digits
// rendered as a person's photo would show them (src/eval/digit-photo.ts: dark on light, upscaled
// into a larger frame, off-centre, grey paper with a light gradient, blur, noise, JPEG or PNG),
// sent to POST /encode?fit=true. The fitted image must be close to the digit and the model must
// find it about as likely: median bits/dim gap at most 0.3, at least 90 % of gaps within 1.0.
// Larger samples: scripts/fit-eval.ts (docs/fit.md).
import t from 'tap';
import { existsSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { buildApp } from '../../src/server/app.ts';
import { digitPhoto } from '../../src/eval/digit-photo.ts';
import { decodePng, json } from '../fixtures/app.ts';
import { mnistImage } from '../fixtures/mnist.ts';

const SHIPPED = path.resolve(import.meta.dirname, '../../models/mnist');
// Not the digits the fit's constants were chosen on (test images 0–159).
const FIRST = 1000;
const COUNT = 48;

const median = (a: number[]) => {
  const s = [...a].sort((x, y) => x - y);
  return (s[(s.length - 1) >> 1] + s[s.length >> 1]) / 2;
};

if (!existsSync(path.join(SHIPPED, 'manifest.json'))) {
  t.plan(0, 'no checkpoint in models/mnist');
} else {
  t.test('photos of MNIST digits fitted with POST /encode?fit=true', async (t) => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'glow-fit-photos-'));
    t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
    const app = await buildApp({ config: { modelDir: SHIPPED, dataDir }, waitForModel: true });
    t.teardown(() => app.close());

    const digits = Array.from({ length: COUNT }, (_, k) => mnistImage(FIRST + k));
    const pngs = await Promise.all(
      digits.map((d) =>
        sharp(Buffer.from(d), { raw: { width: 28, height: 28, channels: 1 } })
          .png()
          .toBuffer(),
      ),
    );
    const photos = await Promise.all(digits.map((d, k) => digitPhoto(d, FIRST + k)));
    const encode = async (images: Buffer[], query = '') => {
      const res = await app.inject({
        method: 'POST',
        url: `/encode${query}`,
        ...json({ images: images.map((b) => b.toString('base64')) }),
      });
      t.equal(res.statusCode, 200, `/encode${query}: ${res.statusCode}`);
      return res.json().items as { bpd: number; fitted?: { image: string } }[];
    };
    // The digits exactly as MNIST has them but dark on light, as a person draws: 28×28, nothing else changed.
    const inverted = await Promise.all(
      digits.map((d) =>
        sharp(Buffer.from(d.map((v) => 255 - v)), { raw: { width: 28, height: 28, channels: 1 } })
          .png()
          .toBuffer(),
      ),
    );
    const original = await encode(pngs);
    const fitted = await encode(
      photos.map((p) => p.bytes),
      '?fit=true',
    );
    const unfitted = await encode(photos.map((p) => p.bytes));
    const invertedFitted = await encode(inverted, '?fit=true');
    const invertedUnfitted = await encode(inverted);

    t.test('the fitted photo is close to the digit it shows', async (t) => {
      const mads = await Promise.all(
        fitted.map(async (item, k) => {
          const { pixels } = await decodePng(Buffer.from(item.fitted!.image, 'base64'));
          return pixels.reduce((s, v, i) => s + Math.abs(v - digits[k][i]), 0) / pixels.length;
        }),
      );
      t.comment(
        `mean |fitted − digit| per image, in levels of 255: median ${median(mads).toFixed(2)}, largest ${Math.max(...mads).toFixed(2)}`,
      );
      t.ok(median(mads) < 10, `median ${median(mads).toFixed(2)} < 10`);
      t.ok(Math.max(...mads) < 30, `every image < 30 (largest ${Math.max(...mads).toFixed(2)})`);
    });

    t.test("the model's bits/dim of the fitted photo is close to the digit's", async (t) => {
      const gaps = fitted.map((item, k) => Math.abs(item.bpd - original[k].bpd));
      const within = gaps.filter((g) => g <= 1).length / gaps.length;
      t.comment(
        `bits/dim: digits median ${median(original.map((i) => i.bpd)).toFixed(3)}, fitted photos ${median(fitted.map((i) => i.bpd)).toFixed(3)}, unfitted photos ${median(unfitted.map((i) => i.bpd)).toFixed(3)}`,
      );
      t.comment(`|gap|: median ${median(gaps).toFixed(3)}, within 1.0: ${(within * 100).toFixed(0)} %`);
      t.ok(median(gaps) <= 0.3, `median gap ${median(gaps).toFixed(3)} <= 0.3`);
      t.ok(within >= 0.9, `${(within * 100).toFixed(0)} % within 1.0 (>= 90 %)`);
      // What the fit is for: as they are, the photos are far from the data.
      const rawGaps = unfitted.map((item, k) => item.bpd - original[k].bpd);
      t.ok(median(rawGaps) > 1, `unfitted, the median gap is ${median(rawGaps).toFixed(2)}`);
    });

    t.test('MNIST digits drawn dark on light come back near their own bits/dim', async (t) => {
      const gaps = invertedFitted.map((item, k) => Math.abs(item.bpd - original[k].bpd));
      const within = gaps.filter((g) => g <= 1).length / gaps.length;
      t.comment(
        `|gap|: median ${median(gaps).toFixed(3)}, within 1.0: ${(within * 100).toFixed(0)} %; unfitted: median ${median(invertedUnfitted.map((i) => i.bpd)).toFixed(2)} bits/dim`,
      );
      t.ok(median(gaps) <= 0.3, `median gap ${median(gaps).toFixed(3)} <= 0.3`);
      t.ok(within >= 0.9, `${(within * 100).toFixed(0)} % within 1.0 (>= 90 %)`);
    });
  });
}
