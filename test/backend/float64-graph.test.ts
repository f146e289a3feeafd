// The float64 graph runner (the precise path) on the very graphs ONNX Runtime runs: the same results to
// float32's rounding, an encode its decode inverts to float64's, and clear errors for what it cannot run.
import t from 'tap';
import * as ort from 'onnxruntime-node';
import { initBackend } from '../../src/backend/backend.ts';
import { Float64Graph, gemm } from '../../src/backend/float64-graph.ts';
import { nativeBlas } from '../../src/backend/native-blas.ts';
import { OnnxGraph } from '../../src/backend/onnx-graph.ts';
import type { GlowConfig } from '../../src/glow/glow.ts';
import { normalArray } from '../../src/glow/random.ts';
import { randomGlow } from '../fixtures/model.ts';

await initBackend();

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

// Every layer kind the graphs emit: affine with and without a floor, additive, one to three levels,
// a σ floor, prior bounds that clip, and few-channel 3×3 convolutions (the taps path).
const configs: GlowConfig[] = [
  { height: 8, width: 8, channels: 1, levels: 2, depth: 2, hidden: 8, coupling: 'affine', nBits: 8, seed: 2 },
  { height: 8, width: 8, channels: 3, levels: 3, depth: 1, hidden: 8, coupling: 'additive', nBits: 5, seed: 4, priorMinSd: 0.01 },
  { height: 8, width: 4, channels: 2, levels: 1, depth: 3, hidden: 16, coupling: 'affine', nBits: 8, seed: 6, priorMinSd: 0.3 },
  {
    ...{ height: 8, width: 8, channels: 1, levels: 2, depth: 2, hidden: 8, coupling: 'affine', nBits: 8, seed: 8 },
    minScale: 0.9,
    priorBounds: { mean: 0.05, logSd: [-0.1, 0.1] },
  },
];

for (const config of configs) {
  t.test(`${config.levels}-level ${config.coupling} model: ONNX Runtime's results, and an exact inverse`, async (t) => {
    const glow = randomGlow(config, 300);
    t.teardown(() => glow.dispose());
    const { height, width, channels } = config;
    const n = 3;
    const D = glow.latentDim;
    // Image 2 far outside model units: large latents, where float32 loses most.
    const x = Float32Array.from(normalArray(n * D, 9, 0.2), (v, i) => (i >= 2 * D ? 40 * v : Math.max(-0.5, Math.min(0.5, v))));
    const encode = glow.onnxEncode('rebuilt');
    const decode = glow.onnxDecode();
    const session = await ort.InferenceSession.create(encode.toModel({ docString: '', metadata: {} }));
    const want = await session.run({ x: new ort.Tensor('float32', x, [n, height, width, channels]) });
    await session.release();
    const got = new Float64Graph(encode.program).run(n, { x });
    for (const name of ['eps', 'bpd', 'logpx']) {
      const ref = want[name].data as Float32Array;
      const scale = Math.max(1, ...Array.from(ref, Math.abs));
      const diff = maxAbsDiff(got[name], ref);
      t.ok(diff <= 1e-4 * scale, `${name}: within ${diff.toExponential(2)} of ONNX Runtime's (values up to ${scale.toFixed(1)})`);
    }
    const back = new Float64Graph(decode.program).run(n, { eps: got.eps }).x;
    const err = maxAbsDiff(back, x);
    t.ok(err <= 1e-9, `decode inverts encode to ${err.toExponential(2)}`);
    // Encode and decode may meet an image in batches of different sizes: its bits must not change.
    const alone = new Float64Graph(encode.program).run(1, { x: x.subarray(2 * D) });
    t.same(Array.from(alone.eps), Array.from(got.eps.subarray(2 * D)), 'an image alone: the bits it had in the batch');
  });
}

t.test('matrix products: the native dgemm and the plain loop agree', async (t) => {
  const [M, N, K] = [7, 5, 9];
  const a = Float64Array.from(normalArray(M * K, 1));
  const b = Float64Array.from(normalArray(K * N, 2));
  const plain = new Float64Array(M * N);
  gemm(a, b, plain, M, N, K, undefined);
  const want = new Float64Array(M * N);
  for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) for (let k = 0; k < K; k++) want[i * N + j] += a[i * K + k] * b[k * N + j];
  t.ok(maxAbsDiff(plain, want) <= 1e-12, 'plain loop');
  const blas = nativeBlas();
  if (!blas?.dgemm) {
    t.comment('no native addon with dgemm here');
    return;
  }
  const native = new Float64Array(M * N).fill(NaN); // overwritten, not accumulated
  gemm(a, b, native, M, N, K, blas);
  t.ok(maxAbsDiff(native, want) <= 1e-12, 'native dgemm');
});

t.test('what it cannot run is an error, not a wrong answer', async (t) => {
  const g = new OnnxGraph('t');
  const x = g.input('x', [2]);
  g.output(g.op('Tanh', [x], [2]), 'y');
  t.throws(() => new Float64Graph(g.program).run(1, { x: [1, 2] }), /no operator Tanh/);
  const ok = new OnnxGraph('t');
  ok.output(ok.unary('Exp', ok.input('x', [2])), 'y');
  t.throws(() => new Float64Graph(ok.program).run(2, { x: [1, 2, 3] }), /x has 3 values, not 2 × 2/);
  t.throws(() => new Float64Graph(ok.program).run(1, {}), /no input x/);
  t.same(Array.from(new Float64Graph(ok.program).run(2, { x: [0, 1, 2, 3] }).y), [1, Math.E, Math.exp(2), Math.exp(3)]);
});
