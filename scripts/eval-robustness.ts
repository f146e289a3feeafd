// The round-trip promise tried on images nobody trained on (src/eval/robustness.ts): per category,
// how many 8-bit images come back exactly through encode → decode as the server runs them, the
// largest error, and the bits/dim range; then how many samples at t = 1 and 1.5, and latents uniform
// in [−5, 5], decode to finite pixels. On each inference engine the server can run.
//   npm run eval:robustness -- --model models/mnist [--images 256] [--engine onnx|tfjs|both]
// Prints a Markdown table per engine, as the model cards carry it; exits 1 if any promise is broken.
import { parseArgs } from 'node:util';
import { initBackend } from '../src/backend/backend.ts';
import { loadCheckpoint } from '../src/glow/checkpoint.ts';
import { uniformArray } from '../src/glow/random.ts';
import { type CategoryReport, evaluateSet, finiteDecodes, finiteSamples, robustnessSets } from '../src/eval/robustness.ts';
import { type InferenceEngine, OnnxEngine, TfjsEngine } from '../src/inference/engines.ts';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string', default: 'models/mnist' },
    // Images per category (the test set and the solid/extreme patterns are capped by what there is).
    images: { type: 'string', default: '256' },
    samples: { type: 'string', default: '64' },
    seed: { type: 'string', default: '1' },
    engine: { type: 'string', default: 'both' },
  },
});
if (!['onnx', 'tfjs', 'both'].includes(args.engine!)) throw new Error('--engine is onnx, tfjs or both');
const backend = await initBackend();
const { glow, manifest } = await loadCheckpoint(args.model!);
const engines: InferenceEngine[] = [];
if (args.engine !== 'onnx') engines.push(new TfjsEngine(glow));
if (args.engine !== 'tfjs') engines.push(await OnnxEngine.create(glow, 'eval', manifest.name, { threads: 2 }));
const fmt = (v: number) => (Number.isFinite(v) ? (Math.abs(v) >= 1e4 ? v.toExponential(1) : v.toFixed(2)) : String(v));
const n = Number(args.samples);
const seed = Number(args.seed);
const d = glow.latentDim;
let kept = true;
for (const engine of engines) {
  const started = performance.now();
  const rows: CategoryReport[] = [];
  for (const set of robustnessSets(manifest.dataset, glow.config, Number(args.images), seed))
    rows.push(await evaluateSet(engine, glow.config, set));
  const finite = {
    t1: await finiteSamples(engine, d, n, 1, seed),
    t15: await finiteSamples(engine, d, n, 1.5, seed),
    uniform: await finiteDecodes(engine, d, uniformArray(n * d, seed, -5, 5)),
  };
  const engineName = engine.name === 'onnx' ? 'ONNX Runtime' : `TF.js (${backend})`;
  console.log(`${manifest.name} (${manifest.config.coupling} coupling, step ${manifest.steps}), engine ${engineName}\n`);
  console.log('| images | exact round trips | largest error (levels) | bits/dim (min … max) | bpd not finite |');
  console.log('|---|---:|---:|---|---:|');
  for (const r of rows)
    console.log(
      `| ${r.name} | ${r.exact} of ${r.images} | ${fmt(r.maxError)} | ${fmt(r.bpd.min)} … ${fmt(r.bpd.max)} | ${r.bpd.nonFinite} |`,
    );
  console.log(`| samples at t = 1.0 / 1.5 | ${finite.t1} / ${finite.t15} of ${n} finite | | | |`);
  console.log(`| latents uniform in [−5, 5] | ${finite.uniform} of ${n} finite | | | |`);
  console.log(`\n${((performance.now() - started) / 1000).toFixed(0)} s\n`);
  kept &&= rows.every((r) => r.exact === r.images && r.bpd.nonFinite === 0) && finite.t1 === n && finite.t15 === n && finite.uniform === n;
  await engine.close();
}
process.exit(kept ? 0 : 1);
