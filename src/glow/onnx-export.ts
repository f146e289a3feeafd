import type { Glow } from './glow.ts';
import { OPSET } from '../backend/onnx-graph.ts';
import { readMetadata } from '../backend/onnx-proto.ts';

export const ENCODE_ONNX = 'encode.onnx';
export const DECODE_ONNX = 'decode.onnx';

export interface OnnxModels {
  /** x [N, H, W, C] (model units, [−0.5, 0.5]) → eps [N, D], logpx [N], bpd [N]. */
  encode: Uint8Array;
  /**
   * The same with each prior conditioned on the half the forward pass computed, not the one decode
   * rebuilds (Glow.encode): cheaper, and the same up to rounding near the data. Not written to files.
   */
  encodeForward: Uint8Array;
  /** eps [N, D] → x [N, H, W, C] (model units). */
  decode: Uint8Array;
}

/**
 * A checkpoint's graphs as ONNX model files, built from its current weights, each when first read
 * (the engine reads encodeForward and decode, the files are encode and decode; a graph takes 20–150
 * ms to build), so read them before the weights change. `fingerprint` (sha256 of the weights file) is
 * stored in each file's metadata, so a file can be matched to the weights it was exported from.
 */
export function onnxModels(glow: Glow, fingerprint: string, name: string): OnnxModels {
  const { height, width, channels, nBits } = glow.config;
  const metadata = {
    weights_sha256: fingerprint,
    model: name,
    config: JSON.stringify(glow.config),
    latent_shapes: JSON.stringify(glow.epsShapes),
  };
  const units = `images are float32 NHWC [N, ${height}, ${width}, ${channels}] in model units: pixel p ↦ (⌊p / 2^(8−${nBits})⌋ + 0.5) / 2^${nBits} − 0.5`;
  const latent = `eps [N, ${glow.latentDim}]: every level's ε (shapes ${JSON.stringify(glow.epsShapes)}, HWC) flattened and concatenated, level 1 first; N(0, 1) under the prior`;
  const built = new Map<keyof OnnxModels, Uint8Array | undefined>();
  const once = (key: keyof OnnxModels, build: () => Uint8Array | undefined) => {
    if (!built.has(key)) built.set(key, build());
    return built.get(key);
  };
  return {
    get encode() {
      return once('encode', () =>
        glow.onnxEncode().toModel({
          docString: `Glow encode (${name}, opset ${OPSET}). In: x, ${units}. Out: ${latent}; logpx [N] (nats, continuous density); bpd [N] (bits/dim of the discrete image).`,
          metadata,
        }),
      )!;
    },
    get encodeForward() {
      return once('encodeForward', () =>
        glow.onnxEncode('forward').toModel({
          docString: `Glow encode (${name}, opset ${OPSET}), each prior conditioned on the forward pass's half. In: x, ${units}. Out: as encode.`,
          metadata,
        }),
      )!;
    },
    get decode() {
      return once('decode', () =>
        glow.onnxDecode().toModel({ docString: `Glow decode (${name}, opset ${OPSET}). In: ${latent}. Out: x, ${units}.`, metadata }),
      )!;
    },
  };
}

/** The weights fingerprint an exported file was built from, or undefined when it has none. */
export function onnxFingerprint(bytes: Uint8Array): string | undefined {
  return readMetadata(bytes).weights_sha256;
}
