// glow-serve page: a vanilla ES module with no dependencies, talking to the REST API of the server
// that serves it. Everything is in latent space: samples come with their latents, drawings and
// uploads are encoded once, and edits, blends and reconstructions are decoded from latents.

const N_SAMPLES = 32;
const ALPHA_RANGE = 2;
const NAME_RE = /^[a-z0-9][a-z0-9_-]{0,63}$/;

const $ = (sel, root = document) => root.querySelector(sel);
const pageParams = new URLSearchParams(location.search);

/** The largest α of one pass when editing in passes (the pass size the faces evaluation chose). */
const PASS_ALPHA = 0.1;

const state = {
  /** ?model= for every API call; '' is the server's default model. */
  model: pageParams.get('model') ?? '',
  info: null,
  t: numberParam('t', 0, 1.5) ?? 0.7,
  seed: numberParam('seed', 0, 0xffffffff, true) ?? randomSeed(),
  /** The current batch: {src, latent}. */
  samples: [],
  /** The image being worked on: {latent, src, bpd, blob?, upload?, label}. */
  current: null,
  /** Attribute name -> alpha of its slider. */
  alphas: new Map(),
  attributes: [],
  ends: { a: null, b: null },
  steps: 9,
  /** Edit in passes of at most PASS_ALPHA (POST /manipulate's passes). */
  inPasses: false,
  sets: { positive: [], negative: [] },
};

// ---------------------------------------------------------------- API

class ApiError extends Error {
  constructor(status, title, message, kind = 'bad') {
    super(message);
    this.status = status;
    this.title = title;
    this.kind = kind;
    /** The server's own message (without the advice added for people). */
    this.detail = message;
  }
}

function apiUrl(path) {
  if (!state.model) return path;
  return `${path}${path.includes('?') ? '&' : '?'}model=${encodeURIComponent(state.model)}`;
}

/**
 * One JSON API call. A 503 with a short Retry-After (queue full, model warming) is retried after
 * that delay, at most twice; every other failure becomes an ApiError with a message for people.
 */
async function api(path, { method, json, body, type, retries = 2, raw = false } = {}) {
  method ??= json !== undefined || body !== undefined ? 'POST' : 'GET';
  const headers = { Accept: 'application/json' };
  let payload = body;
  if (json !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(json);
  } else if (type) headers['Content-Type'] = type;
  for (let attempt = 0; ; attempt++) {
    let res;
    try {
      res = await fetch(raw ? path : apiUrl(path), { method, headers, body: payload });
    } catch {
      throw new ApiError(0, 'Cannot reach the server', 'The connection failed. Check that glow-serve is running, then try again.');
    }
    if (res.ok) return res.status === 204 ? null : res.json();
    const data = await res.json().catch(() => null);
    const message = data?.message || res.statusText || `HTTP ${res.status}`;
    const retryAfter = Number(res.headers.get('retry-after')) || 0;
    if (res.status === 503 && attempt < retries && retryAfter > 0 && retryAfter <= 5) {
      toast('warn', 'Server busy', `The model is busy; trying again in ${retryAfter} s…`, { key: 'busy', ttl: retryAfter * 1000 + 1500 });
      await sleep(retryAfter * 1000);
      continue;
    }
    const err = explain(res.status, message, retryAfter);
    err.detail = message;
    err.code = data?.code;
    throw err;
  }
}

function explain(status, message, retryAfter) {
  switch (status) {
    case 413:
      return new ApiError(status, 'Too large', `${capital(message)}. Try a smaller image.`);
    case 415:
      return new ApiError(status, 'Not an image', `${capital(message)}.`);
    case 503:
      return new ApiError(status, 'Server busy', `${capital(message)}. Try again${retryAfter ? ` in ${retryAfter} s` : ' in a moment'}.`, 'warn');
    case 409:
      return new ApiError(status, 'Name taken', `${capital(message)}.`);
    case 404:
      return new ApiError(status, 'Not found', `${capital(message)}.`);
    case 400:
      return new ApiError(status, 'Cannot use that', `${capital(message)}.`);
    default:
      return new ApiError(status, status >= 500 ? 'Server error' : 'Request failed', `${capital(message)} (HTTP ${status}).`);
  }
}

function report(err) {
  if (err instanceof ApiError) toast(err.kind, err.title, err.message);
  else toast('bad', 'Something went wrong', String(err?.message ?? err));
}

// ---------------------------------------------------------------- small helpers

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}
function capital(s) {
  s = String(s).trim().replace(/\.$/, '');
  return s.charAt(0).toUpperCase() + s.slice(1);
}
function randomSeed() {
  return crypto.getRandomValues(new Uint32Array(1))[0];
}
function numberParam(name, min, max, integer = false) {
  const raw = pageParams.get(name);
  if (raw === null || raw.trim() === '') return undefined;
  const v = Number(raw);
  if (!Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) return undefined;
  return v;
}
const png = (b64) => `data:image/png;base64,${b64}`;

/**
 * Runs `fn` now, or once more after the run in flight: sliders stay live without piling up requests.
 * The promise returned settles when the last run asked for is done.
 */
function coalesced(fn) {
  let running = null;
  let again = false;
  return function run() {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      try {
        do {
          again = false;
          await fn();
        } while (again);
      } finally {
        running = null;
      }
    })();
    return running;
  };
}

function setBusy(el, on) {
  el.classList.toggle('busy', on);
}

function showImage(img, src) {
  if (src) img.src = src;
  else img.removeAttribute('src');
  img.closest('figure')?.classList.toggle('has-image', !!src);
}

/** The filled part of a range track (CSS reads --fill). */
function paintRange(input) {
  const min = Number(input.min);
  const max = Number(input.max);
  input.style.setProperty('--fill', `${((Number(input.value) - min) / (max - min)) * 100}%`);
}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') node.className = v;
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) node.setAttribute(k, v === true ? '' : v);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

function syncUrl() {
  const p = new URLSearchParams();
  if (state.model) p.set('model', state.model);
  p.set('t', String(state.t));
  p.set('seed', String(state.seed));
  history.replaceState(null, '', `${location.pathname}?${p}`);
}

// ---------------------------------------------------------------- wording

/** What the model's images are, by dataset: the page's texts follow the model being shown. */
const WORDING = {
  mnist: { one: 'digit', many: 'digits', aOne: 'a digit', subject: 'handwriting' },
  'fashion-mnist': { one: 'garment', many: 'garments', aOne: 'a garment', subject: 'clothing' },
  avatars: { one: 'face', many: 'faces', aOne: 'a face', subject: 'cartoon faces' },
  'avatars-64': { one: 'face', many: 'faces', aOne: 'a face', subject: 'cartoon faces' },
};
const NEUTRAL = { one: 'image', many: 'images', aOne: 'an image', subject: 'images' };

function words() {
  return WORDING[state.info?.dataset] ?? NEUTRAL;
}

/** Fills every `data-word` span (one, many, aOne, subject) with the current model's word. */
function applyWording() {
  const w = words();
  document.querySelectorAll('[data-word]').forEach((node) => (node.textContent = w[node.dataset.word] ?? node.textContent));
}

// ---------------------------------------------------------------- toasts

function toast(kind, title, message, { key, ttl = 8000 } = {}) {
  const box = $('#toasts');
  let node = key ? box.querySelector(`[data-key="${key}"]`) : null;
  if (!node) {
    node = el(
      'div',
      { class: 'toast', role: kind === 'bad' ? 'alert' : 'status', dataset: key ? { key } : {} },
      el('div', { class: 'toast-title' }),
      el('div', { class: 'toast-msg' }),
      el('button', { class: 'toast-close', type: 'button', 'aria-label': 'Dismiss', onclick: () => node.remove() }, '×'),
    );
    box.append(node);
    while (box.children.length > 4) box.firstElementChild.remove();
  }
  node.className = `toast ${kind}`;
  node.querySelector('.toast-title').textContent = title;
  node.querySelector('.toast-msg').textContent = message;
  clearTimeout(node._timer);
  node._timer = setTimeout(() => node.remove(), ttl);
}

/**
 * The server counts, per decoded image, the values its reverse left NaN or ±Inf; they are drawn
 * black or white, so say so rather than let them pass for ink (far from the data the reverse is unstable).
 * The warning is about the latest decode: a sound one takes it down.
 */
function warnNonFinite(res) {
  const counts = res.nonFinite ?? [];
  const bad = counts.filter((n) => n > 0).length;
  if (bad === 0) return void $('#toasts [data-key="nonfinite"]')?.remove();
  const which = counts.length === 1 ? 'The image' : `${bad} of the ${counts.length} images`;
  toast('warn', 'Unstable decode', `${which} came out with NaN or infinite values, drawn black or white: the model's reverse is numerically unstable this far from its training data.`, { key: 'nonfinite' });
}

// ---------------------------------------------------------------- model

async function loadModelInfo() {
  const meta = $('#model-meta');
  const banner = $('#banner');
  const wanted = state.model;
  state.info = null;
  for (;;) {
    let info;
    let err;
    try {
      info = await api('/model', { retries: 0 });
    } catch (e) {
      err = e;
    }
    if (state.model !== wanted) throw new Error('superseded'); // another model was picked meanwhile
    if (!err) {
      state.info = info;
      break;
    }
    if (err.status === 404 && state.model) {
      // A bookmarked model the server no longer has: carry on with the default one.
      toast('warn', 'Model not found', `${capital(err.detail)}. Showing the default model instead.`);
      state.model = '';
      syncUrl();
      return loadModelInfo();
    }
    // 503 means loading (retry) unless the model failed to load, which retrying will not fix.
    if (err.status !== 503 || err.code === 'MODEL_FAILED') {
      banner.hidden = true;
      meta.replaceChildren(el('span', { class: 'pulse bad' }), 'model unavailable');
      report(err);
      throw err;
    }
    banner.textContent = 'The model is still loading. The page starts by itself as soon as it is ready.';
    banner.hidden = false;
    await sleep(2000);
  }
  banner.hidden = true;
  const i = state.info;
  applyWording();
  const parts = [
    el('b', {}, i.model ?? i.name),
    `${i.image.height}×${i.image.width}${i.image.channels === 1 ? ' grey' : ' RGB'}`,
    i.testBpd != null ? `${i.testBpd.toFixed(3)} bits/dim on test` : null,
    `${(i.parameterCount / 1e6).toFixed(2)} M parameters`,
    `${i.backend}`,
  ].filter(Boolean);
  const line = [el('span', { class: 'pulse ok' })];
  parts.forEach((p, k) => line.push(...(k ? [el('span', { class: 'sep' }, '·'), p] : [p])));
  meta.replaceChildren(...line);
  meta.title = `${i.name !== (i.model ?? i.name) ? `checkpoint ${i.name}, ` : ''}${i.dataset}: ${i.levels} levels × ${i.depth} steps, ${i.coupling} coupling, hidden ${i.hidden}, trained ${i.steps} steps`;
}

/**
 * The model picker, filled from GET /models; a 404 there means a server of one model without the
 * endpoint, and the picker stays hidden. With a single model it shows, disabled.
 */
async function loadModels() {
  let list;
  try {
    // raw: /models lists every model, whatever ?model= the page has.
    list = (await api('/models', { raw: true, retries: 0 })).models;
  } catch (err) {
    if (err.status !== 404) report(err);
    return;
  }
  if (!list?.length) return;
  const select = $('#model-select');
  const active = state.model || state.info?.model;
  select.replaceChildren(
    ...list.map((m) => {
      let label = m.model;
      if (m.dataset && m.dataset !== m.model) label += ` · ${m.dataset}`;
      if (m.state !== 'ready') label += ` (${m.state})`;
      return el('option', { value: m.model, selected: m.model === active, disabled: m.state === 'failed', title: m.message }, label);
    }),
  );
  select.disabled = list.length < 2;
  $('#model-picker').hidden = false;
}

async function switchModel(name) {
  state.model = name;
  state.ends = { a: null, b: null };
  state.alphas.clear();
  state.attributes = [];
  state.seed = randomSeed();
  delete document.body.dataset.ready;
  syncUrl();
  clearPad();
  setCurrent(null);
  for (const w of ['a', 'b']) renderEnd(w);
  refreshBlend();
  try {
    await loadModelInfo();
  } catch {
    return;
  }
  await Promise.all([loadModels(), loadAttributes(), refreshSamples()]);
  if (state.model === name) document.body.dataset.ready = 'true';
}

// ---------------------------------------------------------------- samples

const refreshSamples = coalesced(async () => {
  const grid = $('#samples');
  setBusy(grid, true);
  const { t, seed, model } = state;
  try {
    const res = await api(`/sample?n=${N_SAMPLES}&t=${t}&seed=${seed}`);
    if (state.model !== model) return; // another model was picked meanwhile; its batch follows
    state.samples = res.images.map((b64, i) => ({ src: png(b64), latent: res.latents[i] }));
    warnNonFinite(res);
    renderSamples();
    Object.assign(grid.dataset, { state: 'ready', seed: String(seed), t: String(t), model: state.info?.model ?? '' });
    syncUrl();
    // Something to look at in the blend section straight away.
    if (!state.ends.a && !state.ends.b && state.samples.length >= 2) {
      setEnd('a', state.samples[0]);
      setEnd('b', state.samples[1]);
    }
  } catch (err) {
    grid.dataset.state = 'error';
    report(err);
  } finally {
    setBusy(grid, false);
  }
});

function renderSamples() {
  const grid = $('#samples');
  state.samples.forEach((s, i) => {
    let tile = grid.children[i];
    if (!tile) {
      tile = el(
        'div',
        {
          class: 'tile',
          role: 'button',
          tabindex: '0',
          'aria-label': `Sample ${i + 1}: edit it`,
          onclick: () => pickSample(i),
          onkeydown: (e) => {
            if (e.target === tile && (e.key === 'Enter' || e.key === ' ')) {
              e.preventDefault();
              pickSample(i);
            }
          },
        },
        el('img', { alt: '' }),
        el(
          'span',
          { class: 'chips' },
          el('button', { type: 'button', class: 'chip a', title: 'Use as blend end A', onclick: (e) => (e.stopPropagation(), setEnd('a', state.samples[i])) }, 'A'),
          el('button', { type: 'button', class: 'chip b', title: 'Use as blend end B', onclick: (e) => (e.stopPropagation(), setEnd('b', state.samples[i])) }, 'B'),
        ),
      );
      grid.append(tile);
    }
    tile.querySelector('img').src = s.src;
    tile.classList.remove('selected');
  });
  while (grid.children.length > state.samples.length) grid.lastElementChild.remove();
}

async function pickSample(i) {
  const s = state.samples[i];
  if (!s) return;
  document.querySelectorAll('.tile.selected').forEach((t) => t.classList.remove('selected'));
  $('#samples').children[i]?.classList.add('selected');
  const label = `Sample ${i + 1} of the batch (seed ${state.seed}, t = ${state.t.toFixed(2)})`;
  const current = { latent: s.latent, src: s.src, bpd: null, label };
  setCurrent(current);
  await drawOnPad(s.src, true);
  try {
    // The sample's exact bits/dim: encode the (8-bit) image it decodes to.
    const res = await api('/encode', { json: { images: [s.src.slice(s.src.indexOf(',') + 1)] } });
    if (state.current === current) {
      current.bpd = res.items[0].bpd;
      renderCurrent();
    }
  } catch (err) {
    report(err);
  }
}

// ---------------------------------------------------------------- drawing pad

const pad = $('#pad');
const padCtx = pad.getContext('2d', { willReadFrequently: true });
let padDirty = false;

function clearPad() {
  padCtx.fillStyle = '#000';
  padCtx.fillRect(0, 0, pad.width, pad.height);
  padDirty = false;
  $('#pad-hint').hidden = false;
  showFitted(null);
}

/** Beside the upload on the pad: the image the model saw after fitting (POST /encode?fit=true), or nothing. */
function showFitted(fitted) {
  $('#fitted-fig').hidden = !fitted;
  if (!fitted) return;
  showImage($('#fitted'), png(fitted.image));
  const { box, scale } = fitted;
  $('#fitted-note').textContent =
    `What the model sees: ${fitted.inverted ? 'inverted, ' : ''}the ${box.width}×${box.height} box at (${box.left}, ${box.top}) scaled by ${scale.toFixed(3)}` +
    (fitted.shift.x || fitted.shift.y ? `, placed at (${fitted.shift.x}, ${fitted.shift.y})` : '');
}

/** Puts an image (a sample, an upload) on the pad so it can be drawn over. */
async function drawOnPad(src, pixelated) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(src instanceof Blob ? src : await (await fetch(src)).blob());
  } catch {
    return; // the browser cannot show it; the server has judged it already
  }
  clearPad();
  const k = Math.min(pad.width / bitmap.width, pad.height / bitmap.height);
  const w = bitmap.width * k;
  const h = bitmap.height * k;
  padCtx.imageSmoothingEnabled = !pixelated;
  padCtx.drawImage(bitmap, (pad.width - w) / 2, (pad.height - h) / 2, w, h);
  padCtx.imageSmoothingEnabled = true;
  bitmap.close();
  $('#pad-hint').hidden = true;
}

function padPoint(e) {
  const r = pad.getBoundingClientRect();
  return { x: ((e.clientX - r.left) * pad.width) / r.width, y: ((e.clientY - r.top) * pad.height) / r.height };
}

function stroke(from, to) {
  padCtx.strokeStyle = '#fff';
  padCtx.fillStyle = '#fff';
  padCtx.lineWidth = 21;
  padCtx.lineCap = 'round';
  padCtx.lineJoin = 'round';
  padCtx.shadowColor = 'rgba(255,255,255,0.9)';
  padCtx.shadowBlur = 4;
  padCtx.beginPath();
  padCtx.moveTo(from.x, from.y);
  padCtx.lineTo(to.x + 0.01, to.y);
  padCtx.stroke();
  padCtx.shadowBlur = 0;
}

function wirePad() {
  let last = null;
  let lastLive = 0;
  pad.addEventListener('pointerdown', (e) => {
    if (e.button !== 0) return;
    e.preventDefault();
    pad.setPointerCapture(e.pointerId);
    last = padPoint(e);
    stroke(last, last);
    padDirty = true;
    $('#pad-hint').hidden = true;
  });
  pad.addEventListener('pointermove', (e) => {
    if (!last) return;
    const p = padPoint(e);
    stroke(last, p);
    last = p;
    // Live feedback while drawing, at the pace the server answers.
    if (performance.now() - lastLive > 250) {
      lastLive = performance.now();
      encodePad();
    }
  });
  const end = () => {
    if (!last) return;
    last = null;
    encodePad();
  };
  pad.addEventListener('pointerup', end);
  pad.addEventListener('pointercancel', end);
  $('#clear-pad').addEventListener('click', () => {
    clearPad();
    setCurrent(null);
  });
}

/** Brightness of the RGBA pixel at byte `i` (Rec. 709 weights), so coloured ink counts too. */
function luma(d, i) {
  return 0.2126 * d[i] + 0.7152 * d[i + 1] + 0.0722 * d[i + 2];
}

/**
 * The pad at the model's size. A grey model gets MNIST's own preprocessing: the ink's bounding box
 * scaled to fit 20×20 (of 28×28), placed in a black image with its centre of mass in the middle.
 * A colour model gets the whole pad scaled down, colours kept. The server converts the PNG to the
 * model's channels (and would resize it too).
 */
function padToModelCanvas() {
  const size = state.info?.image ?? { height: 28, width: 28, channels: 1 };
  if (size.channels !== 1) {
    const out = el('canvas', { width: size.width, height: size.height });
    const octx = out.getContext('2d');
    octx.imageSmoothingEnabled = true;
    octx.imageSmoothingQuality = 'high';
    octx.drawImage(pad, 0, 0, size.width, size.height);
    return out;
  }
  const { data, width, height } = padCtx.getImageData(0, 0, pad.width, pad.height);
  let x0 = width;
  let y0 = height;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (luma(data, (y * width + x) * 4) > 24) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
  }
  if (x1 < 0) return null;
  const bw = x1 - x0 + 1;
  const bh = y1 - y0 + 1;
  const box = Math.round(Math.min(size.width, size.height) * (20 / 28));
  const k = box / Math.max(bw, bh);
  const sw = Math.max(1, Math.round(bw * k));
  const sh = Math.max(1, Math.round(bh * k));
  const small = el('canvas', { width: sw, height: sh });
  const sctx = small.getContext('2d', { willReadFrequently: true });
  sctx.imageSmoothingEnabled = true;
  sctx.imageSmoothingQuality = 'high';
  sctx.drawImage(pad, x0, y0, bw, bh, 0, 0, sw, sh);
  const sd = sctx.getImageData(0, 0, sw, sh).data;
  let mass = 0;
  let mx = 0;
  let my = 0;
  for (let y = 0; y < sh; y++) {
    for (let x = 0; x < sw; x++) {
      const v = luma(sd, (y * sw + x) * 4);
      mass += v;
      mx += v * (x + 0.5);
      my += v * (y + 0.5);
    }
  }
  const cx = mass ? mx / mass : sw / 2;
  const cy = mass ? my / mass : sh / 2;
  const ox = Math.min(Math.max(Math.round(size.width / 2 - cx), 0), size.width - sw);
  const oy = Math.min(Math.max(Math.round(size.height / 2 - cy), 0), size.height - sh);
  const out = el('canvas', { width: size.width, height: size.height });
  const octx = out.getContext('2d');
  octx.fillStyle = '#000';
  octx.fillRect(0, 0, size.width, size.height);
  octx.drawImage(small, ox, oy);
  return out;
}

const encodePad = coalesced(async () => {
  if (!padDirty || !state.info) return;
  const canvas = padToModelCanvas();
  if (!canvas) return;
  setBusy($('#recon-fig'), true);
  try {
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/png'));
    const enc = await api('/encode', { body: blob, type: 'image/png' });
    const item = enc.items[0];
    const dec = await api('/decode', { json: { latents: [item.latent] } });
    warnNonFinite(dec);
    document.querySelectorAll('.tile.selected').forEach((t) => t.classList.remove('selected'));
    const { height, width, channels } = state.info.image;
    const how = channels === 1 ? `centred and scaled to ${height}×${width} like MNIST` : `scaled to ${height}×${width}`;
    showFitted(null);
    setCurrent({ latent: item.latent, src: png(dec.images[0]), bpd: item.bpd, blob, label: `Your drawing, ${how}` });
  } catch (err) {
    report(err);
  } finally {
    setBusy($('#recon-fig'), false);
  }
});

/** Whether uploads and drops are fitted to the model's data (the switch under the pad; on by default). */
function fitting() {
  return $('#fit-uploads').checked;
}

async function uploadImage(file) {
  setBusy($('#recon-fig'), true);
  try {
    const form = new FormData();
    form.append('image', file, file.name || 'image');
    const enc = await api(fitting() ? '/encode?fit=true' : '/encode', { body: form });
    const item = enc.items[0];
    const dec = await api('/decode', { json: { latents: [item.latent] } });
    warnNonFinite(dec);
    let label = `Uploaded ${file.name || 'image'}`;
    const size = item.original ? `${item.original.width}×${item.original.height} ${item.original.format}, ` : '';
    if (item.fitted) label += ` (${size}fitted to the model)`;
    else if (item.resized) label += ` (${size}resized for the model)`;
    document.querySelectorAll('.tile.selected').forEach((t) => t.classList.remove('selected'));
    await drawOnPad(file, false);
    padDirty = false; // keep the exact upload until the person draws on it
    showFitted(item.fitted);
    setCurrent({ latent: item.latent, src: png(dec.images[0]), bpd: item.bpd, blob: file, upload: true, label });
  } catch (err) {
    report(err);
  } finally {
    setBusy($('#recon-fig'), false);
  }
}

function wireUpload() {
  // Switching fitting on or off encodes the current upload again the other way.
  $('#fit-uploads').addEventListener('change', () => {
    const c = state.current;
    if (c?.upload && !padDirty) uploadImage(c.blob);
  });
  const input = $('#upload');
  input.addEventListener('change', () => {
    const file = input.files?.[0];
    input.value = '';
    if (file) uploadImage(file);
  });
  const wrap = $('#pad-wrap');
  wrap.addEventListener('dragover', (e) => {
    e.preventDefault();
    wrap.classList.add('dragover');
  });
  wrap.addEventListener('dragleave', () => wrap.classList.remove('dragover'));
  wrap.addEventListener('drop', (e) => {
    e.preventDefault();
    wrap.classList.remove('dragover');
    const file = e.dataTransfer?.files?.[0];
    if (file) uploadImage(file);
  });
}

// ---------------------------------------------------------------- the current image

function setCurrent(current) {
  state.current = current;
  renderCurrent();
  refreshEdit();
}

function renderCurrent() {
  const c = state.current;
  showImage($('#recon'), c?.src);
  $('#bpd').textContent = c?.bpd != null ? c.bpd.toFixed(3) : '—';
  $('#source-label').textContent = c ? c.label : 'Draw one below, upload an image, or pick a sample.';
  for (const id of ['#use-a', '#use-b']) $(id).disabled = !c;
  document.querySelectorAll('.add-current').forEach((b) => (b.disabled = !c));
}

// ---------------------------------------------------------------- attributes

async function loadAttributes(highlight) {
  const { model } = state;
  try {
    const res = await api('/attributes');
    if (state.model !== model) return; // another model was picked meanwhile
    state.attributes = res.attributes;
  } catch (err) {
    report(err);
    return;
  }
  for (const name of [...state.alphas.keys()]) if (!state.attributes.some((a) => a.name === name)) state.alphas.delete(name);
  renderAttributes(highlight);
  refreshEdit();
}

function attributeOrder(a, b) {
  // Plain names (thickness, slant…) before numbered families (to-3, digit-3-to-8), then natural order.
  const rank = (n) => (/\d/.test(n) ? 1 : 0);
  return rank(a.name) - rank(b.name) || a.name.localeCompare(b.name, undefined, { numeric: true });
}

function renderAttributes(highlight) {
  const box = $('#attributes');
  const user = state.attributes.filter((a) => a.source === 'user').sort(attributeOrder);
  const builtin = state.attributes.filter((a) => a.source !== 'user').sort(attributeOrder);
  const rows = [];
  if (user.length) rows.push(el('div', { class: 'attr-group' }, 'Yours'), ...user.map(attributeRow));
  if (builtin.length) rows.push(el('div', { class: 'attr-group' }, 'Built in'), ...builtin.map(attributeRow));
  if (!rows.length) rows.push(el('p', { class: 'hint small' }, 'No attributes yet. Teach one in section 4 and its slider appears here.'));
  box.replaceChildren(...rows);
  if (highlight) {
    const row = box.querySelector(`.attr[data-name="${highlight}"]`);
    row?.classList.add('fresh');
    row?.scrollIntoView({ block: 'nearest' });
  }
}

function attributeRow(a) {
  const id = `attr-${a.name}`;
  const value = state.alphas.get(a.name) ?? 0;
  const out = el('output', { for: id, class: value ? 'on' : '' }, value.toFixed(2));
  const input = el('input', {
    type: 'range',
    class: 'centered',
    id,
    min: String(-ALPHA_RANGE),
    max: String(ALPHA_RANGE),
    step: '0.05',
    value: String(value),
    'aria-label': `${a.name} amount`,
    title: 'Drag to edit; double-click to reset',
  });
  const update = () => {
    const v = Number(input.value);
    state.alphas.set(a.name, v);
    out.textContent = v.toFixed(2);
    out.classList.toggle('on', v !== 0);
    paintRange(input);
    refreshEdit();
  };
  input.addEventListener('input', update);
  input.addEventListener('dblclick', () => {
    input.value = '0';
    update();
  });
  paintRange(input);
  const title = [a.description, `${a.positive} vs ${a.negative} examples`, `|direction| = ${a.norm.toFixed(2)}`].filter(Boolean).join(' · ');
  const label = el('label', { class: 'attr-name', for: id, title }, a.name);
  const del =
    a.source === 'user'
      ? el('button', { type: 'button', class: 'del', title: `Delete ${a.name}`, 'aria-label': `Delete ${a.name}`, onclick: () => deleteAttribute(a.name) }, '×')
      : el('span');
  return el('div', { class: 'attr', dataset: { name: a.name, source: a.source } }, label, input, out, del);
}

async function deleteAttribute(name) {
  if (!confirm(`Delete the attribute “${name}”? This cannot be undone.`)) return;
  try {
    await api(`/attributes/${encodeURIComponent(name)}`, { method: 'DELETE' });
    state.alphas.delete(name);
    toast('ok', 'Deleted', `“${name}” is gone.`, { ttl: 4000 });
    await loadAttributes();
  } catch (err) {
    report(err);
  }
}

const refreshEdit = coalesced(async () => {
  const current = state.current;
  const fig = $('#edited-fig');
  if (!current) {
    showImage($('#edited'), null);
    return;
  }
  const edits = [...state.alphas]
    .filter(([, alpha]) => alpha !== 0)
    .slice(0, 16)
    .map(([attribute, alpha]) => ({ attribute, alpha }));
  if (edits.length === 0) {
    showImage($('#edited'), current.src);
    return;
  }
  setBusy(fig, true);
  try {
    const passes = state.inPasses ? Math.min(32, Math.ceil(Math.max(...edits.map((e) => Math.abs(e.alpha))) / PASS_ALPHA - 1e-9)) : 1;
    const res = await api('/manipulate', { json: { latent: current.latent, edits, passes } });
    if (state.current === current) showImage($('#edited'), png(res.images[0]));
    warnNonFinite(res);
  } catch (err) {
    report(err);
  } finally {
    setBusy(fig, false);
  }
});

// ---------------------------------------------------------------- blend

function setEnd(which, image) {
  state.ends[which] = { latent: image.latent, src: image.src };
  renderEnd(which);
  refreshBlend();
}

function renderEnd(which) {
  const slot = $(`#slot-${which}`);
  const end = state.ends[which];
  showImage(slot.querySelector('img'), end?.src);
  slot.classList.toggle('filled', !!end);
}

const refreshBlend = coalesced(async () => {
  const strip = $('#strip');
  const { a, b } = state.ends;
  if (!a || !b) {
    strip.replaceChildren(el('p', { class: 'empty-note' }, `Pick A and B: the A / B buttons on a sample, or “Use as A / B” under your ${words().one}.`));
    return;
  }
  setBusy(strip, true);
  try {
    const res = await api('/interpolate', { json: { from: { latent: a.latent }, to: { latent: b.latent }, steps: state.steps } });
    // The ends are shown in the A and B slots; the strip holds the steps in between.
    const inner = res.images.slice(1, -1);
    warnNonFinite(res);
    strip.replaceChildren(...inner.map((b64, i) => el('img', { src: png(b64), alt: `Step ${i + 1} of ${inner.length}`, title: `weight ${res.weights[i + 1].toFixed(2)}` })));
  } catch (err) {
    report(err);
  } finally {
    setBusy(strip, false);
  }
});

// ---------------------------------------------------------------- teach a new attribute

function addToSet(set, items) {
  for (const { blob, name } of items) {
    if (blob.type && !blob.type.startsWith('image/')) {
      toast('bad', 'Not an image', `${name || 'That file'} is ${blob.type}; add PNG, JPEG or WebP images.`);
      continue;
    }
    state.sets[set].push({ blob, name, url: URL.createObjectURL(blob) });
  }
  renderSet(set);
}

function renderSet(set) {
  const box = $(`.set[data-set="${set}"]`);
  const items = state.sets[set];
  box.querySelector('.thumbs').replaceChildren(
    ...items.map((item, i) =>
      el(
        'button',
        {
          type: 'button',
          class: 'thumb',
          title: `${item.name || 'image'}: click to remove`,
          onclick: () => {
            URL.revokeObjectURL(item.url);
            items.splice(i, 1);
            renderSet(set);
          },
        },
        el('img', { src: item.url, alt: item.name || '' }),
      ),
    ),
  );
  box.querySelector('.set-count').textContent = `${items.length} image${items.length === 1 ? '' : 's'}`;
}

function wireTeach() {
  for (const set of ['positive', 'negative']) {
    const box = $(`.set[data-set="${set}"]`);
    const input = $(`#${set}-files`);
    input.addEventListener('change', () => {
      addToSet(set, [...input.files].map((f) => ({ blob: f, name: f.name })));
      input.value = '';
    });
    box.addEventListener('dragover', (e) => {
      e.preventDefault();
      box.classList.add('dragover');
    });
    box.addEventListener('dragleave', () => box.classList.remove('dragover'));
    box.addEventListener('drop', (e) => {
      e.preventDefault();
      box.classList.remove('dragover');
      addToSet(set, [...(e.dataTransfer?.files ?? [])].map((f) => ({ blob: f, name: f.name })));
    });
    box.querySelector('.add-current').addEventListener('click', async () => {
      const c = state.current;
      if (!c) return;
      const blob = c.blob ?? (await (await fetch(c.src)).blob());
      addToSet(set, [{ blob, name: c.label }]);
    });
  }

  const nameInput = $('#attr-name');
  nameInput.addEventListener('input', () => nameInput.removeAttribute('aria-invalid'));
  $('#teach-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const name = nameInput.value.trim();
    if (!NAME_RE.test(name)) {
      nameInput.setAttribute('aria-invalid', 'true');
      nameInput.focus();
      toast('bad', 'Pick a name', 'Use 1–64 lower-case letters, digits, - and _, starting with a letter or digit (e.g. “curly”).');
      return;
    }
    for (const set of ['positive', 'negative']) {
      if (state.sets[set].length === 0) {
        toast('bad', 'Add examples', `The “${set === 'positive' ? 'With it' : 'Without it'}” set is empty: add at least one image.`);
        return;
      }
    }
    const form = new FormData();
    form.append('name', name);
    for (const set of ['positive', 'negative']) for (const item of state.sets[set]) form.append(set, item.blob, item.name || `${set}.png`);
    const button = $('#create-attr');
    button.disabled = true;
    button.textContent = 'Creating…';
    try {
      const created = await api(fitting() ? '/attributes?fit=true' : '/attributes', { method: 'POST', body: form });
      toast('ok', 'Attribute ready', `“${created.name}” from ${created.positive} + ${created.negative} images. Its slider is in “Your ${words().one}”.`, { ttl: 6000 });
      for (const set of ['positive', 'negative']) {
        state.sets[set].forEach((item) => URL.revokeObjectURL(item.url));
        state.sets[set] = [];
        renderSet(set);
      }
      nameInput.value = '';
      await loadAttributes(created.name);
    } catch (err) {
      report(err);
    } finally {
      button.disabled = false;
      button.textContent = 'Create attribute';
    }
  });
}

// ---------------------------------------------------------------- start

function wireControls() {
  // File pickers are labels styled as buttons: make them work from the keyboard too.
  document.querySelectorAll('label.btn[for]').forEach((label) =>
    label.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault();
        document.getElementById(label.htmlFor)?.click();
      }
    }),
  );
  const temperature = $('#temperature');
  temperature.value = String(state.t);
  $('#temperature-value').textContent = state.t.toFixed(2);
  paintRange(temperature);
  temperature.addEventListener('input', () => {
    state.t = Number(temperature.value);
    $('#temperature-value').textContent = state.t.toFixed(2);
    paintRange(temperature);
    refreshSamples();
  });
  $('#new-batch').addEventListener('click', () => {
    state.seed = randomSeed();
    refreshSamples();
  });

  const steps = $('#steps');
  paintRange(steps);
  steps.addEventListener('input', () => {
    state.steps = Number(steps.value);
    $('#steps-value').textContent = steps.value;
    paintRange(steps);
    refreshBlend();
  });

  $('#model-select').addEventListener('change', (e) => switchModel(e.target.value));

  $('#use-a').addEventListener('click', () => state.current && setEnd('a', state.current));
  $('#use-b').addEventListener('click', () => state.current && setEnd('b', state.current));
  $('#in-passes').addEventListener('change', (e) => {
    state.inPasses = e.target.checked;
    refreshEdit();
  });
  $('#reset-edits').addEventListener('click', () => {
    state.alphas.clear();
    renderAttributes();
    refreshEdit();
  });
}

async function start() {
  clearPad();
  wirePad();
  wireUpload();
  wireTeach();
  wireControls();
  renderCurrent();
  refreshBlend();
  try {
    await loadModelInfo();
  } catch {
    await loadModels(); // another model may still work
    return;
  }
  await Promise.all([loadModels(), loadAttributes(), refreshSamples()]);
  document.body.dataset.ready = 'true';
}

start();
