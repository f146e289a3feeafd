// Writes a grid of samples from a checkpoint as a PNG, to look at (and for the README).
//   npm run samples -- --model models/mnist --t 0.7 --n 64 --seed 1 --out docs/mnist-samples.png
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend } from '../src/backend/backend.ts';
import { loadCheckpoint } from '../src/glow/checkpoint.ts';
import { quantise } from '../src/glow/pixels.ts';
import { imagesToPng } from '../src/images/images.ts';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string', default: 'models/mnist' },
    t: { type: 'string', default: '0.7' },
    n: { type: 'string', default: '64' },
    seed: { type: 'string', default: '1' },
    scale: { type: 'string', default: '2' },
    out: { type: 'string' },
  },
});
await initBackend();
const { glow, manifest } = await loadCheckpoint(args.model!);
const n = Number(args.n);
const { height, width, channels, nBits } = glow.config;
const x = glow.sample(n, Number(args.t), Number(args.seed));
const pixels = quantise((await x.data()) as Float32Array, nBits);
const size = height * width * channels;
const images = Array.from({ length: n }, (_, i) => pixels.subarray(i * size, (i + 1) * size));
const out = args.out ?? path.join('docs', `${manifest.name}-samples-t${args.t}.png`);
await mkdir(path.dirname(out), { recursive: true });
await writeFile(out, await imagesToPng(images, { height, width, channels }, { scale: Number(args.scale) }));
console.log(`wrote ${out}: ${n} samples at t=${args.t} from ${manifest.name} (step ${manifest.steps})`);
process.exit(0);
