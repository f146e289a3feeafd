// Built-in attribute directions for a checkpoint, from labelled training images:
//   to-0 … to-9        class mean ε minus the overall mean ε
//   digit-A-to-B       mean ε(class B) − mean ε(class A), for a few pairs worth showing (MNIST)
//   thickness, slant, width   measured from pixels, split at the median within each class
// Writes <model>/attributes.safetensors (read by the server at start) and one strip PNG per
// attribute (rows: test images; columns: alpha from −alpha to +alpha, the original in the middle).
// Strip rows: for digit-A-to-B, test images of class A; for to-K, test images of other classes; for
// the pixel attributes, --strip-images. Class directions span a whole class-mean difference, so
// their strips go further (--class-alpha; twice that for to-K, a class mean minus the overall mean,
// about half a class-to-class difference) than the pixel attributes' (--alpha).
//   npm run attributes -- --model models/mnist --per-class 300 --alpha 1 --class-alpha 1.5 --strips docs/attributes
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BUILTIN_FILE, encodeBuiltinAttributes, weightsFingerprint } from '../src/attributes/builtin.ts';
import { boxWidth, inkMass, medianSplit, slant } from '../src/attributes/features.ts';
import type { AttributeRecord } from '../src/attributes/store.ts';
import { addScaled, direction, linspace, mean, norm } from '../src/attributes/vectors.ts';
import { batchPixels } from '../src/data/dataset.ts';
import { loadDataset } from '../src/data/datasets.ts';
import { initBackend } from '../src/backend/backend.ts';
import { WEIGHTS_FILE, loadCheckpoint, writeFileAtomic } from '../src/glow/checkpoint.ts';
import { decodeLatents, encodePixels } from '../src/eval/latents.ts';
import { imagesToPng } from '../src/images/images.ts';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string', default: 'models/mnist' },
    'per-class': { type: 'string', default: '300' },
    alpha: { type: 'string', default: '1' },
    'class-alpha': { type: 'string', default: '1.5' },
    steps: { type: 'string', default: '7' },
    strips: { type: 'string', default: 'docs/attributes' },
    'strip-images': { type: 'string', default: '0,1,2,3' },
    batch: { type: 'string', default: '64' },
  },
});

const PAIRS: [number, number][] = [
  [3, 8],
  [1, 7],
  [4, 9],
  [5, 6],
  [0, 6],
];

const log = (m: string) => console.log(m);
await initBackend(undefined, log);
const modelDir = args.model!;
const { glow, manifest } = await loadCheckpoint(modelDir);
const fingerprint = await weightsFingerprint(path.join(modelDir, WEIGHTS_FILE));
const { height, width, channels } = glow.config;
const size = height * width * channels;
const batch = Number(args.batch);

const train = loadDataset(manifest.dataset, 'train');
const perClass = Number(args['per-class']);
// The first `perClass` training images of each class: deterministic, and classes balanced.
const chosen: number[] = [];
const taken = new Map<number, number>();
for (let i = 0; i < train.count && chosen.length < perClass * 10; i++) {
  const c = train.labels[i];
  if ((taken.get(c) ?? 0) < perClass) {
    taken.set(c, (taken.get(c) ?? 0) + 1);
    chosen.push(i);
  }
}
const labels = chosen.map((i) => train.labels[i]);
const pixels = chosen.map((i) => batchPixels(train, [i]));
const splitImages = (flat: Uint8Array) => Array.from({ length: flat.length / size }, (_, i) => flat.subarray(i * size, (i + 1) * size));

const t0 = performance.now();
const eps = await encodePixels(glow, batchPixels(train, chosen), batch);
log(`encoded ${eps.length} ${manifest.dataset} training images in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

const createdAt = new Date().toISOString();
const classAlpha = Number(args['class-alpha']);
const records: AttributeRecord[] = [];
/** For each attribute, which test images its strip shows and how far it goes. */
const stripPlans = new Map<string, { rows: (c: number) => boolean; alpha: number }>();
function add(
  name: string,
  pos: number[],
  neg: number[],
  description: string,
  vector?: Float32Array,
  strip?: { rows: (c: number) => boolean; alpha: number },
): void {
  const v =
    vector ??
    direction(
      pos.map((i) => eps[i]),
      neg.map((i) => eps[i]),
    );
  records.push({ name, vector: v, positive: pos.length, negative: neg.length, norm: norm(v), createdAt, description });
  if (strip) stripPlans.set(name, strip);
  log(`${name.padEnd(14)} |d| = ${norm(v).toFixed(2)}  (${pos.length} vs ${neg.length})  ${description}`);
}

const all = eps.map((_, i) => i);
const classes = [...new Set(labels)].sort((a, b) => a - b);
const overall = mean(eps);
const ofClass = (c: number) => all.filter((i) => labels[i] === c);
for (const c of classes) {
  const v = mean(ofClass(c).map((i) => eps[i]));
  for (let k = 0; k < v.length; k++) v[k] -= overall[k];
  add(`to-${c}`, ofClass(c), all, `towards class ${c}: class mean ε minus the overall mean`, v, {
    rows: (k) => k !== c,
    alpha: 2 * classAlpha,
  });
}
if (manifest.dataset === 'mnist') {
  for (const [a, b] of PAIRS)
    add(`digit-${a}-to-${b}`, ofClass(b), ofClass(a), `turns ${a}s into ${b}s: mean ε(${b}) − mean ε(${a})`, undefined, {
      rows: (k) => k === a,
      alpha: classAlpha,
    });
}
const features: [string, (img: Uint8Array) => number, string][] = [
  ['thickness', (img) => inkMass(img), 'more ink (thicker strokes): split at the median ink mass within each class'],
  ['slant', (img) => slant(img, width, height), 'leans right: split at the median shear −μ11/μ02 within each class'],
  ['width', (img) => boxWidth(img, width, height), 'wider bounding box: split at the median width within each class'],
];
for (const [name, f, description] of features) {
  const { positive, negative } = medianSplit(pixels.map(f), labels);
  add(name, positive, negative, description);
}

const out = path.join(modelDir, BUILTIN_FILE);
await writeFileAtomic(out, encodeBuiltinAttributes(records, fingerprint));
log(`wrote ${out}: ${records.length} attributes for weights ${fingerprint.slice(0, 16)}`);

// Strips to look at: does each direction do what its name says?
const test = loadDataset(manifest.dataset, 'test');
const defaultRows = args['strip-images']!.split(',').map(Number);
const ROWS = defaultRows.length;
/** The first ROWS test images whose class passes `keep`, one per class while classes last. */
function rowsFor(keep: (c: number) => boolean): number[] {
  const out: number[] = [];
  const seen = new Set<number>();
  for (let pass = 0; pass < 2 && out.length < ROWS; pass++)
    for (let i = 0; i < test.count && out.length < ROWS; i++) {
      const c = test.labels[i];
      if (!keep(c) || out.includes(i) || (pass === 0 && seen.has(c))) continue;
      seen.add(c);
      out.push(i);
    }
  return out;
}
await mkdir(args.strips!, { recursive: true });
for (const r of records) {
  const plan = stripPlans.get(r.name);
  const rows = plan ? rowsFor(plan.rows) : defaultRows;
  const alpha = plan?.alpha ?? Number(args.alpha);
  const alphas = linspace(-alpha, alpha, Number(args.steps));
  const testEps = await encodePixels(glow, batchPixels(test, rows), batch);
  const latents = testEps.flatMap((e) => alphas.map((a) => addScaled(e, [{ alpha: a, vector: r.vector }])));
  const images = splitImages(await decodeLatents(glow, latents, batch));
  const file = path.join(args.strips!, `${manifest.name}-${r.name}.png`);
  await writeFile(file, await imagesToPng(images, { height, width, channels }, { cols: alphas.length, scale: 2 }));
}
log(
  `wrote ${records.length} strips to ${args.strips} (${args.steps} columns from −α to +α: α ${args.alpha} for the pixel attributes, ${classAlpha} for the digit pairs, ${2 * classAlpha} for to-K)`,
);
process.exit(0);
