// Built-in attribute directions for a checkpoint trained on the generated avatars, from labelled
// training faces (Glow §5.2): direction = mean ε(faces with the attribute) − mean ε(faces without).
// For the hair attributes (blond-hair, long-hair) only faces without a hat count: a hat hides the hair.
// Writes <model>/attributes.safetensors (read by the server at start) and one strip PNG per attribute
// (rows: test faces; columns: alpha from −alpha to +alpha, the original in the middle).
//   npm run attributes:avatars -- --model models/avatars --images 4000 --alpha 1 --strips docs/attributes
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BUILTIN_FILE, encodeBuiltinAttributes } from '../src/attributes/builtin.ts';
import type { AttributeRecord } from '../src/attributes/store.ts';
import { addScaled, direction, linspace, norm } from '../src/attributes/vectors.ts';
import { ATTRIBUTES } from '../src/data/avatars/attributes.ts';
import { avatarLabels } from '../src/data/avatars/labels.ts';
import { avatarOptions } from '../src/data/avatars/options.ts';
import { renderAvatars } from '../src/data/avatars/render.ts';
import { splitSeeds } from '../src/data/avatars/splits.ts';
import { openAvatarsModel } from '../src/eval/avatars-model.ts';
import { decodeLatents, encodePixels } from '../src/eval/latents.ts';
import { writeFileAtomic } from '../src/glow/checkpoint.ts';
import { imagesToPng } from '../src/images/images.ts';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string', default: 'models/avatars' },
    images: { type: 'string', default: '4000' },
    alpha: { type: 'string', default: '1' },
    steps: { type: 'string', default: '7' },
    strips: { type: 'string', default: 'docs/attributes' },
    'strip-images': { type: 'string', default: '4' },
    batch: { type: 'string', default: '64' },
  },
});

const log = (m: string) => console.log(m);
const modelDir = args.model!;
const { glow, manifest, fingerprint } = await openAvatarsModel(modelDir, log);
const { height, width, channels } = glow.config;
if (!manifest.dataset.startsWith('avatars')) log(`note: ${modelDir} was trained on ${manifest.dataset}, not the avatars`);
const batch = Number(args.batch);

// The first N training faces, rendered from their seeds (the same pixels as the cached training split).
const seeds = splitSeeds('train', Number(args.images));
const options = [...seeds].map((s) => avatarOptions(s));
const labels = options.map(avatarLabels);
const t0 = performance.now();
const eps = await encodePixels(glow, await renderAvatars(options, height), batch);
log(
  `encoded ${eps.length} training faces (seeds ${seeds[0]}…${seeds[seeds.length - 1]}) in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
);

const hatColumn = ATTRIBUTES.findIndex((a) => a.name === 'hat');
const createdAt = new Date().toISOString();
const records: AttributeRecord[] = [];
for (const [k, a] of ATTRIBUTES.entries()) {
  const usable = eps.map((_, i) => i).filter((i) => !a.hiddenByHat || labels[i][hatColumn] === 0);
  const pos = usable.filter((i) => labels[i][k] === 1);
  const neg = usable.filter((i) => labels[i][k] === 0);
  if (pos.length === 0 || neg.length === 0)
    throw new Error(`${a.name}: ${pos.length} faces with it and ${neg.length} without among ${eps.length}; use more --images`);
  const v = direction(
    pos.map((i) => eps[i]),
    neg.map((i) => eps[i]),
  );
  const description = `${a.description}: mean ε with − mean ε without${a.hiddenByHat ? ' (faces without a hat)' : ''}`;
  records.push({ name: a.name, vector: v, positive: pos.length, negative: neg.length, norm: norm(v), createdAt, description });
  log(`${a.name.padEnd(12)} |d| = ${norm(v).toFixed(2)}  (${pos.length} vs ${neg.length})`);
}

const out = path.join(modelDir, BUILTIN_FILE);
await writeFileAtomic(out, encodeBuiltinAttributes(records, fingerprint));
log(`wrote ${out}: ${records.length} attributes for weights ${fingerprint.slice(0, 16)}`);

// Strips to look at: does each direction do what its name says?
const stripSeeds = [...splitSeeds('test', Number(args['strip-images']))];
const stripEps = await encodePixels(glow, await renderAvatars(stripSeeds.map(avatarOptions), height), batch);
const alphas = linspace(-Number(args.alpha), Number(args.alpha), Number(args.steps));
const size = height * width * channels;
await mkdir(args.strips!, { recursive: true });
for (const r of records) {
  const latents = stripEps.flatMap((e) => alphas.map((alpha) => addScaled(e, [{ alpha, vector: r.vector }])));
  const pixels = await decodeLatents(glow, latents, batch);
  const images = latents.map((_, i) => pixels.subarray(i * size, (i + 1) * size));
  const file = path.join(args.strips!, `${manifest.name}-${r.name}.png`);
  await writeFile(file, await imagesToPng(images, { height, width, channels }, { cols: alphas.length, scale: 2, padValue: 255 }));
}
log(`wrote ${records.length} strips to ${args.strips} (alpha ${alphas.map((a) => a.toFixed(2)).join(', ')})`);
process.exit(0);
