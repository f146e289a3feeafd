// Built-in directions shipped with a checkpoint: `<model dir>/attributes.safetensors`, one F32
// tensor of shape [latentDim] per attribute, and in the safetensors metadata:
//   attributes: JSON {name: {positive, negative, description, createdAt}}
//   weights_sha256: the fingerprint of the weights the directions were computed with.
// Written by `npm run attributes`; the server only reads it.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { decodeSafetensors, encodeSafetensors, type NamedArray } from '../glow/safetensors.ts';
import { norm } from './vectors.ts';
import { ATTRIBUTE_NAME, type AttributeRecord } from './store.ts';

export const BUILTIN_FILE = 'attributes.safetensors';

export interface BuiltinLoad {
  attributes: Map<string, AttributeRecord>;
  /** Why nothing or less was loaded, for the log. */
  warnings: string[];
}

/** sha256 (hex) of a checkpoint's weights file: identifies the latent space directions belong to. */
export async function weightsFingerprint(weightsFile: string): Promise<string> {
  return fingerprintOf(await readFile(weightsFile));
}

/** The same, of the weights file's bytes. */
export function fingerprintOf(weights: Uint8Array): string {
  return createHash('sha256').update(weights).digest('hex');
}

/** Reads the built-ins; a missing file is no error (a new checkpoint has none yet). */
export async function loadBuiltinAttributes(modelDir: string, latentDim: number, fingerprint: string): Promise<BuiltinLoad> {
  const file = path.join(modelDir, BUILTIN_FILE);
  const attributes = new Map<string, AttributeRecord>();
  const warnings: string[] = [];
  if (!existsSync(file)) return { attributes, warnings };
  const { tensors, metadata } = decodeSafetensors(await readFile(file));
  // Directions of an older checkpoint point nowhere useful in a retrained one.
  if (metadata.weights_sha256 && metadata.weights_sha256 !== fingerprint) {
    warnings.push(
      `${file} was computed for other weights (sha256 ${metadata.weights_sha256.slice(0, 12)}…, serving ${fingerprint.slice(0, 12)}…); ignoring it — rerun npm run attributes`,
    );
    return { attributes, warnings };
  }
  let info: Record<string, Partial<AttributeRecord>> = {};
  try {
    info = JSON.parse(metadata.attributes ?? '{}');
  } catch {
    warnings.push(`${file}: metadata "attributes" is not JSON; using defaults`);
  }
  for (const [name, t] of tensors) {
    if (!ATTRIBUTE_NAME.test(name)) {
      warnings.push(`${file}: skipping "${name}", not a valid attribute name`);
      continue;
    }
    if (t.data.length !== latentDim) {
      warnings.push(`${file}: skipping "${name}", it has ${t.data.length} values, the model ${latentDim}`);
      continue;
    }
    const meta = info[name] ?? {};
    attributes.set(name, {
      name,
      vector: t.data,
      positive: Number(meta.positive ?? 0),
      negative: Number(meta.negative ?? 0),
      norm: norm(t.data),
      createdAt: String(meta.createdAt ?? metadata.created_at ?? new Date(0).toISOString()),
      ...(meta.description ? { description: String(meta.description) } : {}),
    });
  }
  return { attributes, warnings };
}

/** Serialises built-ins for the checkpoint directory (used by scripts/attributes.ts). */
export function encodeBuiltinAttributes(records: AttributeRecord[], fingerprint: string): Buffer {
  const tensors = new Map<string, NamedArray>();
  const info: Record<string, Omit<AttributeRecord, 'vector' | 'name' | 'norm'>> = {};
  for (const r of records) {
    if (!ATTRIBUTE_NAME.test(r.name)) throw new Error(`invalid attribute name "${r.name}"`);
    tensors.set(r.name, { data: r.vector, shape: [r.vector.length] });
    info[r.name] = {
      positive: r.positive,
      negative: r.negative,
      createdAt: r.createdAt,
      ...(r.description ? { description: r.description } : {}),
    };
  }
  return encodeSafetensors(tensors, { attributes: JSON.stringify(info), weights_sha256: fingerprint });
}
