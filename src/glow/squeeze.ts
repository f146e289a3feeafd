import * as tf from '@tensorflow/tfjs';

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
