// ONNX Runtime's graphs and session options side by side in one run: intra-op threads, graph
// optimisation level, the memory arena, a fixed or dynamic batch dimension, and with --baseline DIR an
// earlier export of the graphs (npm run export:onnx -- --out DIR on an earlier commit) under the
// options it shipped with. Every configuration has its own sessions and they take turns, encode and
// decode, so a change in the machine's load hits all alike; medians, and the median of the per-round
// ratios to the first row. The engine itself runs one-thread sessions on lanes, a batch cut over them
// (src/inference/onnx-lanes.ts; `npm run bench` measures it); the rows here compare one session's
// options. Spinning intra-op threads are left out: after a run they keep spinning and slow whichever
// session runs next.
//   npm run bench:onnx [-- --model models/mnist --reps 21 --batches 1,2,4,16,64 --baseline DIR --only 0,1]
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { fingerprintOf } from '../src/attributes/builtin.ts';
import { batchPixels } from '../src/data/dataset.ts';
import { loadDataset } from '../src/data/datasets.ts';
import { initBackend } from '../src/backend/backend.ts';
import { checkpointFromFiles, readCheckpointFiles } from '../src/glow/checkpoint.ts';
import { onnxModels, type OnnxModels } from '../src/glow/onnx-export.ts';
import { modelUnits } from '../src/glow/pixels.ts';
import { sessionOptions } from '../src/inference/onnx-lanes.ts';

/** The engine's sessions before it cut batches over lanes: one intra-op thread up to this batch, two above. */
const ONE_THREAD_BATCH = 2;

const { values: args } = parseArgs({
  options: {
    model: { type: 'string', default: 'models/mnist' },
    reps: { type: 'string', default: '21' },
    batches: { type: 'string', default: '1,2,4,16,64' },
    baseline: { type: 'string' },
    only: { type: 'string' },
  },
});
await initBackend('cpu');
const files = await readCheckpointFiles(args.model!);
const { glow, manifest } = checkpointFromFiles(files, args.model!);
const current = onnxModels(glow, fingerprintOf(files.weights), manifest.name);
const { height, width, channels, nBits } = glow.config;
const test = loadDataset(manifest.dataset, 'test');
const batches = args.batches!.split(',').map(Number);

type Options = ort.InferenceSession.SessionOptions;
const options = (threads: number, extra: Options = {}): Options => ({ ...(sessionOptions({ threads }) as Options), ...extra });
/** A configuration: its graphs and, per batch size, its session options (undefined: not measured at that size). */
interface Config {
  label: string;
  graphs: Pick<OnnxModels, 'encode' | 'decode'>;
  options: (n: number) => Options | undefined;
}
const configs: Config[] = [];
if (args.baseline) {
  const graphs = {
    encode: readFileSync(path.join(args.baseline, 'encode.onnx')),
    decode: readFileSync(path.join(args.baseline, 'decode.onnx')),
  };
  configs.push({ label: `baseline: ${args.baseline}, 2 threads`, graphs, options: () => options(2) });
}
configs.push(
  {
    label: `1 thread up to batch ${ONE_THREAD_BATCH}, else 2`,
    graphs: current,
    options: (n) => options(n <= ONE_THREAD_BATCH ? 1 : 2),
  },
  { label: '2 threads at every batch size', graphs: current, options: () => options(2) },
  { label: '1 thread at every batch size', graphs: current, options: () => options(1) },
  {
    label: `1 thread up to batch ${ONE_THREAD_BATCH}, else 2, level extended (no NCHWc layout)`,
    graphs: current,
    options: (n) => options(n <= ONE_THREAD_BATCH ? 1 : 2, { graphOptimizationLevel: 'extended' }),
  },
  {
    label: `1 thread up to batch ${ONE_THREAD_BATCH}, else 2, no memory arena or pattern`,
    graphs: current,
    options: (n) => options(n <= ONE_THREAD_BATCH ? 1 : 2, { enableCpuMemArena: false, enableMemPattern: false }),
  },
  // A batch dimension fixed at session creation: one session per batch size.
  {
    label: `1 thread up to batch ${ONE_THREAD_BATCH}, else 2, batch dimension fixed`,
    graphs: current,
    options: (n) => options(n <= ONE_THREAD_BATCH ? 1 : 2, { freeDimensionOverrides: { N: n } }),
  },
);
const selected = args.only ? configs.filter((_, i) => args.only!.split(',').map(Number).includes(i)) : configs;

const reps = Number(args.reps);
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const rows: string[] = [];
for (const n of batches) {
  const x = new ort.Tensor(
    'float32',
    modelUnits(
      batchPixels(
        test,
        Array.from({ length: n }, (_, i) => i),
      ),
      nBits,
    ),
    [n, height, width, channels],
  );
  // One session per distinct (graph, options) at this batch size.
  const sessions = await Promise.all(
    selected.map(async (c) => {
      const o = c.options(n);
      return (
        o && {
          encode: await ort.InferenceSession.create(c.graphs.encode, o),
          decode: await ort.InferenceSession.create(c.graphs.decode, o),
        }
      );
    }),
  );
  const eps = (await sessions.find((s) => s)!.encode.run({ x })).eps;
  const times = selected.map(() => ({ encode: [] as number[], decode: [] as number[] }));
  const rounds = n <= 4 ? reps : Math.ceil(reps / 2);
  for (let r = -1; r < rounds; r++)
    for (const [i, s] of sessions.entries()) {
      if (!s) continue;
      for (const op of ['encode', 'decode'] as const) {
        const t0 = performance.now();
        await s[op].run(op === 'encode' ? { x } : { eps });
        if (r >= 0) times[i][op].push(performance.now() - t0); // r = −1 is the warm-up
      }
    }
  await Promise.all(sessions.map((s) => s && Promise.all([s.encode.release(), s.decode.release()])));
  for (const op of ['encode', 'decode'] as const)
    for (const [i, c] of selected.entries()) {
      const t = times[i][op];
      if (!t.length) continue;
      const ratio = i === 0 ? '' : `  ×${median(t.map((v, k) => v / times[0][op][k])).toFixed(2)} per round`;
      rows.push(
        `  ${op} batch ${String(n).padStart(2)}  ${c.label.padEnd(50)} ${median(t).toFixed(2).padStart(8)} ms ${((n * 1000) / median(t)).toFixed(0).padStart(6)} images/s${ratio}`,
      );
    }
}
console.log(
  `${args.model}, ONNX Runtime ${ort.env.versions.common}; medians of ${reps} rounds up to batch 4, ${Math.ceil(reps / 2)} above, configurations taking turns; ×: the median ratio to the first row of the same round:`,
);
for (const r of rows) console.log(r);
process.exit(0);
