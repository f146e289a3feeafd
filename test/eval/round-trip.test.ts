import * as tf from '@tensorflow/tfjs';
import t from 'tap';
import { roundTrips, describeRoundTrips } from '../../src/eval/round-trip.ts';
import type { Dataset } from '../../src/data/dataset.ts';
import { initBackend } from '../../src/backend/backend.ts';
import { Glow } from '../../src/glow/glow.ts';
import { compareRoundTrip, toModelUnits } from '../../src/glow/pixels.ts';
import { TfjsEngine } from '../../src/inference/engines.ts';
import { tinyConfig } from '../fixtures/model.ts';
import { mnistImage } from '../fixtures/mnist.ts';

t.test('compareRoundTrip: exact, values off, NaN drawn as 0, and bins when nBits < 8', async (t) => {
  const img = Uint8Array.of(0, 10, 200, 255);
  t.same(compareRoundTrip(img, { pixels: Uint8Array.of(0, 10, 200, 255), nonFinite: 0 }, 8), {
    exact: true,
    maxError: 0,
    wrongValues: 0,
    nonFinite: 0,
  });
  t.same(compareRoundTrip(img, { pixels: Uint8Array.of(0, 11, 197, 255), nonFinite: 0 }, 8), {
    exact: false,
    maxError: 3,
    wrongValues: 2,
    nonFinite: 0,
  });
  // A NaN value is drawn as 0: on a black pixel it is not a wrong value, but the image is still not exact.
  t.same(compareRoundTrip(img, { pixels: Uint8Array.of(0, 10, 200, 255), nonFinite: 1 }, 8), {
    exact: false,
    maxError: 0,
    wrongValues: 0,
    nonFinite: 1,
  });
  // 5 bits: 10 and 12 share the bin [8, 16) whose centre is 12; 200 -> 196 + 4.
  t.same(compareRoundTrip(Uint8Array.of(10, 200), { pixels: Uint8Array.of(12, 204), nonFinite: 0 }, 5), {
    exact: true,
    maxError: 0,
    wrongValues: 0,
    nonFinite: 0,
  });
});

t.test('roundTrips over a split: one result per image, in order; a broken model is caught', async (t) => {
  await initBackend('cpu');
  const glow = new Glow(tinyConfig);
  const count = 10;
  const images = new Uint8Array(count * 784);
  for (let i = 0; i < count; i++) images.set(mnistImage(i), i * 784);
  glow.initialize(toModelUnits(images, [count, 28, 28, 1], 8));
  const ds: Dataset = { name: 'mnist', split: 'test', images, labels: new Uint8Array(count), count, height: 28, width: 28, channels: 1 };
  const { trips, maxError } = await roundTrips(new TfjsEngine(glow), tinyConfig, ds, { batch: 4 });
  t.equal(trips.length, count, 'batches of 4, 4, 2');
  t.ok(maxError >= 0 && maxError < 1e-4, `largest error ${maxError} in model units`);
  t.ok(
    trips.every((r) => r.exact),
    describeRoundTrips(trips),
  );
  t.equal(describeRoundTrips(trips), '10 of 10 exact');
  t.equal((await roundTrips(new TfjsEngine(glow), tinyConfig, ds, { limit: 3 })).trips.length, 3);
  // An actnorm scale of e^-800 underflows even float64: the forward loses the image and the reverse overflows.
  glow.blocks[0].steps[0].actnorm.logScale.assign(tf.fill([4], -800));
  const broken = await roundTrips(new TfjsEngine(glow), tinyConfig, ds, { limit: 2 });
  t.ok(
    broken.trips.every((r) => !r.exact && r.nonFinite > 0),
    describeRoundTrips(broken.trips),
  );
  t.notOk(Number.isFinite(broken.maxError), `and the largest error is ${broken.maxError}`);
  glow.dispose();
});

t.test('describeRoundTrips names the images that fail and why', async (t) => {
  const ok = { exact: true, maxError: 0, wrongValues: 0, nonFinite: 0 };
  const trips = [
    ok,
    { exact: false, maxError: 255, wrongValues: 94, nonFinite: 784 },
    ok,
    { exact: false, maxError: 1, wrongValues: 1, nonFinite: 0 },
  ];
  t.equal(describeRoundTrips(trips), '2 of 4 exact; not: 1 (784 NaN/Inf), 3 (1 value off by up to 1)');
  t.equal(describeRoundTrips(trips, 1), '2 of 4 exact; not: 1 (784 NaN/Inf), … 1 more');
});
