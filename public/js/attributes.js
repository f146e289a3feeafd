// The Edit pane of section 2: a slider per attribute (GET /attributes), and the current image with
// the edits applied (POST /manipulate).
import { api, report } from './api.js';
import { $, el, paintRange, setBusy, showImage } from './dom.js';
import { coalesced, png } from './helpers.js';
import { state } from './state.js';
import { toast, warnNonFinite } from './toasts.js';

const ALPHA_RANGE = 2;

/** The largest α of one pass when editing in passes (the pass size the faces evaluation chose). */
const PASS_ALPHA = 0.1;

export async function loadAttributes(highlight) {
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

export function renderAttributes(highlight) {
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
  const title = [a.description, `${a.positive} vs ${a.negative} examples`, `|direction| = ${a.norm.toFixed(2)}`]
    .filter(Boolean)
    .join(' · ');
  const label = el('label', { class: 'attr-name', for: id, title }, a.name);
  const del =
    a.source === 'user'
      ? el(
          'button',
          {
            type: 'button',
            class: 'del',
            title: `Delete ${a.name}`,
            'aria-label': `Delete ${a.name}`,
            onclick: () => deleteAttribute(a.name),
          },
          '×',
        )
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

export const refreshEdit = coalesced(async () => {
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

export function wireEdit() {
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
