// DOM helpers: find, build, and mark elements.

export const $ = (sel, root = document) => root.querySelector(sel);

export function setBusy(el, on) {
  el.classList.toggle('busy', on);
}

export function showImage(img, src) {
  if (src) img.src = src;
  else img.removeAttribute('src');
  img.closest('figure')?.classList.toggle('has-image', !!src);
}

/** The filled part of a range track (CSS reads --fill). */
export function paintRange(input) {
  const min = Number(input.min);
  const max = Number(input.max);
  input.style.setProperty('--fill', `${((Number(input.value) - min) / (max - min)) * 100}%`);
}

export function el(tag, props = {}, ...children) {
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
