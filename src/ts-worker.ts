import { Worker, WorkerOptions } from 'node:worker_threads';

const TSX_API = import.meta.resolve('tsx/esm/api');

/**
 * A worker thread running a TypeScript module: tsx's loader is registered inside the worker before
 * the module is imported (under Node 20 an inherited `--import tsx` does not apply to a worker's
 * entry module).
 */
export function tsWorker(module: URL, options: WorkerOptions = {}): Worker {
  const code = `import(${JSON.stringify(TSX_API)}).then(({ register }) => { register(); return import(${JSON.stringify(module.href)}); })`;
  return new Worker(code, { ...options, eval: true });
}
