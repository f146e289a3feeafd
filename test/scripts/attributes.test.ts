// npm run attributes on the tiny checkpoint: the file it writes is what the server loads.
import { execFile } from 'node:child_process';
import { cpSync, existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { loadBuiltinAttributes, weightsFingerprint } from '../../src/attributes/builtin.ts';
import { tempDir, tinyModelDir } from '../fixtures/app.ts';

t.test('writes attributes.safetensors for the weights, and one strip per attribute', async (t) => {
  const dir = tempDir(t, 'glow-serve-attr-script-');
  const modelDir = path.join(dir, 'model');
  cpSync(await tinyModelDir(), modelDir, { recursive: true });
  const strips = path.join(dir, 'strips');
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', 'scripts/attributes.ts', '--model', modelDir, '--per-class', '6', '--strips', strips, '--steps', '3'],
    {
      env: { ...process.env, GLOW_BACKEND: 'cpu' },
    },
  );
  t.match(stdout, /wrote .*attributes\.safetensors: 18 attributes/);
  const { attributes, warnings } = await loadBuiltinAttributes(
    modelDir,
    784,
    await weightsFingerprint(path.join(modelDir, 'weights.safetensors')),
  );
  t.same(warnings, []);
  const names = [...attributes.keys()].sort();
  for (const n of ['to-0', 'to-9', 'digit-3-to-8', 'thickness', 'slant', 'width']) t.ok(names.includes(n), n);
  t.equal(attributes.get('to-3')!.positive, 6);
  t.ok(attributes.get('thickness')!.norm > 0);
  t.equal(readdirSync(strips).length, 18);
  t.ok(existsSync(path.join(strips, 'tiny-slant.png')));
});
