// What one request may ask of a model. The HTTP schemas state these limits (and refuse more
// before any work); the model's operations check the one no schema can see: latents packed as
// float32, whose count depends on the model's latent length.

/** Images or latents per request: the largest batch a request may bring. */
export const MAX_IMAGES = 64;
/** Images in an interpolation or an edit's strip. */
export const MAX_STEPS = 64;
/** Largest |alpha| of an edit along an attribute direction. */
export const MAX_ALPHA = 10;
/** Passes of an edit (each a decode and, but the last, an encode): 32 = 32× the work of one. */
export const MAX_PASSES = 32;
/** Attribute directions combined in one edit. */
export const MAX_EDITS = 16;
/** Images or latents in each set (positive, negative) of a new attribute. */
export const MAX_SET = 1000;
