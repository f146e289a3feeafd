// Microbenchmark of the wasm kernel replacements (src/backend/wasm-kernels.ts): stock kernel vs replacement.
// Run: npx tsx scripts/bench-kernels.ts [--quick]     (GLOW_WASM_THREADS=1|2 picks the wasm thread count)
// Short on purpose (the machine is shared): each case runs until ~0.4 s or 5 repeats, and reports the best time.
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/backend.ts';
import { registerWasmKernels, restoreWasmKernels } from '../src/backend/wasm-kernels.ts';

const quick = process.argv.includes('--quick');
await initBackend('wasm', console.log);
const wasmMod = await import('@tensorflow/tfjs-backend-wasm');
console.log(`wasm threads: ${wasmMod.getThreadsCount()}`);

const N = quick ? 16 : 64,
  S = 14;
const rnd = (shape: number[]) => tf.randomNormal(shape);

function time(fn: () => tf.Tensor | tf.Tensor[]): number {
  tf.dispose(fn()); // warm-up (also builds XNNPACK operators)
  let best = Infinity,
    total = 0;
  for (let i = 0; i < 5 && total < 400; i++) {
    const t0 = performance.now();
    const y = fn();
    const ms = performance.now() - t0;
    tf.dispose(y);
    best = Math.min(best, ms);
    total += ms;
  }
  return best;
}

type Case = { label: string; flop: number; fn: () => tf.Tensor | tf.Tensor[] };
const run = (name: string, inputs: Record<string, tf.Tensor> | tf.Tensor[], attrs: Record<string, unknown>) =>
  tf.engine().runKernel(name, inputs as unknown as tf.NamedTensorMap, attrs as tf.NamedAttrMap) as tf.Tensor;
const fmt = (ms: number, flop: number) =>
  !Number.isFinite(ms)
    ? 'missing'.padStart(22)
    : `${ms.toFixed(2).padStart(8)} ms ${flop ? (flop / ms / 1e6).toFixed(1).padStart(6) + ' GFLOP/s' : ''.padStart(14)}`;

const cases: Case[] = [];
const conv = (cin: number, cout: number, k: number) => {
  const x = rnd([N, S, S, cin]),
    w = rnd([k, k, cin, cout]),
    dy = rnd([N, S, S, cout]);
  const flop = 2 * N * S * S * k * k * cin * cout;
  const tag = `${k}x${k} ${cin}->${cout}`;
  const attrs = { strides: 1, pad: 'same', dataFormat: 'NHWC' };
  cases.push({ label: `Conv2D fwd ${tag}`, flop, fn: () => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same') });
  cases.push({
    label: `Conv2DBackpropFilter ${tag}`,
    flop,
    fn: () => run('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: w.shape }),
  });
  cases.push({
    label: `Conv2DBackpropInput ${tag}`,
    flop,
    fn: () => run('Conv2DBackpropInput', { dy, filter: w }, { ...attrs, inputShape: x.shape }),
  });
};
conv(2, 256, 3);
conv(256, 256, 1);
conv(256, 4, 3);

const P = N * S * S;
{
  const a = rnd([P, 256]),
    b = rnd([256, 256]),
    g = rnd([P, 256]);
  const flop = 2 * P * 256 * 256;
  cases.push({ label: `matMul [${P},256]x[256,256]`, flop, fn: () => tf.matMul(a, b) });
  cases.push({ label: 'matMul transposeA (Aᵀ·G)', flop, fn: () => tf.matMul(a, g, true, false) });
  cases.push({ label: 'matMul transposeB (G·Bᵀ)', flop, fn: () => tf.matMul(g, b, false, true) });
  const a3 = rnd([8, 256, 128]),
    b3 = rnd([8, 128, 256]),
    b3t = rnd([8, 256, 128]);
  const flop3 = 2 * 8 * 256 * 128 * 256;
  cases.push({ label: 'batched [8,256,128]x[8,128,256]', flop: flop3, fn: () => tf.matMul(a3, b3) });
  cases.push({ label: 'batched, transposeB', flop: flop3, fn: () => tf.matMul(a3, b3t, false, true) });
}
for (const c of [4, 256]) {
  const x = rnd([N, S, S, c]),
    h = rnd([N, S, S, c / 2]);
  cases.push({ label: `Slice channels 0..${c / 2} of ${c}`, flop: 0, fn: () => tf.slice(x, [0, 0, 0, 0], [-1, -1, -1, c / 2]) });
  cases.push({ label: `SplitV ${c} channels in 2`, flop: 0, fn: () => tf.split(x, 2, 3) });
  cases.push({ label: `Concat 2x${c / 2} channels`, flop: 0, fn: () => tf.concat([h, h], 3) });
  cases.push({
    label: `PadV2 ${c / 2}→${c} channels (stock)`,
    flop: 0,
    fn: () =>
      tf.pad(h, [
        [0, 0],
        [0, 0],
        [0, 0],
        [0, c / 2],
      ]),
  });
}

const results = new Map<string, [number, number]>();
restoreWasmKernels();
for (const c of cases) {
  let ms = Infinity;
  try {
    ms = time(c.fn);
  } catch {
    /* kernel missing */
  }
  results.set(c.label, [ms, NaN]);
}
registerWasmKernels();
for (const c of cases) results.get(c.label)![1] = time(c.fn);

console.log(`batch ${N} at ${S}x${S}${' '.repeat(20)}stock wasm kernel          replacement`);
for (const c of cases) {
  const [before, after] = results.get(c.label)!;
  console.log(`${c.label.padEnd(36)} ${fmt(before, c.flop)}   ${fmt(after, c.flop)}`);
}

// A Glow coupling network (3x3 c/2→256, ReLU, 1x1 256→256, ReLU, 3x3 256→c) forward + backward, replacements on.
{
  const c = 4,
    x = rnd([N, S, S, c]);
  const ws = [rnd([3, 3, c / 2, 256]).mul(0.1), rnd([1, 1, 256, 256]).mul(0.05), rnd([3, 3, 256, c]).mul(0.02)];
  const loss = (w1: tf.Tensor, w2: tf.Tensor, w3: tf.Tensor) => {
    const [xa, xb] = tf.split(x, 2, 3);
    let h = tf.relu(tf.conv2d(xa as tf.Tensor4D, w1 as tf.Tensor4D, 1, 'same'));
    h = tf.relu(tf.conv2d(h as tf.Tensor4D, w2 as tf.Tensor4D, 1, 'same'));
    h = tf.conv2d(h as tf.Tensor4D, w3 as tf.Tensor4D, 1, 'same');
    const [shift, raw] = tf.split(h, 2, 3);
    const scale = tf.sigmoid(raw.add(2));
    return tf
      .concat([xa, xb.add(shift).mul(scale)], 3)
      .square()
      .sum()
      .add(scale.log().sum());
  };
  const g = tf.grads(loss as (...xs: tf.Tensor[]) => tf.Tensor);
  const flop = 3 * 2 * N * S * S * (9 * (c / 2) * 256 + 256 * 256 + 9 * 256 * c); // fwd + 2x for bwd
  const ms = time(() => tf.tidy(() => g(ws)));
  console.log(`${'coupling NN fwd+bwd (c=4, width 256)'.padEnd(36)} ${''.padStart(22)}   ${fmt(ms, flop)}`);
}
