// The attributes visible for the served model: read-only built-ins from the checkpoint directory
// layered over the user store. Built-in names cannot be created, replaced or deleted via the API.
import { ConflictError, ForbiddenError, InvalidError, NotFoundError } from '../errors.ts';
import type { AttributeMeta, AttributeRecord, AttributeStore, ModelKey } from './store.ts';

export type Source = 'builtin' | 'user';

export class AttributeCatalog {
  constructor(
    private readonly store: AttributeStore,
    readonly key: ModelKey,
    readonly latentDim: number,
    private readonly builtins: Map<string, AttributeRecord>,
  ) {}

  async list(): Promise<(AttributeMeta & { source: Source })[]> {
    const builtin = [...this.builtins.values()].map(({ vector: _v, ...meta }) => ({ ...meta, source: 'builtin' as const }));
    const user = (await this.store.list(this.key)).map((m) => ({ ...m, source: 'user' as const }));
    return [...builtin, ...user].sort((a, b) => a.name.localeCompare(b.name));
  }

  async get(name: string): Promise<(AttributeRecord & { source: Source }) | undefined> {
    const b = this.builtins.get(name);
    if (b) return { ...b, source: 'builtin' };
    const u = await this.store.get(this.key, name);
    return u && { ...u, source: 'user' };
  }

  /** Looks up several names at once; the first unknown one is a 404. */
  async require(names: string[]): Promise<Map<string, Float32Array>> {
    const out = new Map<string, Float32Array>();
    for (const name of names) {
      if (out.has(name)) continue;
      const rec = await this.get(name);
      if (!rec) throw new NotFoundError(`unknown attribute "${name}"; this model has ${await this.names()}`);
      out.set(name, rec.vector);
    }
    return out;
  }

  async create(record: AttributeRecord, replace: boolean): Promise<'created' | 'replaced'> {
    if (this.builtins.has(record.name))
      throw new ConflictError(`attribute "${record.name}" is built in to the checkpoint and cannot be replaced; choose another name`);
    if (record.vector.length !== this.latentDim)
      throw new InvalidError(`direction has ${record.vector.length} values, the model's latent dimension is ${this.latentDim}`);
    const result = await this.store.put(this.key, record, replace);
    if (result === 'exists') throw new ConflictError(`attribute "${record.name}" already exists; add ?replace=true to overwrite it`);
    return result;
  }

  async delete(name: string): Promise<void> {
    if (this.builtins.has(name)) throw new ForbiddenError(`attribute "${name}" is built in to the checkpoint and cannot be deleted`);
    if (!(await this.store.delete(this.key, name))) throw new NotFoundError(`unknown attribute "${name}"`);
  }

  /** "a, b, c, … (24 in all)": what an unknown name could have been. */
  private async names(shown = 8): Promise<string> {
    const all = (await this.list()).map((a) => a.name);
    if (all.length === 0) return 'no attributes';
    return all.length <= shown ? all.join(', ') : `${all.slice(0, shown).join(', ')}, … (${all.length} in all)`;
  }

  async counts(): Promise<{ builtin: number; user: number }> {
    return { builtin: this.builtins.size, user: await this.store.count(this.key) };
  }
}
