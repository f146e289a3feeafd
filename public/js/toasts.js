// Messages in the corner: one per key at most, four at a time, each gone after a while.
import { $, el } from './dom.js';

export function toast(kind, title, message, { key, ttl = 8000 } = {}) {
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
export function warnNonFinite(res) {
  const counts = res.nonFinite ?? [];
  const bad = counts.filter((n) => n > 0).length;
  if (bad === 0) return void $('#toasts [data-key="nonfinite"]')?.remove();
  const which = counts.length === 1 ? 'The image' : `${bad} of the ${counts.length} images`;
  toast(
    'warn',
    'Unstable decode',
    `${which} came out with NaN or infinite values, drawn black or white: the model's reverse is numerically unstable this far from its training data.`,
    { key: 'nonfinite' },
  );
}
