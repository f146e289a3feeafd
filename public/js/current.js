// The current image (a drawing, an upload or a sample): its reconstruction and bits/dim in section 2.
import { refreshEdit } from './attributes.js';
import { $, showImage } from './dom.js';
import { state } from './state.js';

export function setCurrent(current) {
  state.current = current;
  renderCurrent();
  refreshEdit();
}

export function renderCurrent() {
  const c = state.current;
  showImage($('#recon'), c?.src);
  $('#bpd').textContent = c?.bpd != null ? c.bpd.toFixed(3) : '—';
  $('#source-label').textContent = c ? c.label : 'Draw one below, upload an image, or pick a sample.';
  for (const id of ['#use-a', '#use-b']) $(id).disabled = !c;
  document.querySelectorAll('.add-current').forEach((b) => (b.disabled = !c));
}
