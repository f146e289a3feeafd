import * as tf from '@tensorflow/tfjs';

/**
 * Adam (Kingma & Ba 2015) with its state in plain named tensors, so a checkpoint can hold it
 * and --resume continues exactly. The learning rate is passed per step (warm-up, back-off).
 */
export class Adam {
  readonly m = new Map<string, tf.Variable>();
  readonly v = new Map<string, tf.Variable>();
  step = 0;

  constructor(
    private readonly params: Map<string, tf.Variable>,
    private readonly beta1 = 0.9,
    private readonly beta2 = 0.999,
    private readonly epsilon = 1e-8,
  ) {
    for (const [name, p] of params) {
      this.m.set(name, tf.variable(tf.zerosLike(p), false));
      this.v.set(name, tf.variable(tf.zerosLike(p), false));
    }
  }

  apply(grads: Map<string, tf.Tensor>, learningRate: number): void {
    this.step += 1;
    const c1 = 1 - this.beta1 ** this.step;
    const c2 = 1 - this.beta2 ** this.step;
    tf.tidy(() => {
      for (const [name, p] of this.params) {
        const g = grads.get(name);
        if (!g) continue;
        const m = this.m.get(name)!;
        const v = this.v.get(name)!;
        m.assign(tf.add(tf.mul(m, this.beta1), tf.mul(g, 1 - this.beta1)));
        v.assign(tf.add(tf.mul(v, this.beta2), tf.mul(tf.square(g), 1 - this.beta2)));
        const update = tf.div(tf.div(m, c1), tf.add(tf.sqrt(tf.div(v, c2)), this.epsilon));
        p.assign(tf.sub(p, tf.mul(update, learningRate)));
      }
    });
  }

  /** State for a checkpoint: "m.<param>", "v.<param>" and "step". */
  state(): Map<string, tf.Tensor> {
    const out = new Map<string, tf.Tensor>();
    for (const [name, t] of this.m) out.set(`m.${name}`, t);
    for (const [name, t] of this.v) out.set(`v.${name}`, t);
    out.set('step', tf.scalar(this.step));
    return out;
  }

  restore(arrays: Map<string, { data: Float32Array; shape: number[] }>): void {
    for (const [prefix, store] of [['m', this.m], ['v', this.v]] as const)
      for (const [name, variable] of store) {
        const a = arrays.get(`${prefix}.${name}`);
        if (!a) throw new Error(`training state has no ${prefix}.${name}`);
        tf.tidy(() => variable.assign(tf.tensor(a.data, a.shape)));
      }
    this.step = arrays.get('step')?.data[0] ?? 0;
  }

  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
  }
}
