// Checks every replaced wasm kernel against the pure-JS CPU backend on random inputs of realistic shapes, once in
// WASM only and once with the native GEMM (src/backend/native-blas.ts) when it is built; under CI it must be.
// Error measure: max |wasm - cpu| / max |cpu| (relative to the largest reference value) ≤ 1e-4.
import t, { type Test } from 'tap';
import * as tf from '@tensorflow/tfjs';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { initBackend } from '../../src/backend/backend.ts';
import { registerWasmKernels, wasmKernelOptions } from '../../src/backend/wasm-kernels.ts';

const TOL = 1e-4;
type Arr = { data: Float32Array; shape: number[] };
type Attrs = Record<string, unknown>;

await initBackend('wasm');
t.equal(tf.getBackend(), 'wasm');
// Threaded by default (GLOW_WASM_THREADS=2); the test process must still exit by itself.
t.equal(getThreadsCount(), Number(process.env.GLOW_WASM_THREADS ?? 2), 'wasm thread count');

// Deterministic uniform(-1, 1) data.
let seed = 12345;
function rand(shape: number[]): Arr {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    seed = (seed * 1664525 + 1013904223) >>> 0;
    data[i] = seed / 2 ** 31 - 1;
  }
  return { data, shape };
}

/** Runs fn on the given backend with fresh tensors built from the arrays; returns plain arrays. */
async function on(backend: 'cpu' | 'wasm', args: Arr[], fn: (...xs: tf.Tensor[]) => tf.Tensor | tf.Tensor[]): Promise<Arr[]> {
  await tf.setBackend(backend);
  const xs = args.map((a) => tf.tensor(a.data, a.shape));
  const ys = fn(...xs);
  const list = Array.isArray(ys) ? ys : [ys];
  const out = list.map((y) => ({ data: y.dataSync() as Float32Array, shape: y.shape }));
  tf.dispose([...xs, ...list]);
  await tf.setBackend('wasm');
  return out;
}

function relErr(a: Arr, b: Arr): number {
  let diff = 0,
    ref = 0;
  for (let i = 0; i < b.data.length; i++) {
    diff = Math.max(diff, Math.abs(a.data[i] - b.data[i]));
    ref = Math.max(ref, Math.abs(b.data[i]));
  }
  return diff / Math.max(ref, 1e-30);
}

/** Compares wasm and cpu results of fn on random inputs of the given shapes. */
async function same(tt: Test, label: string, shapes: number[][], fn: (...xs: tf.Tensor[]) => tf.Tensor | tf.Tensor[]): Promise<void> {
  const args = shapes.map(rand);
  const ref = await on('cpu', args, fn);
  const got = await on('wasm', args, fn);
  tt.equal(got.length, ref.length, `${label}: output count`);
  ref.forEach((r, i) => {
    tt.same(got[i].shape, r.shape, `${label}[${i}] shape`);
    const e = relErr(got[i], r);
    tt.ok(e <= TOL, `${label}[${i}] rel err ${e.toExponential(2)}`);
  });
}

/** The output (dy) shape of a conv of x with filter f, worked out on the cpu backend. */
async function outShape(xs: number[], fs: number[], pad: unknown, stride: number): Promise<number[]> {
  await tf.setBackend('cpu');
  const shape = tf.tidy(
    () => tf.conv2d(tf.zeros<tf.Rank>(xs) as tf.Tensor4D, tf.zeros<tf.Rank>(fs) as tf.Tensor4D, stride, pad as 'same').shape,
  );
  await tf.setBackend('wasm');
  return shape;
}

const run = (name: string, inputs: Record<string, tf.Tensor>, attrs: Attrs) =>
  tf.engine().runKernel(name, inputs as unknown as tf.NamedTensorMap, attrs as tf.NamedAttrMap) as tf.Tensor;

const native = wasmKernelOptions.blas; // set by initBackend when the addon is built
if (process.env.CI === 'true') t.ok(native, 'under CI the native GEMM is built (.ci/run installs libopenblas-dev)');

function kernelTests(t: Test): void {
  t.test('registerWasmKernels is idempotent and adds Conv2DBackpropFilter', async (tt) => {
    registerWasmKernels();
    registerWasmKernels();
    tt.ok(tf.getKernel('Conv2DBackpropFilter', 'wasm'));
  });

  t.test('Conv2DBackpropFilter', async (tt) => {
    const cases: [number[], number[], unknown][] = [
      [[4, 14, 14, 2], [3, 3, 2, 16], 'same'],
      [[4, 14, 14, 2], [3, 3, 2, 16], 'valid'],
      [[4, 14, 14, 16], [1, 1, 16, 8], 'same'],
      [[4, 14, 14, 16], [1, 1, 16, 8], 'valid'],
      [[4, 14, 14, 16], [3, 3, 16, 4], 'same'],
      [[2, 9, 11, 3], [5, 5, 3, 6], 'same'],
      [[2, 8, 8, 3], [2, 2, 3, 5], 'same'], // even kernel: asymmetric padding
      [
        [2, 8, 8, 3],
        [3, 3, 3, 5],
        [
          [0, 0],
          [1, 0],
          [2, 1],
          [0, 0],
        ],
      ],
      [[2, 8, 8, 3], [3, 3, 3, 5], 1],
      [
        [2, 8, 8, 4],
        [1, 1, 4, 5],
        [
          [0, 0],
          [1, 1],
          [0, 1],
          [0, 0],
        ],
      ], // 1x1 with padding: im2col path
    ];
    for (const [xs, fs, pad] of cases) {
      const dyShape = await outShape(xs, fs, pad, 1);
      await same(tt, `dW x${xs} f${fs} pad ${JSON.stringify(pad)}`, [xs, dyShape], (x, dy) =>
        run('Conv2DBackpropFilter', { x, dy }, { strides: 1, pad, dataFormat: 'NHWC', filterShape: fs }),
      );
    }
    // Chunked im2col (several images per chunk, remainder chunk).
    const saved = wasmKernelOptions.im2colMaxFloats;
    wasmKernelOptions.im2colMaxFloats = 3 * 3 * 3 * 8 * 8 * 2;
    await same(
      tt,
      'dW chunked',
      [
        [5, 8, 8, 3],
        [5, 8, 8, 4],
      ],
      (x, dy) => run('Conv2DBackpropFilter', { x, dy }, { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, 3, 4] }),
    );
    wasmKernelOptions.im2colMaxFloats = saved;
    tt.throws(
      () =>
        tf.tidy(() =>
          run(
            'Conv2DBackpropFilter',
            { x: tf.zeros([1, 8, 8, 2]), dy: tf.zeros([1, 4, 4, 3]) },
            { strides: 2, pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, 2, 3] },
          ),
        ),
      /stride 1/,
    );
  });

  t.test('Conv2DBackpropInput', async (tt) => {
    const cases: [number[], number[], unknown, number][] = [
      [[4, 14, 14, 2], [3, 3, 2, 16], 'same', 1],
      [[4, 14, 14, 16], [1, 1, 16, 8], 'same', 1],
      [[4, 14, 14, 16], [3, 3, 16, 4], 'same', 1],
      [[2, 9, 11, 3], [5, 5, 3, 6], 'same', 1],
      [[2, 9, 11, 3], [3, 3, 3, 6], 'valid', 1],
      [[2, 8, 8, 3], [2, 2, 3, 5], 'same', 1],
      [
        [2, 8, 8, 3],
        [3, 3, 3, 5],
        [
          [0, 0],
          [1, 0],
          [2, 1],
          [0, 0],
        ],
        1,
      ],
      [[2, 8, 8, 1], [3, 3, 1, 5], 'same', 1],
      [[2, 8, 8, 4], [1, 1, 4, 1], 'same', 1],
      [[2, 8, 8, 3], [3, 3, 3, 5], 'same', 2], // falls back to the stock kernel
    ];
    for (const [xs, fs, pad, s] of cases) {
      const dyShape = await outShape(xs, fs, pad, s);
      await same(tt, `dx x${xs} f${fs} pad ${JSON.stringify(pad)} stride ${s}`, [dyShape, fs], (dy, filter) =>
        run('Conv2DBackpropInput', { dy, filter }, { strides: s, pad, dataFormat: 'NHWC', inputShape: xs }),
      );
    }
  });

  t.test('BatchMatMul', async (tt) => {
    for (const [ta, tb] of [
      [false, false],
      [true, false],
      [false, true],
      [true, true],
    ]) {
      const sa = (b: number[], m: number, k: number) => [...b, ...(ta ? [k, m] : [m, k])];
      const sb = (b: number[], k: number, n: number) => [...b, ...(tb ? [n, k] : [k, n])];
      const mm = (a: tf.Tensor, b: tf.Tensor) => tf.matMul(a, b, ta, tb);
      await same(tt, `rank2 ta=${ta} tb=${tb}`, [sa([], 300, 70), sb([], 70, 50)], mm);
      await same(tt, `rank2 tiny ta=${ta} tb=${tb}`, [sa([], 3, 4), sb([], 4, 5)], mm);
      await same(tt, `rank3 ta=${ta} tb=${tb}`, [sa([3], 60, 40), sb([3], 40, 50)], mm);
      await same(tt, `rank3 x rank2 ta=${ta} tb=${tb}`, [sa([3], 60, 40), sb([], 40, 50)], mm);
      await same(tt, `batch1 x rank3 ta=${ta} tb=${tb}`, [sa([1], 60, 40), sb([3], 40, 50)], mm);
      await same(tt, `rank4 ta=${ta} tb=${tb}`, [sa([2, 2], 30, 40), sb([2, 2], 40, 20)], mm);
    }
  });

  t.test('Slice, SplitV, Concat', async (tt) => {
    const x = [4, 14, 14, 16];
    await same(tt, 'slice first half of channels', [x], (a) => tf.slice(a, [0, 0, 0, 0], [-1, -1, -1, 8]));
    await same(tt, 'slice second half of channels', [x], (a) => tf.slice(a, [0, 0, 0, 8], [-1, -1, -1, 8]));
    await same(tt, 'slice long runs', [[4, 7, 7, 256]], (a) => tf.slice(a, [0, 0, 0, 128], [-1, -1, -1, 128]));
    await same(tt, 'slice batch range + channels', [x], (a) => tf.slice(a, [1, 0, 0, 3], [2, -1, -1, 5]));
    await same(tt, 'slice rank 2', [[50, 9]], (a) => tf.slice(a, [0, 2], [-1, 4]));
    await same(tt, 'slice middle axis (stock)', [x], (a) => tf.slice(a, [0, 2, 0, 0], [-1, 5, -1, 8]));
    await same(tt, 'slice contiguous (stock)', [x], (a) => tf.slice(a, [1, 0, 0, 0], [2, -1, -1, -1]));
    await same(tt, 'slice int32', [x], (a) => tf.slice(a.mul(100).toInt(), [0, 0, 0, 3], [-1, -1, -1, 4]).toFloat());
    await same(tt, 'split channels in 2', [x], (a) => tf.split(a, 2, 3));
    await same(tt, 'split channels [2,5,9]', [x], (a) => tf.split(a, [2, 5, 9], -1));
    await same(tt, 'split axis 1 (stock)', [x], (a) => tf.split(a, 2, 1));
    await same(tt, 'concat channels', [x, [4, 14, 14, 4]], (a, b) => tf.concat([a, b], 3));
    await same(tt, 'concat 3 inputs', [x, [4, 14, 14, 4], [4, 14, 14, 100]], (a, b, c) => tf.concat([a, b, c], -1));
    await same(tt, 'concat with empty', [x, [4, 14, 14, 0]], (a, b) => tf.concat([a, b], 3));
    await same(tt, 'concat axis 0 (stock)', [x, x], (a, b) => tf.concat([a, b], 0));
  });

  t.test('every strategy, forced, including K-chunked products', async (tt) => {
    const o = wasmKernelOptions;
    const saved = { ...o };
    const dW = (xs: number[], fs: number[], pad: unknown) => async (label: string) => {
      const dyShape = await outShape(xs, fs, pad, 1);
      await same(tt, `${label} dW x${xs} f${fs} ${JSON.stringify(pad)}`, [xs, dyShape], (x, dy) =>
        run('Conv2DBackpropFilter', { x, dy }, { strides: 1, pad, dataFormat: 'NHWC', filterShape: fs }),
      );
    };
    const dX = (xs: number[], fs: number[], pad: unknown) => async (label: string) => {
      const dyShape = await outShape(xs, fs, pad, 1);
      await same(tt, `${label} dx x${xs} f${fs} ${JSON.stringify(pad)}`, [dyShape, fs], (dy, filter) =>
        run('Conv2DBackpropInput', { dy, filter }, { strides: 1, pad, dataFormat: 'NHWC', inputShape: xs }),
      );
    };
    const convCases: [number[], number[], unknown][] = [
      [[3, 10, 10, 16], [3, 3, 16, 4], 'same'],
      [[3, 10, 10, 4], [3, 3, 4, 16], 'same'],
      [[2, 9, 7, 5], [2, 3, 5, 6], 'valid'],
      [
        [2, 8, 8, 3],
        [3, 3, 3, 5],
        [
          [0, 0],
          [1, 0],
          [2, 1],
          [0, 0],
        ],
      ],
    ];
    for (const fg of ['im2col', 'conv'] as const) {
      o.filterGrad = fg;
      for (const [xs, fs, pad] of convCases) await dW(xs, fs, pad)(fg);
    }
    o.filterGrad = 'auto';
    for (const ig of ['col2im', 'conv'] as const) {
      o.inputGrad = ig;
      for (const [xs, fs, pad] of convCases) await dX(xs, fs, pad)(ig);
    }
    o.inputGrad = 'auto';
    // K-chunking on small shapes: chunks of 50, remainders included.
    o.kChunk = 50;
    o.kChunkMinMN = 1;
    await dW([3, 10, 10, 16], [1, 1, 16, 8], 'same')('chunked 1x1');
    o.filterGrad = 'im2col';
    await dW([3, 10, 10, 16], [3, 3, 16, 8], 'same')('chunked im2col');
    o.filterGrad = 'auto';
    await same(
      tt,
      'chunked matMul transposeA',
      [
        [310, 40],
        [310, 50],
      ],
      (a, b) => tf.matMul(a, b, true, false),
    );
    await same(
      tt,
      'chunked matMul rank3 x rank2',
      [
        [3, 60, 170],
        [170, 50],
      ],
      (a, b) => tf.matMul(a, b),
    );
    Object.assign(o, saved);
  });

  t.test('gradients of a small conv net match cpu', async (tt) => {
    const shapes = [
      [4, 14, 14, 2],
      [3, 3, 1, 16],
      [1, 1, 16, 16],
      [3, 3, 16, 4],
      [4, 6],
      [6, 5],
    ];
    // x → split → conv3x3 → relu → conv1x1 → conv3x3 → affine coupling → concat → dense on pooled features.
    const net = (x: tf.Tensor, w1: tf.Tensor, w2: tf.Tensor, w3: tf.Tensor, d1: tf.Tensor, d2: tf.Tensor) => {
      const [xa, xb] = tf.split(x, 2, 3);
      let h = tf.relu(tf.conv2d(xa as tf.Tensor4D, w1 as tf.Tensor4D, 1, 'same'));
      h = tf.conv2d(h as tf.Tensor4D, w2 as tf.Tensor4D, 1, 'same');
      h = tf.conv2d(h as tf.Tensor4D, w3 as tf.Tensor4D, 1, 'same');
      const shift = tf.slice(h, [0, 0, 0, 0], [-1, -1, -1, 2]);
      const scale = tf.sigmoid(tf.slice(h, [0, 0, 0, 2], [-1, -1, -1, 2]).add(2));
      const yb = xb.add(shift.slice([0, 0, 0, 0], [-1, -1, -1, 1])).mul(scale.slice([0, 0, 0, 0], [-1, -1, -1, 1]));
      const y = tf.concat([xa, yb], 3);
      const feats = tf
        .matMul(tf.reshape(y, [4 * 14 * 14, 2]), tf.ones([2, 6]))
        .reshape([4, 196, 6])
        .mean(1);
      const z = tf.matMul(tf.matMul(feats, d1, true, false), d2, false, false);
      return tf.sum(tf.square(z)).add(tf.sum(tf.log(scale)));
    };
    await same(tt, 'grads', shapes, (...xs) => tf.grads(net)(xs));
  });

  t.test('Sum over the leading axes', async (tt) => {
    await same(tt, 'sum NHWC per channel', [[8, 14, 14, 16]], (x) => tf.sum(x, [0, 1, 2]));
    await same(tt, 'sum keepDims', [[8, 14, 14, 16]], (x) => tf.sum(x, [0, 1, 2], true));
    await same(tt, 'sum axes unordered', [[8, 14, 14, 16]], (x) => tf.sum(x, [2, 0, 1]));
    await same(tt, 'sum rank 2', [[3000, 5]], (x) => tf.sum(x, 0));
    await same(tt, 'sum inner axes (stock)', [[8, 14, 14, 16]], (x) => tf.sum(x, [1, 2, 3]));
    await same(tt, 'sum small (stock)', [[4, 4, 4]], (x) => tf.sum(x, [0, 1]));
    await same(tt, 'sum gradient of a broadcast bias', [[8, 14, 14, 16], [16]], (x, b) =>
      tf.grad((bb: tf.Tensor) => tf.sum(tf.square(tf.add(x, bb))))(b),
    );
  });

  t.test('Conv2D', async (tt) => {
    const cases: [number[], number[], unknown][] = [
      [[4, 14, 14, 2], [3, 3, 2, 128], 'same'],
      [[4, 14, 14, 16], [1, 1, 16, 8], 'same'],
      [[4, 14, 14, 16], [3, 3, 16, 4], 'same'],
      [[2, 9, 11, 3], [5, 5, 3, 6], 'valid'],
      [[2, 8, 8, 3], [2, 2, 3, 5], 'same'],
      [
        [2, 8, 8, 3],
        [3, 3, 3, 5],
        [
          [0, 0],
          [1, 0],
          [2, 1],
          [0, 0],
        ],
      ],
      [
        [2, 8, 8, 4],
        [1, 1, 4, 5],
        [
          [0, 0],
          [1, 1],
          [0, 1],
          [0, 0],
        ],
      ],
    ];
    // With the native GEMM, both layouts (im2col of the input side, col2im of the output side) on every case.
    for (const side of wasmKernelOptions.blas ? (['input', 'output'] as const) : (['auto'] as const)) {
      wasmKernelOptions.convSide = side;
      for (const [xs, fs, pad] of cases) {
        await same(tt, `${side}: conv x${xs} f${fs} pad ${JSON.stringify(pad)}`, [xs, fs], (x, f) =>
          tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, 1, pad as 'same'),
        );
        const dyShape = await outShape(xs, fs, pad, 1);
        await same(tt, `${side}: dW x${xs} f${fs} pad ${JSON.stringify(pad)}`, [xs, dyShape], (x, dy) =>
          run('Conv2DBackpropFilter', { x, dy }, { strides: 1, pad, dataFormat: 'NHWC', filterShape: fs }),
        );
      }
    }
    wasmKernelOptions.convSide = 'auto';
    await same(
      tt,
      'conv stride 2 (stock)',
      [
        [2, 8, 8, 3],
        [3, 3, 3, 5],
      ],
      (x, f) => tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, 2, 'same'),
    );
    const saved = wasmKernelOptions.im2colMaxFloats;
    wasmKernelOptions.im2colMaxFloats = 3 * 3 * 3 * 8 * 8 * 2; // two images per im2col chunk, and a remainder
    await same(
      tt,
      'conv chunked',
      [
        [5, 8, 8, 3],
        [3, 3, 3, 4],
      ],
      (x, f) => tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, 1, 'same'),
    );
    wasmKernelOptions.im2colMaxFloats = saved;
  });
}

for (const blas of native ? [undefined, native] : [undefined]) {
  t.test(blas ? 'kernels with the native GEMM' : 'kernels in WASM only', async (t) => {
    wasmKernelOptions.blas = blas;
    t.teardown(() => void (wasmKernelOptions.blas = native));
    kernelTests(t);
  });
}
