// Section 3, Blend: the two ends A and B, and the images between them (POST /interpolate).
import { api, report } from './api.js';
import { $, el, paintRange, setBusy, showImage } from './dom.js';
import { coalesced, png } from './helpers.js';
import { state } from './state.js';
import { warnNonFinite } from './toasts.js';
import { words } from './wording.js';

export function setEnd(which, image) {
  state.ends[which] = { latent: image.latent, src: image.src };
  renderEnd(which);
  refreshBlend();
}

export function renderEnd(which) {
  const slot = $(`#slot-${which}`);
  const end = state.ends[which];
  showImage(slot.querySelector('img'), end?.src);
  slot.classList.toggle('filled', !!end);
}

export const refreshBlend = coalesced(async () => {
  const strip = $('#strip');
  const { a, b } = state.ends;
  if (!a || !b) {
    strip.replaceChildren(
      el('p', { class: 'empty-note' }, `Pick A and B: the A / B buttons on a sample, or “Use as A / B” under your ${words().one}.`),
    );
    return;
  }
  setBusy(strip, true);
  try {
    const res = await api('/interpolate', { json: { from: { latent: a.latent }, to: { latent: b.latent }, steps: state.steps } });
    // The ends are shown in the A and B slots; the strip holds the steps in between.
    const inner = res.images.slice(1, -1);
    warnNonFinite(res);
    strip.replaceChildren(
      ...inner.map((b64, i) =>
        el('img', { src: png(b64), alt: `Step ${i + 1} of ${inner.length}`, title: `weight ${res.weights[i + 1].toFixed(2)}` }),
      ),
    );
  } catch (err) {
    report(err);
  } finally {
    setBusy(strip, false);
  }
});

export function wireBlend() {
  const steps = $('#steps');
  paintRange(steps);
  steps.addEventListener('input', () => {
    state.steps = Number(steps.value);
    $('#steps-value').textContent = steps.value;
    paintRange(steps);
    refreshBlend();
  });

  $('#use-a').addEventListener('click', () => state.current && setEnd('a', state.current));
  $('#use-b').addEventListener('click', () => state.current && setEnd('b', state.current));
}
