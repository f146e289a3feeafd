// Attribute manipulation measured against ground truth, on a checkpoint trained on the avatars.
// For held-out faces and each built-in direction (<model>/attributes.safetensors, from
// npm run attributes:avatars): render the face without the attribute (A) and the same face with it (B);
// encode A, move α along the direction, decode to A′; report
//   ratio = mean |A′ − B| / mean |A − B|   (per pixel and channel; 1.0 = no progress, 0 = perfect)
// split into the error inside the region where A and B differ and outside it (drift), beside the floor
// under it (B's style, which hat, which long hair, is random, so no edit of A can expect to reach 0) and
// the ratio of pixel arithmetic without a model (A + α·mean(B − A) of the validation pairs), and with
// --fit-pairs N the ratio of the best single direction (fitted through the decoder on N training pairs:
// how far any direction of this model can go, whatever the labelled sets);
// α is chosen per attribute on validation faces (grid search, smallest ratio), then the ratio is
// measured on test faces. Then the same edit in passes (src/attributes/passes.ts: α/k at a time, through
// 8-bit pixels between passes), α and pass size chosen together on the validation faces.
// Writes a strip per attribute (rows: test faces; columns A, A′ in one pass, A′ in passes, B) and the
// results as JSON.
//   npm run eval:attributes -- --model models/avatars [--seeds 200] [--val-seeds 100] [--alphas 0:3:0.25]
//                              [--pass-sizes 0.05,0.1 | none] [--fit-pairs 2000 --fit-steps 400]
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadBuiltinAttributes } from '../src/attributes/builtin.ts';
import { ATTRIBUTE_NAMES } from '../src/data/avatars/attributes.ts';
import { openAvatarsModel } from '../src/eval/avatars-model.ts';
import { encodePixels } from '../src/eval/latents.ts';
import {
  chooseAlpha,
  choosePasses,
  edit,
  fitDirection,
  parseAlphas,
  pixelArithmetic,
  renderPairs,
  score,
  styleFloor,
} from '../src/eval/manipulation.ts';
import { imagesToPng } from '../src/images/images.ts';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string', default: 'models/avatars' },
    seeds: { type: 'string', default: '200' },
    'val-seeds': { type: 'string', default: '100' },
    alphas: { type: 'string', default: '0:3:0.25' },
    'pass-sizes': { type: 'string', default: '0.05,0.1' },
    attributes: { type: 'string' },
    out: { type: 'string', default: 'docs/attributes' },
    'strip-rows': { type: 'string', default: '6' },
    batch: { type: 'string', default: '50' },
    'fit-pairs': { type: 'string', default: '0' },
    'fit-steps': { type: 'string', default: '400' },
    'fit-lr': { type: 'string', default: '0.01' },
  },
});

const log = (m: string) => console.log(m);
const modelDir = args.model!;
const { glow, manifest, fingerprint } = await openAvatarsModel(modelDir, log);
const { height, width, channels } = glow.config;
const { attributes: builtins, warnings } = await loadBuiltinAttributes(modelDir, glow.latentDim, fingerprint);
for (const w of warnings) log(`warning: ${w}`);
const wanted = args.attributes ? args.attributes.split(',') : ATTRIBUTE_NAMES.filter((a) => builtins.has(a));
for (const a of wanted) {
  if (!ATTRIBUTE_NAMES.includes(a)) throw new Error(`unknown attribute "${a}" (the avatars have ${ATTRIBUTE_NAMES.join(', ')})`);
  if (!builtins.has(a))
    throw new Error(`${modelDir} has no built-in direction "${a}": run npm run attributes:avatars -- --model ${modelDir}`);
}
if (wanted.length === 0)
  throw new Error(`${modelDir} has no avatar attribute directions: run npm run attributes:avatars -- --model ${modelDir}`);

const alphas = parseAlphas(args.alphas!);
const batch = Number(args.batch);
const nTest = Number(args.seeds);
const nVal = Number(args['val-seeds']);
const fitPairs = Number(args['fit-pairs']);
const fitSteps = Number(args['fit-steps']);
const passSizes = args['pass-sizes'] === 'none' ? [] : parseAlphas(args['pass-sizes']!);
const stripRows = Math.min(Number(args['strip-rows']), nTest);
const imageSize = { height, width, channels };
const px = height * width * channels;
await mkdir(args.out!, { recursive: true });
log(`${manifest.name}: ${wanted.length} attributes, α grid ${alphas.join(', ')} on ${nVal} validation faces, ratio on ${nTest} test faces`);

interface Row {
  attribute: string;
  alpha: number;
  validationRatio: number;
  testRatio: number;
  /** The test ratio split: pixels where A and B differ, and pixels where they agree. */
  testInside: number;
  testOutside: number;
  testImproved: number;
  /** The least ratio an edit can expect that does not know which style B drew (see styleFloor). */
  styleFloor: number;
  /** The same pairs edited without a model: A + α·mean(B − A) of the validation pairs (α chosen there too). */
  pixelArithmetic: { alpha: number; testRatio: number };
  /** The edit in passes: α and the α of one pass (passSize) chosen on validation faces, then scored on the test faces. */
  inPasses?: {
    alpha: number;
    passSize: number;
    passes: number;
    validationRatio: number;
    testRatio: number;
    testInside: number;
    testOutside: number;
    curves: { passSize: number; curve: { alpha: number; ratio: number }[] }[];
  };
  /** With --fit-pairs: the direction fitted through the decoder on training pairs (see fitDirection). */
  fitted?: { pairs: number; steps: number; alpha: number; validationRatio: number; testRatio: number };
  pairs: number;
  directionNorm: number;
  curve: { alpha: number; ratio: number }[];
}
const rows: Row[] = [];
const started = performance.now();
for (const attribute of wanted) {
  const vector = builtins.get(attribute)!.vector;
  const val = await renderPairs(attribute, 'validation', nVal, height);
  const search = await chooseAlpha(glow, val, vector, alphas, batch);
  const test = await renderPairs(attribute, 'test', nTest, height);
  const eps = await encodePixels(glow, test.without, batch);
  const edited = await edit(glow, eps, vector, search.alpha, batch);
  const s = score(edited, test);
  const floor = await styleFloor(test);
  const pixels = pixelArithmetic(val, test, alphas);
  let inPasses: Row['inPasses'];
  let editedInPasses: Uint8Array | undefined;
  if (passSizes.length > 0) {
    const p = await choosePasses(glow, val, vector, alphas, passSizes, batch);
    editedInPasses = await edit(glow, eps, vector, p.alpha, batch, p.passes);
    const t = score(editedInPasses, test);
    inPasses = {
      alpha: p.alpha,
      passSize: p.passSize,
      passes: p.passes,
      validationRatio: p.score.ratio,
      testRatio: t.ratio,
      testInside: t.inside,
      testOutside: t.outside,
      curves: p.curves,
    };
  }
  let fitted: Row['fitted'];
  if (fitPairs > 0) {
    const train = await renderPairs(attribute, 'train', fitPairs, height);
    const d = await fitDirection(glow, train, vector, { steps: fitSteps, lr: Number(args['fit-lr']), batch: 32, seed: 1 }, (step, loss) => {
      if (step % 100 === 0) log(`  ${attribute}: fitting, step ${step}/${fitSteps}, batch error ${loss.toFixed(3)} grey levels`);
    });
    const fit = await chooseAlpha(glow, val, d, alphas, batch);
    fitted = {
      pairs: fitPairs,
      steps: fitSteps,
      alpha: fit.alpha,
      validationRatio: fit.score.ratio,
      testRatio: score(await edit(glow, eps, d, fit.alpha, batch), test).ratio,
    };
  }
  rows.push({
    attribute,
    alpha: search.alpha,
    validationRatio: search.score.ratio,
    testRatio: s.ratio,
    testInside: s.inside,
    testOutside: s.outside,
    testImproved: s.improved,
    styleFloor: floor,
    pixelArithmetic: { alpha: pixels.alpha, testRatio: pixels.test.ratio },
    inPasses,
    fitted,
    pairs: nTest,
    directionNorm: builtins.get(attribute)!.norm,
    curve: search.curve,
  });
  const passNote = inPasses
    ? `; in ${inPasses.passes} passes of ${inPasses.passSize}: validation ${inPasses.validationRatio.toFixed(3)}, test ${inPasses.testRatio.toFixed(3)} = ${inPasses.testInside.toFixed(3)} + ${inPasses.testOutside.toFixed(3)}`
    : '';
  const fitNote = fitted ? `; fitted direction ${fitted.testRatio.toFixed(3)} at α ${fitted.alpha}` : '';
  log(
    `${attribute.padEnd(12)} α ${search.alpha.toFixed(2)}  validation ${search.score.ratio.toFixed(3)}  test ${s.ratio.toFixed(3)} = ${s.inside.toFixed(3)} inside + ${s.outside.toFixed(3)} outside (${(100 * s.improved).toFixed(0)}% of faces closer to B; floor ${floor.toFixed(3)}; pixel arithmetic ${pixels.test.ratio.toFixed(3)} at α ${pixels.alpha}${passNote}${fitNote})`,
  );

  // Strip: A, A′ in one pass, A′ in passes (when measured), B for the first test faces.
  const tile = (buf: Uint8Array, i: number) => buf.subarray(i * px, (i + 1) * px);
  const columns = [test.without, edited, ...(editedInPasses ? [editedInPasses] : []), test.with];
  const images: Uint8Array[] = [];
  for (let i = 0; i < stripRows; i++) images.push(...columns.map((c) => tile(c, i)));
  const file = path.join(args.out!, `${manifest.name}-eval-${attribute}.png`);
  await writeFile(file, await imagesToPng(images, imageSize, { cols: columns.length, scale: 3, padValue: 255 }));
}

const seconds = (performance.now() - started) / 1000;
const table = [
  '| attribute | α (validation) | ratio, validation | ratio, test | inside | outside | test faces closer to B | floor | pixel arithmetic, test | in passes: α, pass size | in passes: ratio, test | fitted direction, test |',
  '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ...rows.map(
    (r) =>
      `| ${r.attribute} | ${r.alpha.toFixed(2)} | ${r.validationRatio.toFixed(3)} | ${r.testRatio.toFixed(3)} | ${r.testInside.toFixed(3)} | ${r.testOutside.toFixed(3)} | ${(100 * r.testImproved).toFixed(0)}% | ${r.styleFloor.toFixed(3)} | ${r.pixelArithmetic.testRatio.toFixed(3)} | ${r.inPasses ? `${r.inPasses.alpha} in ${r.inPasses.passes} × ${r.inPasses.passSize}` : '–'} | ${r.inPasses ? r.inPasses.testRatio.toFixed(3) : '–'} | ${r.fitted ? r.fitted.testRatio.toFixed(3) : '–'} |`,
  ),
];
console.log(
  `\nratio = mean |A′ − B| / mean |A − B| on ${nTest} test faces (1.0 = no progress, 0 = perfect), α chosen on ${nVal} validation faces;`,
);
console.log('inside + outside = ratio: the error on pixels where A and B differ, and on pixels where they agree (drift);');
console.log(
  'floor: the least ratio an edit can expect that draws the attribute perfectly but cannot know which style (hat, hair…) B drew;',
);
console.log('pixel arithmetic: A + α·mean(B − A) of the validation pairs, no model (what the latent edit has to beat);');
console.log(
  'in passes: the same direction, α/k at a time with an 8-bit image between passes (α and pass size chosen on the validation faces);',
);
console.log(
  'fitted direction (--fit-pairs): the single direction that does best on training pairs, fitted through the decoder (how far any direction of this model goes)\n',
);
console.log(table.join('\n'));
const json = path.join(args.out!, `${manifest.name}-eval.json`);
await writeFile(
  json,
  JSON.stringify(
    {
      model: manifest.name,
      steps: manifest.steps,
      testSeeds: nTest,
      validationSeeds: nVal,
      alphas,
      seconds: Number(seconds.toFixed(1)),
      date: new Date().toISOString(),
      results: rows,
    },
    null,
    2,
  ) + '\n',
);
console.log(
  `\nwrote ${json} and ${rows.length} strips (columns: A, A′ in one pass${passSizes.length > 0 ? ', A′ in passes' : ''}, B) to ${args.out} in ${seconds.toFixed(0)} s`,
);
process.exit(0);
