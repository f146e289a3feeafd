// The model: its line in the top bar (GET /model, waiting while it loads) and the model picker (GET /models).
import { api, report } from './api.js';
import { $, el } from './dom.js';
import { capital, sleep } from './helpers.js';
import { state, syncUrl } from './state.js';
import { toast } from './toasts.js';
import { applyWording } from './wording.js';

export async function loadModelInfo() {
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
export async function loadModels() {
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
