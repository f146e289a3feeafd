// Section 1, Samples: a batch at a temperature and seed; a sample becomes the current image or a blend end.
import { api, report } from './api.js';
import { setEnd } from './blend.js';
import { renderCurrent, setCurrent } from './current.js';
import { $, el, paintRange, setBusy } from './dom.js';
import { coalesced, png } from './helpers.js';
import { drawOnPad } from './pad.js';
import { randomSeed, state, syncUrl } from './state.js';
import { warnNonFinite } from './toasts.js';

const N_SAMPLES = 32;

export const refreshSamples = coalesced(async () => {
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
          el(
            'button',
            {
              type: 'button',
              class: 'chip a',
              title: 'Use as blend end A',
              onclick: (e) => (e.stopPropagation(), setEnd('a', state.samples[i])),
            },
            'A',
          ),
          el(
            'button',
            {
              type: 'button',
              class: 'chip b',
              title: 'Use as blend end B',
              onclick: (e) => (e.stopPropagation(), setEnd('b', state.samples[i])),
            },
            'B',
          ),
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

export function wireSamples() {
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
}
