// One request's session with a served model: the load it addressed (kept to the end, even when a
// reload swaps in new weights meanwhile), its admission to that model's queue, and the operations
// it runs under that admission. Each operation checks what needs the model (latent lengths,
// images), claims the request's work budget, and only then queues model work, so a refused
// request costs the model nothing.
import { randomInt } from 'node:crypto';
import type { AttributeCatalog } from '../attributes/catalog.ts';
import { editInPasses } from '../attributes/passes.ts';
import type { AttributeMeta } from '../attributes/store.ts';
import { direction, lerpSteps, linspace, norm } from '../attributes/vectors.ts';
import { ConflictError } from '../errors.ts';
import { compareRoundTrip, type RoundTrip } from '../glow/pixels.ts';
import { normalArray } from '../glow/random.ts';
import type { FitSpec, FittedImage } from '../images/fit.ts';
import type { DecodedImage, ImageSize } from '../images/images.ts';
import type { Admission, Batcher, Decoded, Op } from './batcher.ts';
import type { ModelInfo } from './worker-protocol.ts';
import { checkBudget, decodeWork, encodeWork, interpolateWork, manipulateWork, sampleWork, type Work } from './work.ts';

/** An uploaded image; `what` names it in messages ("image #2", "positive[0]"). */
export interface ImageItem {
  image: Uint8Array;
  what: string;
}

/** A latent as the client sent it (checked against the model here); `what` names it in messages. */
export interface LatentItem {
  latent: number[];
  what: string;
}

/** Where an operation may start from: an image (encoded first) or a latent. */
export type Item = ImageItem | LatentItem;

export interface Edit {
  attribute: string;
  alpha: number;
}

export interface EncodeInput {
  images: ImageItem[];
  /** Also decode each latent again and compare it with the image. */
  verify: boolean;
  /** Fit each image to the model's data first (images/fit.ts). */
  fit: boolean;
}

export interface EncodedItem {
  latent: Float64Array;
  bpd: number;
  resized: boolean;
  original: { width: number; height: number; format: string };
  fitted?: FittedImage;
  roundTrip?: RoundTrip;
}

/** JSON latents, or n·latentDim little-endian float32 values as one block. */
export type DecodeInput = { latents: LatentItem[] } | { float32: Uint8Array };

export interface SampleInput {
  n: number;
  /** Temperature: ε ~ N(0, t²). */
  t: number;
  /** Same seed, same images; random when absent. */
  seed?: number;
}

export interface InterpolateInput {
  from: Item;
  to: Item;
  steps: number;
  fit: boolean;
}

export interface ManipulateInput {
  input: Item;
  edits: Edit[];
  /** A strip: every alpha scaled from −1 to +1 in this many steps. */
  steps?: number;
  passes: number;
  fit: boolean;
}

export interface AttributeInput {
  name: string;
  description?: string;
  positive: Item[];
  negative: Item[];
  /** Overwrite a user attribute of the same name. */
  replace: boolean;
  fit: boolean;
}

/** Decoded images and the geometry to draw them in. */
export interface Images {
  images: Decoded[];
  size: ImageSize;
}

/** What fitting did to each item (null: a latent was given), when fit was asked for. */
type FittedItems = (FittedImage | null)[];

/** An item whose latent has been checked against the model. */
type Checked = ImageItem | { latent: Float64Array };

/** What a session needs of its model's service (ModelService, which makes the sessions). */
export interface SessionService {
  readonly name: string;
  readonly batcher: Batcher;
  readonly options: { maxWork: number; maxBatch: number };
  enter(): void;
  leave(): void;
  /** The loaded model; 'unavailable' while it loads or when it failed. */
  requireReady(): Ready;
  decodeImages(buffers: Uint8Array[], what: (i: number) => string, fit?: boolean): Promise<DecodedImage[]>;
  latent(values: number[], what: string): Float64Array;
  unpackLatents(bytes: Uint8Array): Float64Array[];
}

/** A loaded model: what it is, its attributes, its image size and what fit=true does. */
export interface Ready {
  info: ModelInfo;
  catalog: AttributeCatalog;
  size: ImageSize;
  /** What fit=true does to uploads for this model. */
  fit: FitSpec;
}

export class ModelSession<S extends SessionService = SessionService> {
  private admission: Admission | null = null;
  private ended = false;

  constructor(readonly service: S) {
    service.enter();
  }

  get name(): string {
    return this.service.name;
  }

  /** The loaded model; 'unavailable' while it loads or when it failed. */
  get ready(): Ready {
    return this.service.requireReady();
  }

  get attributes(): AttributeCatalog {
    return this.ready.catalog;
  }

  /**
   * Takes a place in the model's queue before the request's body is read: refused at once
   * ('unavailable') when the queue is full. Held until `end`.
   */
  admit(op: Op): void {
    this.admission = this.service.batcher.admit(op);
  }

  /** The request is over (answered, or its client gone): its place and its share of the model are given back. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.service.leave();
    this.service.batcher.end(this.admission);
  }

  /** Images -> standardised ε and exact bits/dim each; with `verify`, each latent decoded again and compared. */
  async encode({ images, verify, fit }: EncodeInput): Promise<{ items: EncodedItem[]; size: ImageSize }> {
    const { info, size } = this.ready;
    this.claim(encodeWork(images.length, verify));
    const decoded = await this.service.decodeImages(
      images.map((it) => it.image),
      (i) => images[i].what,
      fit,
    );
    const encoded = await this.service.batcher.encode(
      decoded.map((d) => d.pixels),
      this.admission,
    );
    const items: EncodedItem[] = encoded.map((e, i) => {
      const d = decoded[i];
      return { latent: e.eps, bpd: e.bpd, resized: d.resized, original: d.original, fitted: d.fitted && { ...d.fitted, pixels: d.pixels } };
    });
    if (!verify) return { items, size };
    // Exact in theory; in float32 a few images' reverse drifts or overflows. Say which, on request.
    const back = await this.service.batcher.decode(
      encoded.map((e) => e.eps),
      'decode',
      this.admission,
    );
    return {
      items: items.map((item, i) => ({ ...item, roundTrip: compareRoundTrip(decoded[i].pixels, back[i], info.config.nBits) })),
      size,
    };
  }

  /** Latents -> images. */
  async decode(input: DecodeInput): Promise<Images> {
    const { size } = this.ready;
    const latents =
      'float32' in input ? this.service.unpackLatents(input.float32) : input.latents.map((l) => this.service.latent(l.latent, l.what));
    this.claim(decodeWork(latents.length));
    return { images: await this.service.batcher.decode(latents, 'decode', this.admission), size };
  }

  /**
   * ε ~ N(0, t²) from a seeded generator, decoded. The latents come from the same generator as
   * Glow.sample (glow/random.ts), so a seed means the same images here and in the model's own
   * sampler, on every backend.
   */
  async sample({
    n,
    t,
    seed = randomInt(0, 2 ** 32 - 1),
  }: SampleInput): Promise<Images & { latents: Float64Array[]; seed: number; t: number }> {
    const { info, size } = this.ready;
    this.claim(sampleWork(n));
    const d = info.latentDim;
    const all = normalArray(n * d, seed, t);
    const latents = Array.from({ length: n }, (_, i) => Float64Array.from(all.subarray(i * d, (i + 1) * d)));
    const images = await this.service.batcher.decode(latents, 'sample', this.admission);
    return { images, size, latents, seed, t };
  }

  /** A strip from one image or latent to another, linear in ε. */
  async interpolate({
    from,
    to,
    steps,
    fit,
  }: InterpolateInput): Promise<Images & { latents: Float64Array[]; weights: number[]; fitted?: FittedItems }> {
    const { size } = this.ready;
    const ends = this.checkLatents([from, to]);
    this.claim(interpolateWork(ends.filter((e) => 'image' in e).length, steps));
    const fitted: FittedItems | undefined = fit ? [] : undefined;
    const [a, b] = await this.toLatents(ends, fitted);
    const latents = lerpSteps(a, b, steps);
    const images = await this.service.batcher.decode(latents, 'decode', this.admission);
    return { images, size, latents, weights: latents.map((_, s) => s / (steps - 1)), fitted };
  }

  /**
   * ε + Σ αᵢ·directionᵢ (Glow paper §5.2, Figure 6). With `steps`, a strip where every α is scaled
   * from −1 to +1; with an odd count the unedited image sits in the middle. With `passes`, the edit
   * is applied in that many parts through 8-bit pixels (attributes/passes.ts: less drift).
   */
  async manipulate({
    input,
    edits,
    steps,
    passes,
    fit,
  }: ManipulateInput): Promise<
    Images & { latents: Float64Array[]; alphas: number[][]; passes: number; edits: Edit[]; fitted?: FittedItems }
  > {
    const { size, catalog } = this.ready;
    const [start] = this.checkLatents([input]);
    this.claim(manipulateWork('image' in start, steps, passes));
    // Unknown attributes are refused before any model work is queued.
    const vectors = await catalog.require(edits.map((e) => e.attribute));
    const fitted: FittedItems | undefined = fit ? [] : undefined;
    const [eps] = await this.toLatents([start], fitted);
    const scales = steps ? linspace(-1, 1, steps) : [1];
    const alphas = scales.map((s) => edits.map((e) => s * e.alpha));
    const terms = alphas.map((row) => row.map((alpha, i) => ({ alpha, vector: vectors.get(edits[i].attribute)! })));
    const { batcher } = this.service;
    // Each pass decodes, and all but the last encode the 8-bit result again, under this request's admission.
    const model = {
      decode: (latents: Float64Array[]) => batcher.decode(latents, 'decode', this.admission),
      encode: async (images: Uint8Array[]) => (await batcher.encode(images, this.admission)).map((e) => e.eps),
    };
    const { decoded: images, latents } = await editInPasses(
      model,
      alphas.map(() => eps),
      terms,
      passes,
    );
    return { images, size, latents, alphas, passes, edits, fitted };
  }

  /**
   * A user attribute from labelled sets: mean ε(positive) − mean ε(negative), stored for this
   * model's weights. Not under the work budget (an admin write, queued one batch at a time).
   */
  async createAttribute(
    input: AttributeInput,
  ): Promise<{ created: boolean; attribute: AttributeMeta; fitted?: { positive: FittedItems; negative: FittedItems } }> {
    const { catalog } = this.ready;
    const { name, description, replace } = input;
    const positive = this.checkLatents(input.positive);
    const negative = this.checkLatents(input.negative);
    // Checks that need no model work first: a taken name fails fast (and again atomically on write).
    if (!replace && (await catalog.get(name)))
      throw new ConflictError(`attribute "${name}" already exists; add ?replace=true to overwrite it`);
    const images = [...positive, ...negative].filter((it) => 'image' in it).length;
    this.claim({ images, how: `${images} encodes` }, false);
    const fitted = input.fit ? { positive: [] as FittedItems, negative: [] as FittedItems } : undefined;
    const pos = await this.toLatents(positive, fitted?.positive);
    const neg = await this.toLatents(negative, fitted?.negative);
    const vector = direction(pos, neg);
    const record = {
      name,
      vector,
      positive: pos.length,
      negative: neg.length,
      norm: norm(vector),
      createdAt: new Date().toISOString(),
      ...(description ? { description } : {}),
    };
    const result = await catalog.create(record, replace);
    const { vector: _v, ...attribute } = record;
    return { created: result === 'created', attribute, fitted };
  }

  /**
   * Checks `work` against the budget (unless `budget` is false) and records it on the admission,
   * where the batcher uses it to share the model between requests (see Batcher).
   */
  private claim(work: Work, budget = true): void {
    if (budget) checkBudget(work, this.service.options.maxWork);
    if (this.admission) this.admission.work = work.images;
  }

  /** Latents checked against the model (length, finite values), in input order; images as they are. */
  private checkLatents(items: Item[]): Checked[] {
    return items.map((it) => ('latent' in it ? { latent: this.service.latent(it.latent, it.what) } : it));
  }

  /**
   * Resolves a mix of images and latents to latents: images are decoded (sharp) and encoded in
   * batcher submissions of up to one batch each, under this request's admission. Returns the
   * latents in input order. Given `fitted`, images are fitted to the model's data and fitted[i]
   * says what was done to item i (null for latents).
   */
  private async toLatents(items: Checked[], fitted?: FittedItems): Promise<Float64Array[]> {
    const admission = this.admission ?? { admitted: false };
    const imageIdx: number[] = [];
    const bytes: Uint8Array[] = [];
    items.forEach((it, i) => {
      if ('image' in it) {
        imageIdx.push(i);
        bytes.push(it.image);
      }
    });
    const out: Float64Array[] = items.map((it) => ('latent' in it ? it.latent : new Float64Array(0)));
    fitted?.splice(0, fitted.length, ...items.map(() => null));
    // Chunks of one batch each: a large attribute set then queues like several ordinary requests
    // instead of needing the whole queue at once.
    const chunk = this.service.options.maxBatch;
    for (let start = 0; start < bytes.length; start += chunk) {
      const idx = imageIdx.slice(start, start + chunk);
      const decoded = await this.service.decodeImages(
        bytes.slice(start, start + chunk),
        (k) => (items[idx[k]] as ImageItem).what,
        fitted !== undefined,
      );
      const encoded = await this.service.batcher.encode(
        decoded.map((d) => d.pixels),
        admission,
      );
      encoded.forEach((e, k) => (out[idx[k]] = e.eps));
      if (fitted) decoded.forEach((d, k) => (fitted[idx[k]] = { ...d.fitted!, pixels: d.pixels }));
    }
    return out;
  }
}
