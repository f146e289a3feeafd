// Section 4, Teach a new attribute: two sets of example images, sent as one POST /attributes.
import { api, report } from './api.js';
import { loadAttributes } from './attributes.js';
import { $, el } from './dom.js';
import { fitting } from './pad.js';
import { state } from './state.js';
import { toast } from './toasts.js';
import { words } from './wording.js';

const NAME_RE = /^[a-z0-9][a-z0-9_-]{0,63}$/;

function addToSet(set, items) {
  for (const { blob, name } of items) {
    if (blob.type && !blob.type.startsWith('image/')) {
      toast('bad', 'Not an image', `${name || 'That file'} is ${blob.type}; add PNG, JPEG or WebP images.`);
      continue;
    }
    state.sets[set].push({ blob, name, url: URL.createObjectURL(blob) });
  }
  renderSet(set);
}

function renderSet(set) {
  const box = $(`.set[data-set="${set}"]`);
  const items = state.sets[set];
  box.querySelector('.thumbs').replaceChildren(
    ...items.map((item, i) =>
      el(
        'button',
        {
          type: 'button',
          class: 'thumb',
          title: `${item.name || 'image'}: click to remove`,
          onclick: () => {
            URL.revokeObjectURL(item.url);
            items.splice(i, 1);
            renderSet(set);
          },
        },
        el('img', { src: item.url, alt: item.name || '' }),
      ),
    ),
  );
  box.querySelector('.set-count').textContent = `${items.length} image${items.length === 1 ? '' : 's'}`;
}

export function wireTeach() {
  for (const set of ['positive', 'negative']) {
    const box = $(`.set[data-set="${set}"]`);
    const input = $(`#${set}-files`);
    input.addEventListener('change', () => {
      addToSet(
        set,
        [...input.files].map((f) => ({ blob: f, name: f.name })),
      );
      input.value = '';
    });
    box.addEventListener('dragover', (e) => {
      e.preventDefault();
      box.classList.add('dragover');
    });
    box.addEventListener('dragleave', () => box.classList.remove('dragover'));
    box.addEventListener('drop', (e) => {
      e.preventDefault();
      box.classList.remove('dragover');
      addToSet(
        set,
        [...(e.dataTransfer?.files ?? [])].map((f) => ({ blob: f, name: f.name })),
      );
    });
    box.querySelector('.add-current').addEventListener('click', async () => {
      const c = state.current;
      if (!c) return;
      const blob = c.blob ?? (await (await fetch(c.src)).blob());
      addToSet(set, [{ blob, name: c.label }]);
    });
  }

  const nameInput = $('#attr-name');
  nameInput.addEventListener('input', () => nameInput.removeAttribute('aria-invalid'));
  $('#teach-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const name = nameInput.value.trim();
    if (!NAME_RE.test(name)) {
      nameInput.setAttribute('aria-invalid', 'true');
      nameInput.focus();
      toast('bad', 'Pick a name', 'Use 1–64 lower-case letters, digits, - and _, starting with a letter or digit (e.g. “curly”).');
      return;
    }
    for (const set of ['positive', 'negative']) {
      if (state.sets[set].length === 0) {
        toast('bad', 'Add examples', `The “${set === 'positive' ? 'With it' : 'Without it'}” set is empty: add at least one image.`);
        return;
      }
    }
    const form = new FormData();
    form.append('name', name);
    for (const set of ['positive', 'negative']) for (const item of state.sets[set]) form.append(set, item.blob, item.name || `${set}.png`);
    const button = $('#create-attr');
    button.disabled = true;
    button.textContent = 'Creating…';
    try {
      const created = await api(fitting() ? '/attributes?fit=true' : '/attributes', { method: 'POST', body: form });
      toast(
        'ok',
        'Attribute ready',
        `“${created.name}” from ${created.positive} + ${created.negative} images. Its slider is in “Your ${words().one}”.`,
        { ttl: 6000 },
      );
      for (const set of ['positive', 'negative']) {
        state.sets[set].forEach((item) => URL.revokeObjectURL(item.url));
        state.sets[set] = [];
        renderSet(set);
      }
      nameInput.value = '';
      await loadAttributes(created.name);
    } catch (err) {
      report(err);
    } finally {
      button.disabled = false;
      button.textContent = 'Create attribute';
    }
  });
}
