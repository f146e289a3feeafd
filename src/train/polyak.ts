import * as tf from '@tensorflow/tfjs';

/**
 * Polyak averaging (an exponential moving average of the weights), as the Glow paper's code does:
 * the averaged weights are the ones evaluated and shipped, while training goes on with the raw
 * ones. At lr 1e-3 the raw weights wander; their average is a markedly better model.
 * The decay warms up as min(decay, (1 + n) / (10 + n)) so early averages are not stuck at the
 * random initialisation.
 */
export class Polyak {
  readonly shadow = new Map<string, tf.Variable>();
  updates = 0;

  constructor(
    private readonly params: Map<string, tf.Variable>,
    readonly decay: number,
  ) {
    for (const [name, p] of params) this.shadow.set(name, tf.variable(p.clone(), false));
  }

  update(): void {
    this.updates += 1;
    const d = Math.min(this.decay, (1 + this.updates) / (10 + this.updates));
    tf.tidy(() => {
      for (const [name, p] of this.params) {
        const s = this.shadow.get(name)!;
        s.assign(tf.add(tf.mul(s, d), tf.mul(p, 1 - d)));
      }
    });
  }

  /** Runs `fn` with the averaged weights in the model; `raw` holds the training weights meanwhile. */
  async withAveraged<T>(fn: (raw: Map<string, tf.Tensor>) => Promise<T>): Promise<T> {
    const raw = new Map([...this.params].map(([name, p]) => [name, p.clone()] as const));
    for (const [name, p] of this.params) p.assign(this.shadow.get(name)!);
    try {
      return await fn(raw);
    } finally {
      for (const [name, p] of this.params) p.assign(raw.get(name)!);
      for (const t of raw.values()) t.dispose();
    }
  }

  /**
   * After loading a checkpoint whose weights file holds the averaged weights: they become the
   * shadow, and the training weights come from `raw` (absent in checkpoints written before
   * averaging existed: then both start from the weights file).
   */
  restore(raw: Map<string, { data: Float32Array; shape: number[] }>, updates: number): void {
    for (const [name, p] of this.params) {
      tf.tidy(() => this.shadow.get(name)!.assign(p));
      const a = raw.get(name);
      if (a) tf.tidy(() => p.assign(tf.tensor(a.data, a.shape)));
    }
    this.updates = updates;
  }

  dispose(): void {
    for (const t of this.shadow.values()) t.dispose();
  }
}
