// What every avatars script starts with: the backend, the SVG renderer, and a checkpoint that is
// really a square-RGB (avatars) model, with the fingerprint its attribute directions are tied to.
import path from 'node:path';
import { weightsFingerprint } from '../attributes/builtin.ts';
import { initRenderer } from '../data/avatars/render.ts';
import { initBackend } from '../backend/backend.ts';
import { WEIGHTS_FILE, loadCheckpoint } from '../glow/checkpoint.ts';

export async function openAvatarsModel(modelDir: string, log: (m: string) => void) {
  await initBackend(undefined, log);
  await initRenderer();
  const { glow, manifest } = await loadCheckpoint(modelDir);
  const { height, width, channels } = glow.config;
  if (channels !== 3 || height !== width)
    throw new Error(`${modelDir} is a ${height}×${width}×${channels} model, not one trained on the avatars (square RGB)`);
  const fingerprint = await weightsFingerprint(path.join(modelDir, WEIGHTS_FILE));
  return { glow, manifest, fingerprint };
}
