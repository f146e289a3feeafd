// The safetensors format (https://huggingface.co/docs/safetensors): an 8-byte little-endian
// header length, a JSON header {name: {dtype, shape, data_offsets}, __metadata__}, then the raw
// little-endian data. Only F32 is used here. Readable by the Python `safetensors` package.

export interface NamedArray {
  data: Float32Array;
  shape: number[];
}

export function encodeSafetensors(tensors: Map<string, NamedArray>, metadata: Record<string, string> = {}): Buffer {
  const names = [...tensors.keys()].sort();
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const name of names) {
    const { data, shape } = tensors.get(name)!;
    if (data.length !== shape.reduce((a, b) => a * b, 1)) throw new Error(`${name}: ${data.length} values for shape [${shape}]`);
    header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + data.byteLength] };
    offset += data.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8); // keeps the data 8-byte aligned
  const headerBytes = Buffer.from(json, 'utf8');
  const out = Buffer.alloc(8 + headerBytes.length + offset);
  out.writeBigUInt64LE(BigInt(headerBytes.length), 0);
  headerBytes.copy(out, 8);
  let at = 8 + headerBytes.length;
  for (const name of names) {
    const { data } = tensors.get(name)!;
    Buffer.from(data.buffer, data.byteOffset, data.byteLength).copy(out, at);
    at += data.byteLength;
  }
  return out;
}

/** A header as written: tensor entries, and the metadata strings under `__metadata__`. */
interface SafetensorsHeader {
  [name: string]: { dtype: string; shape: number[]; data_offsets: [number, number] } | Record<string, string> | undefined;
  __metadata__?: Record<string, string>;
}
type TensorEntry = { dtype: string; shape: number[]; data_offsets: [number, number] };

function readHeader(buf: Buffer): { header: SafetensorsHeader; base: number } {
  if (buf.length < 8) throw new Error('not a safetensors file: shorter than its header length');
  const headerLength = Number(buf.readBigUInt64LE(0));
  if (8 + headerLength > buf.length) throw new Error('not a safetensors file: header runs past the end');
  return { header: JSON.parse(buf.subarray(8, 8 + headerLength).toString('utf8')) as SafetensorsHeader, base: 8 + headerLength };
}

/** Just the `__metadata__` strings, without copying any tensor. */
export function safetensorsMetadata(buf: Buffer): Record<string, string> {
  return readHeader(buf).header.__metadata__ ?? {};
}

export function decodeSafetensors(buf: Buffer): { tensors: Map<string, NamedArray>; metadata: Record<string, string> } {
  const { header, base } = readHeader(buf);
  const tensors = new Map<string, NamedArray>();
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const info = entry as TensorEntry;
    if (info.dtype !== 'F32') throw new Error(`${name}: dtype ${info.dtype} is not supported (F32 only)`);
    const [begin, end] = info.data_offsets;
    if (base + end > buf.length || end - begin !== 4 * info.shape.reduce((a, b) => a * b, 1))
      throw new Error(`${name}: data offsets do not match its shape`);
    // Copy: the source buffer may not be 4-byte aligned.
    const data = new Float32Array(new Uint8Array(buf.subarray(base + begin, base + end)).buffer);
    tensors.set(name, { data, shape: info.shape });
  }
  return { tensors, metadata: header.__metadata__ ?? {} };
}
