// The drawing pad of section 2: draw on it, or upload or drop an image onto it; either is encoded
// (POST /encode) and becomes the current image.
import { api, report } from './api.js';
import { setCurrent } from './current.js';
import { $, setBusy, showImage } from './dom.js';
import { coalesced, png } from './helpers.js';
import { padToModelCanvas } from './pad-to-model.js';
import { state } from './state.js';
import { warnNonFinite } from './toasts.js';

const pad = $('#pad');
const padCtx = pad.getContext('2d', { willReadFrequently: true });
let padDirty = false;

export function clearPad() {
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
export async function drawOnPad(src, pixelated) {
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

export function wirePad() {
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

const encodePad = coalesced(async () => {
  if (!padDirty || !state.info) return;
  const canvas = padToModelCanvas(pad, padCtx);
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
export function fitting() {
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

export function wireUpload() {
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
