// The libvips-free PNG paths: the encoder's files read back exactly (by sharp), and the plain-PNG
// decoder gives sharp's bytes for everything it accepts and declines everything else.
import { deflateSync } from 'node:zlib';
import t from 'tap';
import sharp, { type Sharp } from 'sharp';
import { decodePlainPng, encodeRawPng } from '../../src/images/png.ts';
import { encodePng, upscale } from '../../src/images/images.ts';
import { pngHeaderOnly, png16 } from '../fixtures/images.ts';
import { mnistImage } from '../fixtures/mnist.ts';

function noise(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

async function viaSharp(png: Uint8Array, channels: 1 | 3): Promise<Uint8Array> {
  let img = sharp(png);
  img = channels === 1 ? img.toColourspace('b-w') : img.toColourspace('srgb');
  const { data } = await img.removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return new Uint8Array(data);
}

const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  let c = 0xffffffff;
  for (const x of td) c = crcTable[(c ^ x) & 0xff] ^ (c >>> 8);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE((c ^ 0xffffffff) >>> 0);
  return Buffer.concat([len, td, crc]);
}

/** A PNG whose every row uses `filter` (0–4), written by hand. */
function filteredPng(pixels: Uint8Array, w: number, h: number, bpp: 1 | 3, filter: number, extra: Buffer[] = [], headerHeight = h): Buffer {
  const stride = w * bpp;
  const raw = Buffer.alloc(h * (stride + 1));
  for (let y = 0; y < h; y++) {
    raw[y * (stride + 1)] = filter;
    for (let i = 0; i < stride; i++) {
      const x = pixels[y * stride + i];
      const a = i >= bpp ? pixels[y * stride + i - bpp] : 0;
      const b = y > 0 ? pixels[(y - 1) * stride + i] : 0;
      const c = i >= bpp && y > 0 ? pixels[(y - 1) * stride + i - bpp] : 0;
      const p = a + b - c;
      const pred = [
        0,
        a,
        b,
        (a + b) >> 1,
        Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c) ? a : Math.abs(p - b) <= Math.abs(p - c) ? b : c,
      ][filter];
      raw[y * (stride + 1) + 1 + i] = (x - pred) & 0xff;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(headerHeight, 4);
  ihdr[8] = 8;
  ihdr[9] = bpp === 1 ? 0 : 2;
  return Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk('IHDR', ihdr),
    ...extra,
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

t.test('the encoder: grey stays grey, RGB stays RGB, pixels read back exactly, big images too', async (t) => {
  for (const [w, h, c] of [
    [28, 28, 1],
    [28, 28, 3],
    [1, 1, 1],
    [700, 500, 3], // over the synchronous limit: compressed on the pool
  ] as [number, number, 1 | 3][]) {
    const px = noise(w * h * c, w + h + c);
    const png = await encodeRawPng(px, w, h, c);
    const meta = await sharp(png).metadata();
    t.same([meta.width, meta.height, meta.channels, meta.depth], [w, h, c, 'uchar'], `${w}×${h}×${c}`);
    t.ok(Buffer.from(await viaSharp(png, c)).equals(Buffer.from(px)), `${w}×${h}×${c} pixels exact`);
  }
  const digit = mnistImage(4);
  const big = await encodePng(digit, { width: 28, height: 28, channels: 1 }, 3);
  const m = await sharp(big).metadata();
  t.same([m.width, m.height, m.channels], [84, 84, 1], 'scale 3');
  const want = upscale(digit, { width: 28, height: 28, channels: 1 }, 3).pixels;
  t.equal(want[0 * 84 + 0], digit[0]);
  t.equal(want[(3 * 5 + 2) * 84 + 3 * 7 + 1], digit[5 * 28 + 7], 'each pixel becomes a 3×3 block');
  t.ok(Buffer.from(await viaSharp(big, 1)).equals(Buffer.from(want)));
});

t.test('the plain decoder agrees with sharp on everything it accepts', async (t) => {
  const cases: [string, Buffer, 1 | 3][] = [];
  for (let i = 0; i < 20; i++) {
    const raw = Buffer.from(mnistImage(i));
    cases.push([
      `MNIST ${i} written by sharp (adaptive filters)`,
      await sharp(raw, { raw: { width: 28, height: 28, channels: 1 } })
        .toColourspace('b-w')
        .png({ adaptiveFiltering: true })
        .toBuffer(),
      1,
    ]);
  }
  cases.push([
    'noise written by sharp',
    await sharp(Buffer.from(noise(784, 9)), { raw: { width: 28, height: 28, channels: 1 } })
      .toColourspace('b-w')
      .png({ adaptiveFiltering: true, compressionLevel: 9 })
      .toBuffer(),
    1,
  ]);
  cases.push([
    'RGB noise written by sharp',
    await sharp(Buffer.from(noise(784 * 3, 5)), { raw: { width: 28, height: 28, channels: 3 } })
      .png({ adaptiveFiltering: true })
      .toBuffer(),
    3,
  ]);
  for (let f = 0; f <= 4; f++) {
    cases.push([`grey, every row filter ${f}`, filteredPng(noise(784, 100 + f), 28, 28, 1, f), 1]);
    cases.push([`RGB, every row filter ${f}`, filteredPng(noise(784 * 3, 200 + f), 28, 28, 3, f), 3]);
  }
  cases.push([
    'with tEXt and pHYs chunks',
    filteredPng(noise(784, 3), 28, 28, 1, 4, [
      chunk('tEXt', Buffer.from('Comment\0hello')),
      chunk('pHYs', Buffer.from([0, 0, 11, 19, 0, 0, 11, 19, 1])),
    ]),
    1,
  ]);
  cases.push(['our own encoder', await encodeRawPng(mnistImage(7), 28, 28, 1), 1]);
  for (const [what, png, c] of cases) {
    const fast = decodePlainPng(png, 28, 28, c);
    t.ok(fast, `${what}: accepted`);
    t.ok(fast && Buffer.from(fast).equals(Buffer.from(await viaSharp(png, c))), `${what}: same bytes as sharp`);
  }
});

t.test('the plain decoder declines everything else (sharp decides those)', async (t) => {
  const digit = Buffer.from(mnistImage(1));
  const grey = (img: Sharp) => img.toColourspace('b-w');
  const base = () => sharp(digit, { raw: { width: 28, height: 28, channels: 1 } });
  const good = filteredPng(noise(784, 1), 28, 28, 1, 1);
  const badCrc = Buffer.from(good);
  badCrc[40] ^= 0xff; // inside IDAT
  const ihdrEnd = 8 + 25;
  const declined: [string, Uint8Array, number][] = [
    ['another size', await grey(base().resize(30, 30)).png().toBuffer(), 1],
    ['RGB when the model is grey', await base().toColourspace('srgb').png().toBuffer(), 1],
    ['grey when the model is RGB', good, 3],
    ['palette', await grey(base()).png({ palette: true }).toBuffer(), 1],
    [
      'alpha',
      await base()
        .joinChannel(Buffer.alloc(784, 255), { raw: { width: 28, height: 28, channels: 1 } })
        .png()
        .toBuffer(),
      1,
    ],
    ['16-bit', png16(28, 28, () => 1000), 1],
    ['interlaced', await grey(base()).png({ progressive: true }).toBuffer(), 1],
    ['a gAMA chunk', filteredPng(noise(784, 2), 28, 28, 1, 0, [chunk('gAMA', Buffer.from([0, 0, 0xb1, 0x8f]))]), 1],
    ['a tRNS chunk', filteredPng(noise(784, 2), 28, 28, 1, 0, [chunk('tRNS', Buffer.from([0, 0]))]), 1],
    ['a bad CRC', badCrc, 1],
    ['truncated', good.subarray(0, good.length - 20), 1],
    ['trailing bytes', Buffer.concat([good, Buffer.from('junk')]), 1],
    ['no IEND', good.subarray(0, good.length - 12), 1],
    [
      'IDAT before IHDR',
      Buffer.concat([
        good.subarray(0, 8),
        good.subarray(ihdrEnd, good.length - 12),
        good.subarray(8, ihdrEnd),
        good.subarray(good.length - 12),
      ]),
      1,
    ],
    ['a bomb header', pngHeaderOnly(50_000, 50_000), 1],
    ['an unknown filter type', filteredPng(noise(784, 1), 28, 28, 1, 5), 1],
    ['JPEG', await base().jpeg().toBuffer(), 1],
    ['empty', Buffer.alloc(0), 1],
    ['random bytes', Buffer.from(noise(500, 4)), 1],
  ];
  // Valid CRCs, but the stream inflates to one row more, or one row less, than IHDR says.
  declined.push(['a row too many in the stream', filteredPng(noise(29 * 28, 6), 28, 29, 1, 0, [], 28), 1]);
  declined.push(['a row too few in the stream', filteredPng(noise(27 * 28, 6), 28, 27, 1, 0, [], 28), 1]);
  for (const [what, png, c] of declined) t.equal(decodePlainPng(png, 28, 28, c), undefined, what);
});
