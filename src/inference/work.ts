// The work budget: what a request will cost the model, counted in images put through it (an encode
// or a decode each), checked against GLOW_MAX_WORK once the request's parameters are known and
// before any model work is queued. Limits per field (n, steps, passes, files) cannot bound a
// request's cost on their own: /manipulate's steps × passes multiply.
import { InvalidError } from '../errors.ts';

const count = (k: number, what: string) => `${k} ${what}${k === 1 ? '' : 's'}`;

/** A request's cost and how it arises, for the refusal's message. */
export interface Work {
  images: number;
  how: string;
}

export const sampleWork = (n: number): Work => ({ images: n, how: count(n, 'decode') });

export const decodeWork = (latents: number): Work => ({ images: latents, how: count(latents, 'decode') });

export const encodeWork = (images: number, verify: boolean): Work =>
  verify
    ? { images: 2 * images, how: `${count(images, 'encode')} + ${count(images, 'decode')} (verify)` }
    : { images, how: count(images, 'encode') };

export const interpolateWork = (imageEnds: number, steps: number): Work => ({
  images: imageEnds + steps,
  how: `${imageEnds ? `${count(imageEnds, 'encode')} + ` : ''}${count(steps, 'decode')}`,
});

/**
 * /manipulate: the image's encode, then per strip image (steps, or 1) `passes` decodes and
 * `passes − 1` encodes. The number of edits costs nothing here: they are summed into one latent.
 */
export function manipulateWork(image: boolean, steps: number | undefined, passes: number): Work {
  const rows = steps ?? 1;
  const images = (image ? 1 : 0) + rows * (2 * passes - 1);
  return {
    images,
    how: `${image ? '1 encode + ' : ''}${count(rows, 'image')} × (${count(passes, 'decode')} + ${count(passes - 1, 'encode')})`,
  };
}

/** Refuses `work` over the budget `max` (code WORK_OVER_BUDGET), saying both. */
export function checkBudget(work: Work, max: number): void {
  if (work.images <= max) return;
  throw new InvalidError(
    `this request would cost ${work.images} images of model work (${work.how}); the limit per request is ${max} (GLOW_MAX_WORK): ask for fewer images, steps or passes, or split it`,
    'WORK_OVER_BUDGET',
  );
}
