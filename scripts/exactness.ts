// How far each engine's latents and bpd are from the same model evaluated in float64: the encode graph
// built with float64 constants (nothing rounded to float32) and run operation by operation in numpy
// (scripts/onnx_float64.py; needs python3 with python3-onnx, which brings numpy). With a σ floor of
// 1e-3 in the priors, ε = (z − μ)/σ multiplies float32 rounding in z by up to 1000, so two float32
// implementations can differ by more than either differs from the float64 result: this shows which is
// nearer. --baseline DIR adds an earlier export's encode.onnx (npm run export:onnx -- --out DIR).
//   npm run exactness [-- --model models/mnist --images 1024 --baseline DIR --backends wasm,cpu]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { fingerprintOf } from '../src/attributes/builtin.ts';
import { initBackend } from '../src/backend/backend.ts';
import { batchPixels, loadDataset } from '../src/data/datasets.ts';
import { checkpointFromFiles, readCheckpointFiles } from '../src/glow/checkpoint.ts';
import { onnxModels } from '../src/glow/onnx-export.ts';
import { modelUnits } from '../src/glow/pixels.ts';
import { OnnxEngine, TfjsEngine, sessionOptions } from '../src/inference/engines.ts';

const { values: args } = parseArgs({
  options: { model: { type: 'string', default: 'models/mnist' }, images: { type: 'string', default: '1024' }, baseline: { type: 'string' }, backends: { type: 'string' } },
});
const first = await initBackend();
const backends = args.backends ? args.backends.split(',') : [first];
const files = await readCheckpointFiles(args.model!);
const { glow, manifest } = checkpointFromFiles(files, args.model!);
const { height, width, channels, nBits } = glow.config;
const test = loadDataset(manifest.dataset, 'test');
const count = Math.min(Number(args.images), test.count);
const size = height * width * channels;
const x = modelUnits(batchPixels(test, Array.from({ length: count }, (_, i) => i)), nBits);

type Encode = (n: number, x: Float32Array) => Promise<{ eps: Float32Array; bpd: Float32Array }>;
/** eps and bpd of every image, in batches of 64 as the server sends them. */
async function encodeAll(encode: Encode) {
  const eps = new Float32Array(count * glow.latentDim);
  const bpd = new Float32Array(count);
  for (let start = 0; start < count; start += 64) {
    const n = Math.min(64, count - start);
    const out = await encode(n, x.subarray(start * size, (start + n) * size));
    eps.set(out.eps, start * glow.latentDim);
    bpd.set(out.bpd, start);
  }
  return { eps, bpd };
}

const results: [string, { eps: Float32Array; bpd: Float32Array }][] = [];
for (const backend of backends) {
  await tf.setBackend(backend);
  results.push([`TF.js (${backend})`, await encodeAll((n, xs) => new TfjsEngine(glow).encode(n, xs))]);
}
const onnx = await OnnxEngine.create(glow, fingerprintOf(files.weights), manifest.name, { threads: 2 });
results.push(['ONNX Runtime', await encodeAll((n, xs) => onnx.encode(n, xs))]);
await onnx.close();
if (args.baseline) {
  const session = await ort.InferenceSession.create(readFileSync(path.join(args.baseline, 'encode.onnx')), sessionOptions({ threads: 2 }) as ort.InferenceSession.SessionOptions);
  results.push([
    `ONNX Runtime, ${args.baseline}/encode.onnx`,
    await encodeAll(async (n, xs) => {
      const out = await session.run({ x: new ort.Tensor('float32', xs, [n, height, width, channels]) });
      return { eps: out.eps.data as Float32Array, bpd: out.bpd.data as Float32Array };
    }),
  ]);
  await session.release();
}

const dir = mkdtempSync(path.join(tmpdir(), 'glow-exactness-'));
try {
  writeFileSync(path.join(dir, 'encode.float64.onnx'), onnxModels(glow, '', manifest.name, 'float64').encode);
  writeFileSync(path.join(dir, 'x.bin'), x);
  const specs = results.map(([, r], i) => {
    writeFileSync(path.join(dir, `eps${i}.bin`), r.eps);
    writeFileSync(path.join(dir, `bpd${i}.bin`), r.bpd);
    return `${i}=${path.join(dir, `eps${i}.bin`)}:${path.join(dir, `bpd${i}.bin`)}`;
  });
  const script = path.join(path.dirname(new URL(import.meta.url).pathname), 'onnx_float64.py');
  const out = execFileSync('/usr/bin/python3', [script, path.join(dir, 'encode.float64.onnx'), path.join(dir, 'x.bin'), String(count), String(height), String(width), String(channels), ...specs], {
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  const report = JSON.parse(out) as Record<string, { epsMax: number; epsMean: number; eps9999: number; bpdMax: number }>;
  const e = (v: number) => v.toExponential(2);
  console.log(`${args.model}, the first ${count} test images; |ε − ε_float64| and |bpd − bpd_float64|:`);
  for (const [i, [name]] of results.entries()) {
    const r = report[i];
    console.log(`  ${name.padEnd(44)} ε max ${e(r.epsMax)}, 99.99 % ${e(r.eps9999)}, mean ${e(r.epsMean)}; bpd max ${e(r.bpdMax)}`);
  }
  const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
  console.log('pairwise max |Δε|:');
  for (let i = 0; i < results.length; i++)
    for (let j = i + 1; j < results.length; j++) console.log(`  ${results[i][0]} vs ${results[j][0]}: ${e(maxDiff(results[i][1].eps, results[j][1].eps))}`);
} finally {
  rmSync(dir, { recursive: true });
}
process.exit(0);
