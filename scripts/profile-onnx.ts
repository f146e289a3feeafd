// Where the ONNX graphs spend their time: ONNX Runtime's own profiler on the encode and decode graphs
// of a checkpoint, with the session options the engine uses, and the kernel time summed per operator
// type (after ONNX Runtime's graph optimisations: FusedConv, NchwcConv, ReorderInput, …), at batch 1
// and 64. --optimized DIR also writes the graphs as ONNX Runtime rewrote them, for inspection;
// --from DIR profiles an earlier export (npm run export:onnx -- --out DIR) instead of the current graphs.
//   npm run profile:onnx [-- --model models/mnist --reps 20 --threads 2 --optimized /tmp/opt --from DIR]
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { fingerprintOf } from '../src/attributes/builtin.ts';
import { initBackend } from '../src/backend/backend.ts';
import { batchPixels } from '../src/data/dataset.ts';
import { loadDataset } from '../src/data/datasets.ts';
import { checkpointFromFiles, readCheckpointFiles } from '../src/glow/checkpoint.ts';
import { onnxModels } from '../src/glow/onnx-export.ts';
import { modelUnits } from '../src/glow/pixels.ts';
import { OnnxEngine } from '../src/inference/engines.ts';
import { sessionOptions } from '../src/inference/onnx-lanes.ts';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string', default: 'models/mnist' },
    reps: { type: 'string', default: '20' },
    optimized: { type: 'string' },
    threads: { type: 'string', default: '2' },
    from: { type: 'string' },
  },
});
await initBackend('cpu');
const files = await readCheckpointFiles(args.model!);
const { glow, manifest } = checkpointFromFiles(files, args.model!);
const models = args.from
  ? { encode: readFileSync(path.join(args.from, 'encode.onnx')), decode: readFileSync(path.join(args.from, 'decode.onnx')) }
  : onnxModels(glow, fingerprintOf(files.weights), manifest.name);
const { height, width, channels, nBits } = glow.config;
const test = loadDataset(manifest.dataset, 'test');
const reps = Number(args.reps);
const dir = mkdtempSync(path.join(tmpdir(), 'glow-profile-'));

interface Event {
  cat: string;
  name: string;
  dur: number;
  args?: { op_name?: string };
}

for (const graph of ['encode', 'decode'] as const) {
  const engine = await OnnxEngine.create(glow, '', 'profile', { threads: Number(args.threads) }); // gives decode its latents
  for (const n of [1, 64]) {
    const x = modelUnits(
      batchPixels(
        test,
        Array.from({ length: n }, (_, i) => i),
      ),
      nBits,
    );
    const feeds: Record<string, ort.Tensor> =
      graph === 'encode'
        ? { x: new ort.Tensor('float32', x, [n, height, width, channels]) }
        : { eps: new ort.Tensor('float32', (await engine.encode(n, x)).eps, [n, glow.latentDim]) };
    const options: ort.InferenceSession.SessionOptions = {
      ...(sessionOptions({ threads: Number(args.threads) }) as ort.InferenceSession.SessionOptions),
      enableProfiling: true,
      profileFilePrefix: path.join(dir, `${graph}-${n}`),
      ...(args.optimized && n === 1 ? { optimizedModelFilePath: path.join(args.optimized, `${graph}.optimized.onnx`) } : {}),
    };
    const session = await ort.InferenceSession.create(models[graph], options);
    await session.run(feeds); // warm-up
    const t0 = performance.now();
    for (let r = 0; r < reps; r++) await session.run(feeds);
    const wall = (performance.now() - t0) / reps;
    session.endProfiling();
    await session.release();
    const file = readdirSync(dir).find((f) => f.startsWith(`${graph}-${n}`))!;
    const events = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as Event[];
    // Node kernel times of the timed runs (the first run's are the warm-up's: skipped by count).
    const kernels = events.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time'));
    const perRun = kernels.length / (reps + 1);
    const timed = kernels.slice(perRun);
    const byType = new Map<string, { us: number; count: number }>();
    for (const e of timed) {
      const type = e.args?.op_name ?? '?';
      const s = byType.get(type) ?? { us: 0, count: 0 };
      s.us += e.dur;
      s.count++;
      byType.set(type, s);
    }
    const total = [...byType.values()].reduce((a, b) => a + b.us, 0) / reps;
    console.log(
      `\n${graph}, batch ${n}: ${wall.toFixed(2)} ms per run (wall, mean of ${reps}), kernels ${(total / 1000).toFixed(2)} ms, ${perRun} nodes per run`,
    );
    for (const [type, s] of [...byType].sort((a, b) => b[1].us - a[1].us))
      console.log(
        `  ${type.padEnd(22)} ${(s.us / reps / 1000).toFixed(3).padStart(8)} ms ${((100 * s.us) / reps / total).toFixed(1).padStart(5)} %  ${String(s.count / reps).padStart(4)} nodes`,
      );
  }
  await engine.close();
}
rmSync(dir, { recursive: true });
process.exit(0);
