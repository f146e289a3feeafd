// PNG without libvips for the two hot paths, where sharp's per-call cost (~0.5 ms of CPU for a
// 28×28 image, on threads that compete with the model for the same cores) dwarfs the work:
//  - encodeRawPng: pixels -> PNG (filter 0 rows + zlib), for every image reply;
//  - decodePlainPng: a plain 8-bit PNG already at the model's geometry -> pixels. Anything else
//    (other sizes, bit depths, palettes, alpha, interlacing, colour-management chunks, a bad CRC,
//    a short or long stream) returns undefined and goes through sharp, which also owns every error
//    message. So this path can only accept what sharp would decode to the same bytes.
import { deflate, deflateSync, inflateSync } from 'node:zlib';
import { promisify } from 'node:util';

const deflateAsync = promisify(deflate);
const SIGNATURE = Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]);
/** Raw sizes up to this are compressed on the calling thread (tens of µs); larger ones on the pool. */
const SYNC_LIMIT = 256 * 1024;
/** Chunks that do not change what the pixels mean. Any other chunk sends the file to sharp. */
const HARMLESS = new Set(['IHDR', 'IDAT', 'IEND', 'tEXt', 'zTXt', 'iTXt', 'tIME', 'pHYs']);

const CRC_TABLE = Int32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c;
});

function crc32(buf: Uint8Array, start: number, end: number): number {
  let c = -1;
  for (let i = start; i < end; i++) c = CRC_TABLE[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out, 4, 8 + data.length), 8 + data.length);
  return out;
}

/** 8-bit grey (1 channel) or RGB (3 channels) pixels, row-major -> PNG bytes. */
export async function encodeRawPng(pixels: Uint8Array, width: number, height: number, channels: 1 | 3): Promise<Buffer> {
  const stride = width * channels;
  const raw = Buffer.alloc(height * (stride + 1));
  for (let y = 0; y < height; y++) raw.set(pixels.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1); // filter byte 0
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = channels === 1 ? 0 : 2; // grey / RGB
  const idat = raw.length <= SYNC_LIMIT ? deflateSync(raw) : await deflateAsync(raw);
  return Buffer.concat([SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', Buffer.alloc(0))]);
}

/**
 * The pixels of a plain PNG (8-bit grey for channels = 1, 8-bit RGB for channels = 3, not
 * interlaced, exactly width × height, only harmless ancillary chunks, every CRC right), or
 * undefined for anything else.
 */
export function decodePlainPng(buf: Uint8Array, width: number, height: number, channels: number): Uint8Array | undefined {
  if (channels !== 1 && channels !== 3) return undefined;
  if (buf.length < 8 + 25 + 12 || !SIGNATURE.equals(Buffer.from(buf.buffer, buf.byteOffset, 8))) return undefined;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const idat: Uint8Array[] = [];
  let pos = 8;
  let first = true;
  let ended = false;
  while (pos + 12 <= buf.length) {
    const len = view.getUint32(pos);
    if (len > buf.length - pos - 12) return undefined;
    const type = String.fromCharCode(buf[pos + 4], buf[pos + 5], buf[pos + 6], buf[pos + 7]);
    if (view.getUint32(pos + 8 + len) !== crc32(buf, pos + 4, pos + 8 + len)) return undefined;
    if (!HARMLESS.has(type) || (first && type !== 'IHDR')) return undefined;
    const data = buf.subarray(pos + 8, pos + 8 + len);
    if (type === 'IHDR') {
      if (!first || len !== 13) return undefined;
      const d = new DataView(data.buffer, data.byteOffset, 13);
      const colourType = channels === 1 ? 0 : 2;
      // width, height, bit depth 8, colour type, compression 0, filter 0, no interlace
      if (
        d.getUint32(0) !== width ||
        d.getUint32(4) !== height ||
        data[8] !== 8 ||
        data[9] !== colourType ||
        data[10] !== 0 ||
        data[11] !== 0 ||
        data[12] !== 0
      )
        return undefined;
    } else if (type === 'IDAT') idat.push(data);
    first = false;
    pos += 12 + len;
    if (type === 'IEND') {
      ended = true;
      break;
    }
  }
  if (!ended || pos !== buf.length || idat.length === 0) return undefined;
  const stride = width * channels;
  const expected = height * (stride + 1);
  let raw: Buffer;
  try {
    raw = inflateSync(Buffer.concat(idat), { maxOutputLength: expected + 1 });
  } catch {
    return undefined;
  }
  if (raw.length !== expected) return undefined;
  return unfilter(raw, width, height, channels);
}

/** Undoes the per-row PNG filters (None, Sub, Up, Average, Paeth) for 8-bit samples. */
function unfilter(raw: Uint8Array, width: number, height: number, bpp: number): Uint8Array | undefined {
  const stride = width * bpp;
  const out = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const src = y * (stride + 1) + 1;
    const row = y * stride;
    const prev = row - stride;
    for (let i = 0; i < stride; i++) {
      const x = raw[src + i];
      const a = i >= bpp ? out[row + i - bpp] : 0;
      const b = y > 0 ? out[prev + i] : 0;
      const c = i >= bpp && y > 0 ? out[prev + i - bpp] : 0;
      let v: number;
      switch (filter) {
        case 0:
          v = x;
          break;
        case 1:
          v = x + a;
          break;
        case 2:
          v = x + b;
          break;
        case 3:
          v = x + ((a + b) >> 1);
          break;
        case 4: {
          const p = a + b - c;
          const pa = Math.abs(p - a);
          const pb = Math.abs(p - b);
          const pc = Math.abs(p - c);
          v = x + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
          break;
        }
        default:
          return undefined;
      }
      out[row + i] = v & 0xff;
    }
  }
  return out;
}
