import * as tf from '@tensorflow/tfjs';
import type { OnnxGraph, Value } from '../backend/onnx-graph.ts';

/**
 * Squeeze (Glow §3, RealNVP): every 2×2 block of pixels becomes 4× the channels, [N,H,W,C] → [N,H/2,W/2,4C].
 * Done with a rank-4 transpose: channel index = (row in block)·2C + (column in block)·C + c.
 */
export function squeeze(x: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, h, w, c] = x.shape;
    if (h % 2 || w % 2) throw new Error(`squeeze needs even height and width, got ${h}×${w}`);
    return x
      .reshape([n * (h / 2), 2, w / 2, 2 * c])
      .transpose([0, 2, 1, 3])
      .reshape([n, h / 2, w / 2, 4 * c]) as tf.Tensor4D;
  });
}

export function unsqueeze(x: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, h, w, c] = x.shape;
    return x
      .reshape([n * h, w, 2, c / 2])
      .transpose([0, 2, 1, 3])
      .reshape([n, h * 2, w * 2, c / 4]) as tf.Tensor4D;
  });
}

/** squeeze in the graph's NCHW: [N,C,H,W] → [N,(row, column, c),H/2,W/2], the same channel order as above. */
export function onnxSqueeze(g: OnnxGraph, x: Value): Value {
  const [c, h, w] = x.dims;
  const blocks = g.reshape(x, [c, h / 2, 2, w / 2, 2]); // c, y, row, x, column
  return g.reshape(g.transpose(blocks, [2, 4, 0, 1, 3]), [4 * c, h / 2, w / 2]);
}

export function onnxUnsqueeze(g: OnnxGraph, x: Value): Value {
  const [c4, h, w] = x.dims;
  const c = c4 / 4;
  const blocks = g.reshape(x, [2, 2, c, h, w]); // row, column, c, y, x
  return g.reshape(g.transpose(blocks, [2, 3, 0, 4, 1]), [c, 2 * h, 2 * w]);
}
