// The page's words for the model's images: digits, garments or faces.
import { state } from './state.js';

/** What the model's images are, by dataset: the page's texts follow the model being shown. */
const WORDING = {
  mnist: { one: 'digit', many: 'digits', aOne: 'a digit', subject: 'handwriting' },
  'fashion-mnist': { one: 'garment', many: 'garments', aOne: 'a garment', subject: 'clothing' },
  avatars: { one: 'face', many: 'faces', aOne: 'a face', subject: 'cartoon faces' },
  'avatars-64': { one: 'face', many: 'faces', aOne: 'a face', subject: 'cartoon faces' },
};
const NEUTRAL = { one: 'image', many: 'images', aOne: 'an image', subject: 'images' };

export function words() {
  return WORDING[state.info?.dataset] ?? NEUTRAL;
}

/** Fills every `data-word` span (one, many, aOne, subject) with the current model's word. */
export function applyWording() {
  const w = words();
  document.querySelectorAll('[data-word]').forEach((node) => (node.textContent = w[node.dataset.word] ?? node.textContent));
}
