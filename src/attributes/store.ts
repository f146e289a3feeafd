// The attribute store interface: user-built directions, persisted. SQLite implements it
// (sqlite-store.ts); a PostgreSQL store for several replicas can implement the same interface.

/** Attribute names: lower-case, URL- and file-safe, no path tricks. */
export const ATTRIBUTE_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;

/**
 * Which model a direction belongs to. A direction is meaningless in another model's latent space,
 * and a retrained checkpoint under the same name is another model: so the key is the model name
 * plus a fingerprint of its weights.
 */
export interface ModelKey {
  model: string;
  checkpoint: string;
}

export interface AttributeMeta {
  name: string;
  /** Images (or latents) in the positive and negative sets. */
  positive: number;
  negative: number;
  /** Euclidean norm of the direction, to judge sensible alpha values. */
  norm: number;
  createdAt: string;
  description?: string;
}

export interface AttributeRecord extends AttributeMeta {
  vector: Float32Array;
}

export type PutResult = 'created' | 'replaced' | 'exists';

/** Async so that a networked store (PostgreSQL) fits the same shape. */
export interface AttributeStore {
  list(key: ModelKey): Promise<AttributeMeta[]>;
  get(key: ModelKey, name: string): Promise<AttributeRecord | undefined>;
  /** Atomic: either the whole record is stored or nothing. Without `replace`, an existing name gives 'exists'. */
  put(key: ModelKey, record: AttributeRecord, replace: boolean): Promise<PutResult>;
  delete(key: ModelKey, name: string): Promise<boolean>;
  count(key: ModelKey): Promise<number>;
  close(): Promise<void>;
}
