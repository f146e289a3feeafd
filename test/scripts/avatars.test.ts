// scripts/avatars.ts --grid: the faces of a split, or with --without the faces A of the evaluation's pairs.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { attributePair, hasAttribute } from '../../src/data/avatars/labels.ts';
import { renderAvatars } from '../../src/data/avatars/render.ts';
import { splitSeeds } from '../../src/data/avatars/splits.ts';
import { decodePng } from '../fixtures/app.ts';

const run = promisify(execFile);
const dir = mkdtempSync(path.join(os.tmpdir(), 'glow-avatars-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

t.test('--grid --without smiling writes the evaluation faces A, without a smile', async (t) => {
  const seeds = [...splitSeeds('test', 4)];
  const file = path.join(dir, 'faces.png');
  const out = await run(process.execPath, [
    '--import',
    'tsx',
    'scripts/avatars.ts',
    '--grid',
    file,
    '--n',
    '4',
    '--split',
    'test',
    '--scale',
    '1',
    '--without',
    'smiling',
  ]);
  t.match(out.stdout, /wrote .*faces\.png: 4 test faces/);
  const grid = await decodePng(readFileSync(file));
  t.same([grid.width, grid.height], [2 * 32 + 3 * 2, 2 * 32 + 3 * 2], 'a 2 × 2 grid');
  const want = await renderAvatars(seeds.map((s) => attributePair(s, 'smiling').without));
  const tile = (i: number) => {
    const px = new Uint8Array(32 * 32 * 3);
    const [x0, y0] = [2 + (i % 2) * 34, 2 + Math.floor(i / 2) * 34];
    for (let y = 0; y < 32; y++)
      px.set(grid.pixels.subarray(((y0 + y) * grid.width + x0) * 3, ((y0 + y) * grid.width + x0 + 32) * 3), y * 32 * 3);
    return px;
  };
  for (let i = 0; i < 4; i++) t.same(tile(i), want.subarray(i * 32 * 32 * 3, (i + 1) * 32 * 32 * 3), `face ${i} is A of seed ${seeds[i]}`);
  t.ok(seeds.every((s) => !hasAttribute(attributePair(s, 'smiling').without, 'smiling')));
  await t.rejects(
    run(process.execPath, ['--import', 'tsx', 'scripts/avatars.ts', '--grid', file, '--n', '1', '--without', 'smile']),
    /unknown attribute "smile"/,
  );
});
