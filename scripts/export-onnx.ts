// Writes a checkpoint's encode and decode graphs as ONNX files next to it (encode.onnx, decode.onnx),
// built by the model's layers from its weights, with the weights' sha256 in their metadata.
//   npm run export:onnx -- --model models/mnist [--out dir]
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fingerprintOf } from '../src/attributes/builtin.ts';
import { initBackend } from '../src/backend/backend.ts';
import { checkpointFromFiles, readCheckpointFiles } from '../src/glow/checkpoint.ts';
import { DECODE_ONNX, ENCODE_ONNX, onnxModels } from '../src/glow/onnx-export.ts';

const { values: args } = parseArgs({ options: { model: { type: 'string', default: 'models/mnist' }, out: { type: 'string' } } });
const dir = args.model!;
const out = args.out ?? dir;
await initBackend('cpu');
const files = await readCheckpointFiles(dir);
const { glow, manifest } = checkpointFromFiles(files, dir);
const fingerprint = fingerprintOf(files.weights);
const models = onnxModels(glow, fingerprint, manifest.name);
for (const [file, bytes] of [
  [ENCODE_ONNX, models.encode],
  [DECODE_ONNX, models.decode],
] as const) {
  await writeFile(path.join(out, file), bytes);
  console.log(`${path.join(out, file)}: ${(bytes.length / 2 ** 20).toFixed(1)} MiB, weights ${fingerprint.slice(0, 16)}`);
}
