import t, { type Test } from 'tap';
import sharp from 'sharp';
import { DomainError } from '../../src/errors.ts';
import { httpErrorOf } from '../../src/server/errors.ts';
import { composeGrid, decodeImage, encodePng, imagesToPng } from '../../src/images/images.ts';
import { png16, pngHeaderOnly } from '../fixtures/images.ts';

const grey = { height: 4, width: 4, channels: 1 };
const rgb = { height: 4, width: 4, channels: 3 };
const LIMIT = 1_000_000;
const ramp = Uint8Array.from({ length: 16 }, (_, i) => i * 16);

async function rejects(t: Pick<Test, 'type' | 'equal' | 'match'>, p: Promise<unknown>, status: number, message: RegExp) {
  const err = await p.then(
    () => undefined,
    (e) => e,
  );
  // The domain's error, and the status the server maps it to.
  t.type(err, DomainError);
  t.equal(httpErrorOf(err).statusCode, status);
  t.match(err?.message, message);
}

t.test('grey PNG round trip at the model size is exact and not resized', async (t) => {
  const png = await encodePng(ramp, grey);
  t.equal((await sharp(png).metadata()).channels, 1, 'grey stays one channel');
  const d = await decodeImage(png, grey, LIMIT);
  t.same(Array.from(d.pixels), Array.from(ramp));
  t.equal(d.resized, false);
  t.same(d.original, { width: 4, height: 4, format: 'png' });
});

t.test('colour -> grey and grey -> colour, alpha onto black, 16-bit to 8-bit', async (t) => {
  const red = await sharp({ create: { width: 4, height: 4, channels: 3, background: { r: 255, g: 0, b: 0 } } })
    .png()
    .toBuffer();
  const g = await decodeImage(red, grey, LIMIT);
  t.equal(g.pixels.length, 16);
  t.ok(g.pixels[0] > 40 && g.pixels[0] < 140, `red as grey: ${g.pixels[0]}`);
  const c = await decodeImage(await encodePng(ramp, grey), rgb, LIMIT);
  t.equal(c.pixels.length, 48);
  t.same(Array.from(c.pixels.subarray(0, 6)), [0, 0, 0, 16, 16, 16]);
  const transparent = await sharp({ create: { width: 4, height: 4, channels: 4, background: { r: 255, g: 255, b: 255, alpha: 0 } } })
    .png()
    .toBuffer();
  t.same(Array.from((await decodeImage(transparent, grey, LIMIT)).pixels), new Array(16).fill(0));
  const deep = png16(4, 4, (x) => x * 0x4000 + (x === 3 ? 0x3fff : 0));
  t.equal((await sharp(deep).metadata()).depth, 'ushort');
  t.same(Array.from((await decodeImage(deep, grey, LIMIT)).pixels.subarray(0, 4)), [0, 64, 128, 255], '16-bit scaled to 8-bit');
});

t.test('other sizes are resized (aspect kept) and reported', async (t) => {
  const wide = await sharp({ create: { width: 40, height: 20, channels: 3, background: '#ffffff' } })
    .jpeg()
    .toBuffer();
  const d = await decodeImage(wide, grey, LIMIT);
  t.equal(d.resized, true);
  t.same(d.original, { width: 40, height: 20, format: 'jpeg' });
  t.equal(d.pixels.length, 16);
  // Letterboxed: the top and bottom rows are black bars, the middle white.
  t.equal(d.pixels[0], 0);
  t.ok(d.pixels[4 * 1 + 1] > 200);
});

t.test('bad files are refused with the right status', async (t) => {
  const png = await encodePng(ramp, grey);
  await rejects(t, decodeImage(Buffer.alloc(0), grey, LIMIT), 400, /empty/);
  await rejects(t, decodeImage(Buffer.from('GIF89a but not really'), grey, LIMIT, 'upload'), 415, /^upload is not a readable image/);
  await rejects(t, decodeImage(png.subarray(0, png.length - 20), grey, LIMIT), 400, /corrupt or truncated/);
  await rejects(t, decodeImage(await sharp(png).gif().toBuffer(), grey, LIMIT), 415, /gif, which is not accepted/);
  await rejects(t, decodeImage(await sharp(png).tiff().toBuffer(), grey, LIMIT), 415, /tiff/);
  await rejects(t, decodeImage(pngHeaderOnly(50_000, 50_000), grey, LIMIT), 413, /50000×50000 = 2500000000 pixels; the limit is 1000000/);
  const pages = await sharp(Buffer.alloc(4 * 8 * 3, 128), { raw: { width: 4, height: 8, channels: 3, pageHeight: 4 } })
    .tiff()
    .toBuffer();
  t.equal((await sharp(pages).metadata()).pages, 2);
  await rejects(t, decodeImage(pages, grey, LIMIT), 415, /tiff/);
});

t.test('grids and strips', async (t) => {
  const a = new Uint8Array(16).fill(10);
  const b = new Uint8Array(16).fill(200);
  const g = composeGrid([a, b, a], grey, { pad: 1, padValue: 0 });
  // 3 images -> 2 columns, 2 rows: 2·4 + 3·1 = 11 each way.
  t.same([g.size.width, g.size.height], [11, 11]);
  t.equal(g.pixels[1 * 11 + 1], 10);
  t.equal(g.pixels[1 * 11 + 6], 200);
  t.equal(g.pixels[0], 0);
  const strip = composeGrid([a, b, a], grey, { cols: 3, pad: 2 });
  t.same([strip.size.width, strip.size.height], [3 * 4 + 4 * 2, 4 + 2 * 2]);
  const one = await imagesToPng([a], grey, { scale: 3 });
  t.same([(await sharp(one).metadata()).width, (await sharp(one).metadata()).height], [12, 12]);
});
