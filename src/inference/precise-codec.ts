// The precise path: encode and decode in float64 (backend/float64-graph.ts) for the images and latents
// far from the data. There the flow's reverse amplifies rounding by up to ~1e4 (a chain of 32
// couplings, each of whose reverse may double an error): in float32 a few such images came back a grey
// level off; in float64, with the latent kept in float64 too, the error stays below a millionth of a
// level (docs/stability.md).
import { Float64Graph } from '../backend/float64-graph.ts';
import type { Glow } from '../glow/glow.ts';

export class PreciseCodec {
  private readonly encodeGraph: Float64Graph;
  private readonly decodeGraph: Float64Graph;

  /** The graphs of the model's current weights, each prior conditioned on the half decode rebuilds (Glow.encode). */
  constructor(glow: Glow) {
    this.encodeGraph = new Float64Graph(glow.onnxEncode('rebuilt').program);
    this.decodeGraph = new Float64Graph(glow.onnxDecode().program);
  }

  /** n images NHWC in model units → their latents and bits/dim. */
  encode(n: number, x: Float32Array): { eps: Float64Array; bpd: Float32Array } {
    const out = this.encodeGraph.run(n, { x });
    return { eps: out.eps, bpd: Float32Array.from(out.bpd) };
  }

  /** n latents → n images NHWC in model units (not yet quantised). */
  decode(n: number, latents: Float64Array): Float32Array {
    return Float32Array.from(this.decodeGraph.run(n, { eps: latents }).x);
  }
}
