import * as tf from '@tensorflow/tfjs';

/**
 * Adam (Kingma & Ba 2015) with its state in plain named arrays, so a checkpoint can hold it and
 * --resume continues exactly. The learning rate is passed per step (warm-up, back-off).
 * The update runs in JavaScript over flat arrays: one loop per parameter tensor, where TF.js would
 * launch a dozen small kernels per tensor (on WASM that was ~60 ms a step for 0.9 M parameters, a
 * serial stretch in which data-parallel workers sit idle).
 */
export class Adam {
  readonly m = new Map<string, Float32Array>();
  readonly v = new Map<string, Float32Array>();
  step = 0;

  constructor(
    private readonly params: Map<string, tf.Variable>,
    private readonly beta1 = 0.9,
    private readonly beta2 = 0.999,
    private readonly epsilon = 1e-8,
  ) {
    for (const [name, p] of params) {
      this.m.set(name, new Float32Array(p.size));
      this.v.set(name, new Float32Array(p.size));
    }
  }

  /** One step with the gradients `grads`, each multiplied by `gradScale` first (gradient clipping). */
  apply(grads: Map<string, Float32Array>, learningRate: number, gradScale = 1): void {
    this.step += 1;
    const { beta1, beta2, epsilon } = this;
    const c1 = 1 - beta1 ** this.step;
    const c2 = 1 - beta2 ** this.step;
    for (const [name, p] of this.params) {
      const g = grads.get(name);
      if (!g) continue;
      const m = this.m.get(name)!;
      const v = this.v.get(name)!;
      const w = Float32Array.from(p.dataSync() as Float32Array); // a copy: the CPU backend hands out its own storage
      for (let i = 0; i < w.length; i++) {
        const gi = g[i] * gradScale;
        m[i] = beta1 * m[i] + (1 - beta1) * gi;
        v[i] = beta2 * v[i] + (1 - beta2) * gi * gi;
        w[i] -= (learningRate * (m[i] / c1)) / (Math.sqrt(v[i] / c2) + epsilon);
      }
      tf.tidy(() => p.assign(tf.tensor(w, p.shape)));
    }
  }

  /** State for a checkpoint: "m.<param>", "v.<param>" and "step", as new tensors the caller disposes. */
  state(): Map<string, tf.Tensor> {
    const out = new Map<string, tf.Tensor>();
    for (const [prefix, store] of [
      ['m', this.m],
      ['v', this.v],
    ] as const)
      for (const [name, a] of store) out.set(`${prefix}.${name}`, tf.tensor(a, this.params.get(name)!.shape));
    out.set('step', tf.scalar(this.step));
    return out;
  }

  restore(arrays: Map<string, { data: Float32Array; shape: number[] }>): void {
    for (const [prefix, store] of [
      ['m', this.m],
      ['v', this.v],
    ] as const)
      for (const [name, a] of store) {
        const saved = arrays.get(`${prefix}.${name}`);
        if (!saved) throw new Error(`training state has no ${prefix}.${name}`);
        if (saved.data.length !== a.length)
          throw new Error(`training state: ${prefix}.${name} has ${saved.data.length} values, the model ${a.length}`);
        a.set(saved.data);
      }
    this.step = arrays.get('step')?.data[0] ?? 0;
  }
}
