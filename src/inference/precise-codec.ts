// The precise path: encode and decode in float64 (backend/float64-graph.ts) for the images and latents
// far from the data. There the flow's reverse amplifies rounding (a chain of 32 couplings, each of
// whose reverse may double an error): in float32 a few such images came back a grey level off; in
// float64, with the latent kept in float64 too, the largest error measured was 8e-6 levels
// (docs/stability.md).
import { Float64Graph } from '../backend/float64-graph.ts';
import type { Glow } from '../glow/glow.ts';

export class PreciseCodec {
  private graphs?: { encode: Float64Graph; decode: Float64Graph };

  /** An engine's glow, whose weights do not change under it. */
  constructor(private readonly glow: Glow) {}

  /**
   * The graphs, each prior conditioned on the half decode rebuilds (Glow.encode), built at first use:
   * most batches never need them, and building them takes 130–200 ms a model, which every worker start
   * would otherwise pay.
   */
  private get built(): { encode: Float64Graph; decode: Float64Graph } {
    this.graphs ??= {
      encode: new Float64Graph(this.glow.onnxEncode('rebuilt').program),
      decode: new Float64Graph(this.glow.onnxDecode().program),
    };
    return this.graphs;
  }

  /** n images NHWC in model units → their latents and bits/dim. */
  encode(n: number, x: Float32Array): { eps: Float64Array; bpd: Float32Array } {
    const out = this.built.encode.run(n, { x });
    return { eps: out.eps, bpd: Float32Array.from(out.bpd) };
  }

  /** n latents → n images NHWC in model units (not yet quantised). */
  decode(n: number, latents: Float64Array): Float32Array {
    return Float32Array.from(this.built.decode.run(n, { eps: latents }).x);
  }
}
