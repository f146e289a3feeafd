// The page at `/` in a real browser: Debian's chromium driven by playwright-core (never a downloaded
// browser) against the app listening on loopback. Moves the temperature slider, draws a digit,
// teaches an attribute from uploaded images and moves its slider, checks the error messages, and
// asserts that the images change and that the console stays clean. Saves a screenshot. Then a
// second server with two models: the model picker switches between them and survives a reload.
//
// The shipped checkpoint (models/mnist) is used when present, so the screenshot shows real digits
// and is written to docs/page.png; without it a tiny untrained checkpoint stands in and the
// screenshot goes to $TMPDIR/glow-serve-page.png. GLOW_E2E_MODEL_DIR picks another checkpoint,
// GLOW_E2E_SCREENSHOT another screenshot path.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import type { FastifyInstance } from 'fastify';
import type { BrowserContext, Page } from 'playwright-core';
import { buildApp } from '../../src/server/app.ts';
import { mnistImage, mnistOfDigit } from '../fixtures/mnist.ts';
import { digitPhoto } from '../../src/eval/digit-photo.ts';
import { makeTinyCheckpoint } from '../fixtures/model.ts';

const CHROMIUM = '/usr/bin/chromium';
const ROOT = path.resolve(import.meta.dirname, '../..');
const SHIPPED = path.join(ROOT, 'models/mnist');
const STEP_TIMEOUT = 20_000;

if (!existsSync(CHROMIUM) && !process.env.CI) {
  t.plan(0, `${CHROMIUM} is absent; install it with "apt-get install -y chromium" (CI installs it in .ci/run)`);
} else {
  await main();
}

async function main(): Promise<void> {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'glow-e2e-'));
  // Undone in reverse: the browser, then the server, then the temp directory.
  const cleanup: (() => unknown)[] = [() => rmSync(tmp, { recursive: true, force: true })];
  t.teardown(async () => {
    for (const undo of cleanup.reverse()) await undo();
  });

  const override = process.env.GLOW_E2E_MODEL_DIR;
  const shipped = !override && existsSync(path.join(SHIPPED, 'manifest.json'));
  const modelDir = override ? path.resolve(override) : shipped ? SHIPPED : await makeTinyCheckpoint(path.join(tmp, 'model'));
  const screenshot =
    process.env.GLOW_E2E_SCREENSHOT ?? (shipped ? path.join(ROOT, 'docs/page.png') : path.join(os.tmpdir(), 'glow-serve-page.png'));
  t.comment(`model: ${modelDir}`);

  // A small per-file limit so the "too large" message can be provoked with a modest upload.
  const maxFileBytes = 200 * 1024;
  const app: FastifyInstance = await buildApp({
    config: { modelDir, dataDir: path.join(tmp, 'data'), maxFileBytes },
    waitForModel: true,
  });
  cleanup.push(() => app.close());
  const base = await app.listen({ host: '127.0.0.1', port: 0 });

  const files = await writeFixtures(path.join(tmp, 'files'), maxFileBytes);

  const { chromium } = await import('playwright-core');
  const context: BrowserContext = await chromium.launchPersistentContext(path.join(tmp, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1280, height: 900 },
    deviceScaleFactor: 1,
  });
  cleanup.push(() => context.close());
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(STEP_TIMEOUT);

  const problems = watch(page);
  // What ?model= calls the one checkpoint (servedModels() derives it from the directory's name).
  const modelName: string = (await app.inject({ url: '/model' })).json().model;

  await t.test('loads with a grid of samples and the model line', async (t) => {
    await page.goto(`${base}/?seed=20181107&t=0.7`);
    await page.waitForSelector('body[data-ready="true"]');
    t.equal(await page.locator('#samples img[src^="data:image/png"]').count(), 32, '32 samples shown');
    t.match(await page.textContent('#model-meta'), /28×28/, 'model line names the image size');
    t.equal(await page.isVisible('#model-picker'), true, 'the model picker shows (GET /models exists)');
    t.equal(await page.isDisabled('#model-select'), true, 'but is disabled: there is one model');
    t.same(await optionValues(page), [modelName], `its one option is ${modelName}`);
    await page.waitForFunction(() => document.querySelectorAll('#strip img').length === 7);
    t.pass('blend strip between the first two samples: 7 images between A and B (9 steps)');
  });

  await t.test('temperature slider redraws the batch', async (t) => {
    const before = await srcs(page, '#samples img');
    await page.evaluate(() => document.querySelectorAll('.toast').forEach((n) => n.remove()));
    const box = (await page.locator('#temperature').boundingBox())!;
    // Drag the thumb from its place (0.7 of 1.5) to near the right end, as a person would.
    const y = box.y + box.height / 2;
    await page.mouse.move(box.x + box.width * (0.7 / 1.5), y);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.8, y, { steps: 6 });
    await page.mouse.up();
    const value = await page.inputValue('#temperature');
    t.ok(Number(value) > 0.9, `slider moved to ${value}`);
    await page.waitForFunction((v) => (document.querySelector('#samples') as HTMLElement).dataset.t === String(Number(v)), value);
    await waitIdle(page, '#samples');
    const after = await srcs(page, '#samples img');
    t.equal(after.length, 32);
    const changed = after.filter((s, i) => s !== before[i]).length;
    t.ok(changed >= 24, `${changed}/32 samples changed with the temperature`);
    t.equal(await page.textContent('#temperature-value'), Number(value).toFixed(2), 'the readout follows the slider');
    // The page warns exactly when the server reports NaN/±Inf values in the batch it shows; a sound batch takes the warning down.
    const warnsIffUnsound = async (when: string) => {
      const query = await page.evaluate(() => {
        const d = (document.querySelector('#samples') as HTMLElement).dataset;
        return `n=32&t=${d.t}&seed=${d.seed}&model=${d.model}&format=json`;
      });
      const counts: number[] = await page.evaluate(async (q) => (await (await fetch(`/sample?${q}`)).json()).nonFinite, query);
      const bad = counts.filter((n) => n > 0).length;
      t.equal(
        await page.locator('.toast.warn[data-key="nonfinite"]').count(),
        bad > 0 ? 1 : 0,
        `${when}: ${bad}/32 samples have non-finite values; the page warns iff some do`,
      );
      if (bad > 0)
        t.match(
          await page.textContent('.toast[data-key="nonfinite"] .toast-msg'),
          new RegExp(`^${bad} of the 32 images came out with NaN or infinite values`),
        );
    };
    await warnsIffUnsound(`t = ${value}`);
    await page.fill('#temperature', '0.3');
    await page.waitForFunction(() => (document.querySelector('#samples') as HTMLElement).dataset.t === '0.3');
    await waitIdle(page, '#samples');
    await warnsIffUnsound('t = 0.3');
  });

  await t.test('drawing on the canvas encodes it: reconstruction and bits/dim', async (t) => {
    await drawSeven(page);
    await page.waitForFunction(() => /^\d+\.\d{3}$/.test(document.querySelector('#bpd')!.textContent ?? ''));
    await waitIdle(page, '#recon-fig');
    const bpd = Number(await page.textContent('#bpd'));
    t.ok(bpd > 0 && bpd < 20, `bits/dim ${bpd}`);
    t.match(await page.getAttribute('#recon', 'src'), /^data:image\/png;base64,/, 'reconstruction shown');
    t.equal(
      await page.getAttribute('#edited', 'src'),
      await page.getAttribute('#recon', 'src'),
      'with every slider at 0 the edit is the reconstruction',
    );
    t.equal(await page.isEnabled('#use-a'), true, 'the drawing can become a blend end');
  });

  await t.test('teach an attribute from uploaded images, then its slider edits the digit', async (t) => {
    await page.setInputFiles('#positive-files', files.positive);
    await page.setInputFiles('#negative-files', files.negative);
    t.equal(await page.textContent('.set[data-set="positive"] .set-count'), `${files.positive.length} images`);
    await page.fill('#attr-name', 'e2e-one-vs-zero');
    await page.click('#create-attr');
    const slider = page.locator('.attr[data-name="e2e-one-vs-zero"] input[type="range"]');
    await slider.waitFor();
    t.match(await page.textContent('.toast.ok'), /e2e-one-vs-zero/, 'a success message names the new attribute');
    t.equal(await page.textContent('.set[data-set="positive"] .set-count'), '0 images', 'the sets are cleared');

    const before = await page.getAttribute('#edited', 'src');
    await slider.focus();
    await page.keyboard.press('End');
    t.equal(await slider.inputValue(), '2', 'slider at its end (alpha 2)');
    await page.waitForFunction((b) => document.querySelector('#edited')!.getAttribute('src') !== b, before);
    await waitIdle(page, '#edited-fig');
    t.not(await page.getAttribute('#edited', 'src'), before, 'the edited image changed');
    t.not(await page.getAttribute('#edited', 'src'), await page.getAttribute('#recon', 'src'), 'and differs from the reconstruction');

    // In passes: α = 2 in passes of at most 0.1 is 20 passes, a different image.
    const oneOff = await page.getAttribute('#edited', 'src');
    const request = page.waitForRequest((r) => r.url().includes('/manipulate') && r.method() === 'POST');
    await page.check('#in-passes');
    t.same(JSON.parse((await request).postData()!).passes, 20, 'the page asks for 20 passes');
    await page.waitForFunction((b) => document.querySelector('#edited')!.getAttribute('src') !== b, oneOff);
    await waitIdle(page, '#edited-fig');
    t.not(await page.getAttribute('#edited', 'src'), oneOff, 'the edit in passes differs from the edit in one');
    await page.uncheck('#in-passes');
    await page.waitForFunction((b) => document.querySelector('#edited')!.getAttribute('src') === b, oneOff);
    t.pass('unchecked: the one-pass edit again');
  });

  await t.test('the drawing becomes blend end A', async (t) => {
    const before = await srcs(page, '#strip img');
    await page.click('#use-a');
    await page.waitForFunction(
      (b) => [...document.querySelectorAll('#strip img')].map((i) => i.getAttribute('src')).join() !== b.join(),
      before,
    );
    await waitIdle(page, '#strip');
    t.equal(await page.getAttribute('#slot-a img', 'src'), await page.getAttribute('#recon', 'src'), 'slot A shows the drawing');
    t.equal(await page.locator('#strip img').count(), 7);
  });

  await t.test('a photo of a digit is fitted: the fitted digit and its reconstruction are shown', async (t) => {
    t.equal(await page.isChecked('#fit-uploads'), true, 'fitting is on by default');
    const before = await page.getAttribute('#recon', 'src');
    await page.setInputFiles('#upload', files.photo);
    await page.waitForSelector('#fitted-fig:not([hidden]) img[src^="data:image/png"]');
    await page.waitForFunction((b) => document.querySelector('#recon')!.getAttribute('src') !== b, before);
    await waitIdle(page, '#recon-fig');
    t.match(await page.textContent('#fitted-note'), /inverted/, 'the note says the dark-on-light photo was inverted');
    t.match(await page.textContent('#source-label'), /fitted to the model/);
    const fitted = await decodePage(page, '#fitted');
    t.same([fitted.width, fitted.height], [28, 28], 'the fitted image is the model-sized digit');
    const diff = fitted.pixels.reduce((s, v, i) => s + Math.abs(v - files.photoDigit[i]), 0) / fitted.pixels.length;
    t.ok(diff < 20, `the fitted image is close to the digit in the photo (mean |difference| ${diff.toFixed(2)})`);
    t.match(await page.getAttribute('#recon', 'src'), /^data:image\/png;base64,/, 'a reconstruction is shown');
    const fittedBpd = Number(await page.textContent('#bpd'));
    // The shipped model finds a fitted photo about as likely as an MNIST digit (about 1.2 bits/dim).
    if (shipped) t.ok(fittedBpd < 3, `bits/dim ${fittedBpd}`);

    // Off: the same photo encoded as it is, far from the data, and no fitted image.
    await page.uncheck('#fit-uploads');
    await page.waitForSelector('#fitted-fig', { state: 'hidden' });
    await page.waitForFunction((b) => document.querySelector('#bpd')!.textContent !== b, String(fittedBpd.toFixed(3)));
    await waitIdle(page, '#recon-fig');
    const rawBpd = Number(await page.textContent('#bpd'));
    t.ok(rawBpd > fittedBpd, `unfitted ${rawBpd} bits/dim > fitted ${fittedBpd}`);
    await page.check('#fit-uploads');
    await page.waitForSelector('#fitted-fig:not([hidden])');
    await waitIdle(page, '#recon-fig');
    t.equal(Number(await page.textContent('#bpd')), fittedBpd, 'on again: fitted again');
  });

  await t.test('no console errors so far', async (t) => {
    t.same(problems, [], 'console, page errors and failed requests');
  });

  await t.test('bad uploads get clear messages', async (t) => {
    await dismissToasts(page);
    await page.setInputFiles('#upload', files.notImage);
    await page.waitForSelector('.toast.bad');
    t.equal(await page.textContent('.toast.bad .toast-title'), 'Not an image');
    t.match(await page.textContent('.toast.bad .toast-msg'), /PNG, JPEG or WebP/);

    await dismissToasts(page);
    await page.setInputFiles('#upload', files.tooLarge);
    await page.waitForSelector('.toast.bad');
    t.equal(await page.textContent('.toast.bad .toast-title'), 'Too large');
    t.match(await page.textContent('.toast.bad .toast-msg'), /larger than the limit/);
    await dismissToasts(page);

    // The browser itself logs the 4xx replies; nothing else may have gone wrong.
    const other = problems.filter((p) => !/Failed to load resource: the server responded with a status of (413|415)/.test(p));
    t.same(other, [], 'only the expected 413/415 responses were logged');
  });

  await t.test('screenshot', async (t) => {
    // Stage a representative page: the default temperature, a moderate edit (a built-in attribute
    // when the checkpoint has one), nothing hovered, then photograph the whole page.
    await page.fill('#temperature', '0.7');
    await page.waitForFunction(() => (document.querySelector('#samples') as HTMLElement).dataset.t === '0.7');
    const builtin = page.locator('.attr[data-source="builtin"] input[type="range"]').first();
    if ((await builtin.count()) > 0) {
      await page.fill('.attr[data-name="e2e-one-vs-zero"] input[type="range"]', '0');
      await builtin.fill('1.5');
    } else {
      await page.fill('.attr[data-name="e2e-one-vs-zero"] input[type="range"]', '0.5');
    }
    for (const sel of ['#samples', '#edited-fig', '#strip']) await waitIdle(page, sel);
    await page.mouse.move(0, 0);
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.waitForTimeout(300);
    mkdirSync(path.dirname(screenshot), { recursive: true });
    await page.screenshot({ path: screenshot, fullPage: true });
    t.ok(existsSync(screenshot), `saved ${path.relative(ROOT, screenshot) || screenshot}`);
  });

  await t.test('two models: the picker switches between them', async (t) => {
    // The same first checkpoint as "mnist" (the default), and a tiny one with other weights.
    const second = await makeTinyCheckpoint(path.join(tmp, 'second'), 'second', 8);
    const multi: FastifyInstance = await buildApp({
      config: {
        models: [
          { name: 'mnist', dir: modelDir },
          { name: 'second', dir: second },
        ],
        dataDir: path.join(tmp, 'data-multi'),
      },
      waitForModel: true,
    });
    cleanup.splice(1, 0, () => multi.close()); // closed after the browser, like the first server
    const multiBase = await multi.listen({ host: '127.0.0.1', port: 0 });

    const page2 = await context.newPage();
    page2.setDefaultTimeout(STEP_TIMEOUT);
    const problems2 = watch(page2);
    const apiCalls: string[] = [];
    page2.on('request', (req) => {
      const url = new URL(req.url());
      if (['/model', '/sample', '/attributes', '/interpolate', '/encode', '/decode'].includes(url.pathname))
        apiCalls.push(`${url.pathname}${url.search}`);
    });

    await page2.goto(`${multiBase}/?seed=20181107&t=0.7`);
    await page2.waitForSelector('body[data-ready="true"]');
    t.equal(await page2.isVisible('#model-picker'), true, 'the picker shows');
    t.equal(await page2.isEnabled('#model-select'), true, 'and is enabled');
    t.same(await optionValues(page2), ['mnist', 'second'], 'one option per model, the default first');
    t.equal(await page2.inputValue('#model-select'), 'mnist', 'the default model is selected');
    t.equal(await page2.textContent('#model-meta b'), 'mnist', 'the model line names it');
    t.match(await page2.textContent('h1'), /handwriting/, 'MNIST wording');
    const before = await srcs(page2, '#samples img');

    apiCalls.length = 0;
    await page2.selectOption('#model-select', 'second');
    await page2.waitForSelector('body[data-ready="true"] #samples[data-model="second"]');
    await waitIdle(page2, '#samples');
    const after = await srcs(page2, '#samples img');
    t.equal(after.length, 32, '32 samples');
    const changed = after.filter((s, i) => s !== before[i]).length;
    t.ok(changed >= 24, `${changed}/32 samples changed with the model`);
    t.equal(await page2.textContent('#model-meta b'), 'second', 'the model line names the second model');
    t.equal(new URL(page2.url()).searchParams.get('model'), 'second', 'the page URL keeps ?model=second');
    const calls = apiCalls.filter((c) => /^\/(model|sample|attributes)\?/.test(c));
    t.ok(
      calls.some((c) => c.startsWith('/sample?')) && calls.some((c) => c.startsWith('/model?')),
      `model info and samples were fetched: ${calls.join(' ')}`,
    );
    t.same(
      calls.filter((c) => new URLSearchParams(c.slice(c.indexOf('?'))).get('model') !== 'second'),
      [],
      'every call after the switch names ?model=second',
    );
    await page2.waitForFunction(() => document.querySelectorAll('#strip img').length === 7);
    t.pass("the blend strip is rebuilt from the second model's samples");

    // A drawing is encoded by the second model too.
    apiCalls.length = 0;
    await drawSeven(page2);
    await page2.waitForFunction(() => /^\d+\.\d{3}$/.test(document.querySelector('#bpd')!.textContent ?? ''));
    await waitIdle(page2, '#recon-fig');
    const encodes = apiCalls.filter((c) => c.startsWith('/encode') || c.startsWith('/decode'));
    t.ok(
      encodes.length >= 2 && encodes.every((c) => c.endsWith('?model=second')),
      `the drawing went to the second model: ${encodes.join(' ')}`,
    );

    // A reload keeps the choice (the page reads ?model= from its URL).
    apiCalls.length = 0;
    await page2.reload();
    await page2.waitForSelector('body[data-ready="true"]');
    t.equal(await page2.inputValue('#model-select'), 'second', 'after a reload the second model is still selected');
    t.equal(await page2.textContent('#model-meta b'), 'second', 'and shown');
    t.ok(
      apiCalls.some((c) => c.startsWith('/sample?') && c.includes('model=second')),
      'and sampled',
    );

    t.same(problems2, [], 'console, page errors and failed requests');
    await page2.close();
  });
}

/** Collects console errors and warnings, page errors and failed requests. */
function watch(page: Page): string[] {
  const problems: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error' || msg.type() === 'warning') problems.push(`console.${msg.type()}: ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('requestfailed', (req) => problems.push(`request failed: ${req.url()} ${req.failure()?.errorText}`));
  return problems;
}

/** The values of the model picker's options. */
function optionValues(page: Page): Promise<string[]> {
  return page.$$eval('#model-select option', (options) => options.map((o) => (o as HTMLOptionElement).value));
}

/** The src of every image under `sel`. */
function srcs(page: Page, sel: string): Promise<string[]> {
  return page.$$eval(sel, (imgs) => imgs.map((i) => i.getAttribute('src') ?? ''));
}

/** Waits until the element's request-in-flight marker is gone. */
async function waitIdle(page: Page, sel: string): Promise<void> {
  await page.waitForFunction((s) => !document.querySelector(s)!.classList.contains('busy'), sel);
}

/** The image an <img> shows (a data: URL), decoded: grey stays grey. */
async function decodePage(page: Page, sel: string): Promise<{ pixels: Uint8Array; width: number; height: number }> {
  const src = (await page.getAttribute(sel, 'src')) ?? '';
  const bytes = Buffer.from(src.slice(src.indexOf(',') + 1), 'base64');
  const { data, info } = await sharp(bytes).toColourspace('b-w').raw().toBuffer({ resolveWithObject: true });
  return { pixels: new Uint8Array(data), width: info.width, height: info.height };
}

async function dismissToasts(page: Page): Promise<void> {
  await page.evaluate(() => document.querySelectorAll('.toast').forEach((n) => n.remove()));
}

/** A "7" drawn with the mouse in three strokes' worth of moves. */
async function drawSeven(page: Page): Promise<void> {
  const box = (await page.locator('#pad').boundingBox())!;
  const at = (x: number, y: number) => [box.x + (x / 280) * box.width, box.y + (y / 280) * box.height] as const;
  await page.mouse.move(...at(70, 62));
  await page.mouse.down();
  await page.mouse.move(...at(205, 58), { steps: 12 });
  await page.mouse.move(...at(190, 110), { steps: 6 });
  await page.mouse.move(...at(130, 225), { steps: 14 });
  await page.mouse.up();
  await page.mouse.move(...at(105, 140));
  await page.mouse.down();
  await page.mouse.move(...at(195, 138), { steps: 8 });
  await page.mouse.up();
}

/** MNIST digits as PNG files (ones and zeros), a text file, and a PNG over the per-file limit. */
async function writeFixtures(dir: string, maxFileBytes: number) {
  mkdirSync(dir, { recursive: true });
  const digitPng = async (index: number, name: string) => {
    const file = path.join(dir, name);
    await sharp(Buffer.from(mnistImage(index)), { raw: { width: 28, height: 28, channels: 1 } })
      .png()
      .toFile(file);
    return file;
  };
  const positive = await Promise.all(mnistOfDigit(1, 6).map((i, k) => digitPng(i, `one-${k}.png`)));
  const negative = await Promise.all(mnistOfDigit(0, 6).map((i, k) => digitPng(i, `zero-${k}.png`)));
  const notImage = { name: 'notes.png', mimeType: 'image/png', buffer: Buffer.from('these are not the pixels you are looking for\n') };
  // Noise does not compress: 400×400 RGB is ~480 KB of PNG, well over the limit.
  const noise = randomBytes(400 * 400 * 3);
  const tooLarge = {
    name: 'photo.png',
    mimeType: 'image/png',
    buffer: await sharp(noise, { raw: { width: 400, height: 400, channels: 3 } })
      .png()
      .toBuffer(),
  };
  if (tooLarge.buffer.length <= maxFileBytes) throw new Error('the too-large fixture is not too large');
  // A person's photo of a handwritten digit: dark on light grey paper, off-centre, larger than 28×28.
  const photoDigit = mnistImage(mnistOfDigit(4, 1)[0]);
  const shot = await digitPhoto(photoDigit, 4);
  const photo = { name: 'my-digit.jpg', mimeType: shot.bytes[0] === 0xff ? 'image/jpeg' : 'image/png', buffer: shot.bytes };
  return { positive, negative, notImage, tooLarge, photo, photoDigit };
}
