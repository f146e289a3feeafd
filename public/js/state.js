// What the page is showing and working on, one object read and written by every panel, and the
// page URL that keeps the model, temperature and seed across reloads.

const pageParams = new URLSearchParams(location.search);

export const state = {
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
  /** Edit in passes of at most PASS_ALPHA (attributes.js; POST /manipulate's passes). */
  inPasses: false,
  sets: { positive: [], negative: [] },
};

export function randomSeed() {
  return crypto.getRandomValues(new Uint32Array(1))[0];
}
function numberParam(name, min, max, integer = false) {
  const raw = pageParams.get(name);
  if (raw === null || raw.trim() === '') return undefined;
  const v = Number(raw);
  if (!Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) return undefined;
  return v;
}

export function syncUrl() {
  const p = new URLSearchParams();
  if (state.model) p.set('model', state.model);
  p.set('t', String(state.t));
  p.set('seed', String(state.seed));
  history.replaceState(null, '', `${location.pathname}?${p}`);
}
