// The round-trip promise tried on images nobody trained on (src/eval/robustness.ts): per category,
// how many 8-bit images come back exactly through encode → decode as the server runs them, the
// largest error, and the bits/dim range; then how many samples at t = 1 and 1.5 are finite.
//   npm run eval:robustness -- --model models/mnist [--images 256]
// Prints a Markdown table, as the model cards carry it.
import { parseArgs } from 'node:util';
import { initBackend } from '../src/backend/backend.ts';
import { loadCheckpoint } from '../src/glow/checkpoint.ts';
import { type CategoryReport, evaluateSet, finiteSamples, robustnessSets } from '../src/eval/robustness.ts';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string', default: 'models/mnist' },
    // Images per category (the test set and the solid/extreme patterns are capped by what there is).
    images: { type: 'string', default: '256' },
    samples: { type: 'string', default: '64' },
    seed: { type: 'string', default: '1' },
  },
});
const backend = await initBackend();
const { glow, manifest } = await loadCheckpoint(args.model!);
const started = performance.now();
const rows: CategoryReport[] = [];
for (const set of robustnessSets(manifest.dataset, glow.config, Number(args.images), Number(args.seed))) rows.push(await evaluateSet(glow, set));
const n = Number(args.samples);
const finite = { t1: await finiteSamples(glow, n, 1), t15: await finiteSamples(glow, n, 1.5) };
const fmt = (v: number) => (Number.isFinite(v) ? (Math.abs(v) >= 1e4 ? v.toExponential(1) : v.toFixed(2)) : String(v));
console.log(`${manifest.name} (${manifest.config.coupling} coupling, step ${manifest.steps}), backend ${backend}\n`);
console.log('| images | exact round trips | largest error (levels) | bits/dim (min … max) | bpd not finite |');
console.log('|---|---:|---:|---|---:|');
for (const r of rows) console.log(`| ${r.name} | ${r.exact} of ${r.images} | ${fmt(r.maxError)} | ${fmt(r.bpd.min)} … ${fmt(r.bpd.max)} | ${r.bpd.nonFinite} |`);
console.log(`| samples at t = 1.0 / 1.5 | ${finite.t1} / ${finite.t15} of ${n} finite | | | |`);
console.log(`\n${((performance.now() - started) / 1000).toFixed(0)} s`);
process.exit(rows.every((r) => r.exact === r.images) && finite.t1 === n && finite.t15 === n ? 0 : 1);
