// Model time per image on each checkpoint, in the inference worker the server uses: median worker ms
// of encode and decode batches of 1, 8, 16 and 64 images. The slowest per-image figure at a full
// batch sets GLOW_MAX_WORK's default (src/server/config.ts): about 2 s of model time per request.
//   npx tsx scripts/work-cost.ts [-- --models models/mnist,models/avatars --reps 5]
import { parseArgs } from 'node:util';
import { InferenceClient } from '../src/inference/inference-client.ts';
import { normalArray } from '../src/glow/random.ts';

const { values: args } = parseArgs({
  options: {
    models: { type: 'string', default: 'models/mnist,models/avatars' },
    reps: { type: 'string', default: '5' },
    batches: { type: 'string', default: '1,8,16,64' },
  },
});
const reps = Number(args.reps);
const batches = args.batches!.split(',').map(Number);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

for (const dir of args.models!.split(',')) {
  const client = new InferenceClient({ modelDir: dir, backend: 'auto', log: (_level, msg) => console.error(msg) });
  const info = await client.whenReady();
  const { height, width, channels } = info.config;
  const size = height * width * channels;
  console.log(`${dir} (${info.backend}, ${height}×${width}×${channels}, latent ${info.latentDim})`);
  console.log('batch | encode ms/batch | encode ms/image | decode ms/batch | decode ms/image');
  for (const n of batches) {
    const enc: number[] = [];
    const dec: number[] = [];
    for (let r = 0; r <= reps; r++) {
      const pixels = new Uint8Array(n * size).map((_, i) => (i * 37) % 256);
      const e = await client.encode(n, pixels);
      const d = await client.decode(n, Float64Array.from(normalArray(n * info.latentDim, r, 0.7)));
      if (r > 0) {
        // The first round warms this batch shape up.
        enc.push(e.ms);
        dec.push(d.ms);
      }
    }
    const [em, dm] = [median(enc), median(dec)];
    console.log(`${n} | ${em.toFixed(1)} | ${(em / n).toFixed(2)} | ${dm.toFixed(1)} | ${(dm / n).toFixed(2)}`);
  }
  await client.close();
}
