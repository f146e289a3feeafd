// ONNX Runtime's session options for the encode graph, side by side in one run: intra-op threads,
// spinning, graph optimisation level, a fixed or dynamic batch dimension, the memory arena. Every
// configuration gets its own session and they take turns, so a change in the machine's load hits all
// alike; medians at batch 1 and 64. What src/inference/engines.ts uses is the first row.
//   npm run bench:onnx [-- --model models/mnist --reps 15]
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { fingerprintOf } from '../src/attributes/builtin.ts';
import { batchPixels } from '../src/data/dataset.ts';
import { loadDataset } from '../src/data/datasets.ts';
import { initBackend } from '../src/backend/backend.ts';
import { checkpointFromFiles, readCheckpointFiles } from '../src/glow/checkpoint.ts';
import { onnxModels } from '../src/glow/onnx-export.ts';
import { modelUnits } from '../src/glow/pixels.ts';
import { sessionOptions } from '../src/inference/engines.ts';

const { values: args } = parseArgs({ options: { model: { type: 'string', default: 'models/mnist' }, reps: { type: 'string', default: '15' } } });
await initBackend('cpu');
const files = await readCheckpointFiles(args.model!);
const { glow, manifest } = checkpointFromFiles(files, args.model!);
const { encode } = onnxModels(glow, fingerprintOf(files.weights), manifest.name);
const { height, width, channels, nBits } = glow.config;
const test = loadDataset(manifest.dataset, 'test');
const input = (n: number) => new ort.Tensor('float32', modelUnits(batchPixels(test, Array.from({ length: n }, (_, i) => i)), nBits), [n, height, width, channels]);

type Options = ort.InferenceSession.SessionOptions;
const chosen = sessionOptions({ threads: 2 }) as Options;
const spinning = { extra: { session: { intra_op: { allow_spinning: '1' } } } };
const configs: [string, Options, number?][] = [
  ['chosen: 2 threads, no spinning, level all, dynamic batch, arena', chosen],
  ['1 thread', { ...chosen, intraOpNumThreads: 1 }],
  ['2 threads, spinning', { ...chosen, ...spinning }],
  ['level extended (no NCHWc layout)', { ...chosen, graphOptimizationLevel: 'extended' }],
  ['level basic', { ...chosen, graphOptimizationLevel: 'basic' }],
  ['no memory arena, no memory pattern', { ...chosen, enableCpuMemArena: false, enableMemPattern: false }],
  // A batch dimension fixed at session creation: one session per batch size.
  ['fixed batch dimension (N = 1)', { ...chosen, freeDimensionOverrides: { N: 1 } }, 1],
  ['fixed batch dimension (N = 64)', { ...chosen, freeDimensionOverrides: { N: 64 } }, 64],
];
const sessions = await Promise.all(configs.map(([, o]) => ort.InferenceSession.create(encode, o)));
const times = configs.map(() => ({ 1: [] as number[], 64: [] as number[] }));
const reps = Number(args.reps);
const inputs = { 1: input(1), 64: input(64) };
for (let r = -1; r < reps; r++)
  for (const [i, s] of sessions.entries())
    for (const n of [1, 64] as const) {
      if (configs[i][2] !== undefined && configs[i][2] !== n) continue;
      if (n === 64 && r >= Math.ceil(reps / 2)) continue;
      const t0 = performance.now();
      await s.run({ x: inputs[n] });
      if (r >= 0) times[i][n].push(performance.now() - t0); // r = −1 is the warm-up
    }
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
console.log(`encode, ${args.model}, ONNX Runtime ${ort.env.versions.common}; medians of ${reps} runs at batch 1 and ${Math.ceil(reps / 2)} at batch 64, configurations taking turns:`);
for (const [i, [label]] of configs.entries()) {
  const b1 = times[i][1].length ? `${median(times[i][1]).toFixed(2)} ms` : '–';
  const b64 = times[i][64].length ? `${((64 * 1000) / median(times[i][64])).toFixed(0)} images/s` : '–';
  console.log(`  ${label.padEnd(66)} batch 1: ${b1.padStart(9)}   batch 64: ${b64.padStart(14)}`);
}
await Promise.all(sessions.map((s) => s.release()));
