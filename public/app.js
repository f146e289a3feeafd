// glow-serve page: vanilla ES modules with no dependencies and no build step, talking to the REST API
// of the server that serves them. Everything is in latent space: samples come with their latents, drawings and
// uploads are encoded once, and edits, blends and reconstructions are decoded from latents.
// This module starts the page and switches models; each section of the page is a module in js/.
import { loadAttributes, wireEdit } from './js/attributes.js';
import { refreshBlend, renderEnd, wireBlend } from './js/blend.js';
import { renderCurrent, setCurrent } from './js/current.js';
import { $ } from './js/dom.js';
import { loadModelInfo, loadModels } from './js/model.js';
import { clearPad, wirePad, wireUpload } from './js/pad.js';
import { refreshSamples, wireSamples } from './js/samples.js';
import { randomSeed, state, syncUrl } from './js/state.js';
import { wireTeach } from './js/teach.js';

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
  wireSamples();
  wireBlend();

  $('#model-select').addEventListener('change', (e) => switchModel(e.target.value));

  wireEdit();
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
