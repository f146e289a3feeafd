// Lanes: how a batch is cut, that the cut never shows in the results, and that a failed run fails
// alone (the lanes stay usable).
import t from 'tap';
import { initBackend } from '../../src/backend/backend.ts';
import { onnxModels } from '../../src/glow/onnx-export.ts';
import { normalArray } from '../../src/glow/random.ts';
import { OnnxLanes, cut } from '../../src/inference/onnx-lanes.ts';
import { randomGlow } from '../fixtures/model.ts';

await initBackend();

t.test('a batch is cut into contiguous parts that differ by at most one row', async (t) => {
  t.same(cut(5, 2), [
    { start: 0, count: 3 },
    { start: 3, count: 2 },
  ]);
  t.same(cut(1, 2), [{ start: 0, count: 1 }], 'one row: one lane');
  t.same(cut(7, 3), [
    { start: 0, count: 3 },
    { start: 3, count: 2 },
    { start: 5, count: 2 },
  ]);
  t.same(cut(4, 1), [{ start: 0, count: 4 }]);
});

t.test('two lanes give the rows of one, in order; a run that fails fails alone', async (t) => {
  const glow = randomGlow({ height: 8, width: 8, channels: 1, levels: 2, depth: 2, hidden: 8, coupling: 'affine', nBits: 8, seed: 3 }, 300);
  const { decode } = onnxModels(glow, 'test', 'test');
  const [one, two] = [await OnnxLanes.open({ decode }, 1), await OnnxLanes.open({ decode }, 2)];
  t.teardown(async () => (await one.close(), await two.close(), glow.dispose()));
  const n = 5;
  const eps = Float32Array.from(normalArray(n * 64, 5, 0.7));
  const feeds = () => ({ eps: { data: eps.slice(), dims: [64] } });
  const want = (await one.run('decode', n, feeds())).x;
  t.same(Array.from((await two.run('decode', n, feeds())).x), Array.from(want), 'the same bits, in the same order');
  await t.rejects(
    two.run('decode', n, { eps: { data: eps.slice(0, n * 63), dims: [63] } }),
    /eps|dimension|shape/i,
    'a wrong shape is refused',
  );
  await t.rejects(two.run('encodeForward', n, feeds()), /no encodeForward graph/);
  t.same(Array.from((await two.run('decode', n, feeds())).x), Array.from(want), 'and the lanes still run');
});
