// Evaluates a checkpoint: bits/dim on a dataset split (uniform dequantisation, seeded), then every
// image through encode and decode as the server runs them (8-bit pixels in and out, batches of 64, on
// the server's default engine, ONNX Runtime, or --engine tfjs): the largest reconstruction error
// max|decode(encode(x)) − x| and which images do not come back exactly.
//   npm run eval -- --model models/mnist --split test [--limit 1000] [--engine onnx|tfjs] [--write]
// --write stores the test figure in the checkpoint's manifest (what /model and the README report).
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadDataset } from '../src/data/datasets.ts';
import { initBackend } from '../src/backend/backend.ts';
import { MANIFEST_FILE, loadCheckpoint, writeFileAtomic } from '../src/glow/checkpoint.ts';
import { describeRoundTrips, roundTrips } from '../src/eval/round-trip.ts';
import { evaluateBpd, formatOutliers, outliers } from '../src/train/evaluate.ts';
import { OnnxEngine, TfjsEngine } from '../src/inference/engines.ts';

const SLICE_IMAGES = 200;

const { values: args } = parseArgs({
  options: {
    model: { type: 'string', default: 'models/mnist' },
    split: { type: 'string', default: 'test' },
    limit: { type: 'string' },
    batch: { type: 'string', default: '100' },
    write: { type: 'boolean', default: false },
    engine: { type: 'string', default: 'onnx' },
  },
});
if (args.engine !== 'onnx' && args.engine !== 'tfjs') throw new Error('--engine is onnx or tfjs');
if (args.split !== 'test' && args.split !== 'train') throw new Error('--split is test or train');
const backend = await initBackend(undefined, (m) => console.log(m));
const { glow, manifest } = await loadCheckpoint(args.model!);
const ds = loadDataset(manifest.dataset, args.split);
const started = performance.now();
const result = await evaluateBpd(glow, ds, { limit: args.limit ? Number(args.limit) : undefined, batch: Number(args.batch) });
const encoded = performance.now();
const engine = args.engine === 'tfjs' ? new TfjsEngine(glow) : await OnnxEngine.create(glow, 'eval', manifest.name, { threads: 2 });
const { trips, maxError } = await roundTrips(engine, glow.config, ds, { limit: result.count });
await engine.close();
const rate = (ms: number) => ((result.count * 1000) / ms).toFixed(1);
console.log(`model: ${manifest.name} (${manifest.steps} steps, ${manifest.imagesSeen} images seen), backend ${backend}`);
console.log(`max reconstruction error: ${maxError.toExponential(3)} (model units, [-0.5, 0.5])`);
console.log(`round trips of 8-bit images (${engine.name}): ${describeRoundTrips(trips)}`);
console.log(`${rate(encoded - started)} images/s (encode, bpd); ${rate(performance.now() - encoded)} images/s (encode + decode)`);
// The mean is what counts, but one image the model finds absurd can move it by a tenth of a bit.
const { median, worst } = outliers(result.perImage);
console.log(`median bpd: ${median.toFixed(4)}; worst images (bpd): ${formatOutliers(worst)}`);
if (args.write && args.split === 'test' && result.count === ds.count) {
  // A figure on a small fixed slice too, which the test suite re-measures against this checkpoint.
  const slice = await evaluateBpd(glow, ds, { limit: SLICE_IMAGES, batch: Number(args.batch) });
  const check = { images: slice.count, bpd: Number(slice.bpd.toFixed(5)) };
  await writeFileAtomic(
    path.join(args.model!, MANIFEST_FILE),
    JSON.stringify({ ...manifest, testBpd: Number(result.bpd.toFixed(4)), testImages: result.count, testSlice: check }, null, 2) + '\n',
  );
  console.log(`wrote testBpd to ${path.join(args.model!, MANIFEST_FILE)}`);
}
console.log(`${args.split} bpd: ${result.bpd.toFixed(3)} (${result.count} images)`);
process.exit(0);
