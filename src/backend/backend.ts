// Picks the TF.js backend: native bindings when installed, else WASM (with our kernel
// replacements), else the pure-JS CPU backend. GLOW_BACKEND=auto|tensorflow|wasm|cpu.
// On WASM, GLOW_WASM_THREADS=1..8 (default 2) sets the XNNPACK thread count (see prepareNodeThreads).
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import workerThreads from 'node:worker_threads';
import { nativeBlas } from './native-blas.ts';
import * as tf from '@tensorflow/tfjs';

const require = createRequire(import.meta.url);

export type BackendChoice = 'auto' | 'tensorflow' | 'wasm' | 'cpu';

let initialised: Promise<string> | undefined;

/** Initialise once per process (or worker); later calls return the same backend name. */
export function initBackend(
  choice: BackendChoice = (process.env.GLOW_BACKEND as BackendChoice) || 'auto',
  log: (msg: string) => void = () => {},
): Promise<string> {
  initialised ??= select(choice, log);
  return initialised;
}

async function select(choice: BackendChoice, log: (msg: string) => void): Promise<string> {
  if (!['auto', 'tensorflow', 'wasm', 'cpu'].includes(choice))
    throw new Error(`GLOW_BACKEND must be auto, tensorflow, wasm or cpu, not "${choice}"`);
  if (choice === 'auto' || choice === 'tensorflow') {
    for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
      try {
        require(pkg); // registers the 'tensorflow' backend on the shared tfjs-core engine
        if (await tf.setBackend('tensorflow')) {
          log(`backend: tensorflow (${pkg})`);
          return 'tensorflow';
        }
      } catch {
        // not installed here, or its libtensorflow is missing: fall through
      }
    }
    if (choice === 'tensorflow')
      throw new Error('GLOW_BACKEND=tensorflow but neither @tensorflow/tfjs-node-gpu nor @tensorflow/tfjs-node loads');
  }
  if (choice === 'auto' || choice === 'wasm') {
    try {
      await startWasm(log);
      return 'wasm';
    } catch (err) {
      if (choice === 'wasm') throw err;
      log(`backend: wasm failed (${(err as Error).message}); falling back to cpu`);
    }
  }
  await tf.setBackend('cpu');
  await tf.ready();
  log('backend: cpu');
  return 'cpu';
}

async function startWasm(log: (msg: string) => void): Promise<void> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  // In Node the .wasm binaries must be pointed at explicitly (a directory ending in '/').
  const dist = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
  wasm.setWasmPaths(dist + '/');
  const threads = threadCount('GLOW_WASM_THREADS', 2);
  const undo = threads > 1 ? prepareNodeThreads(dist, threads, wasm.setThreadsCount) : () => {};
  let timer: NodeJS.Timeout | undefined;
  try {
    // A broken pthread worker makes init hang rather than fail: surface it.
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`the wasm backend did not start within 60 s with GLOW_WASM_THREADS=${threads}; try GLOW_WASM_THREADS=1`)),
        60_000,
      );
    });
    if (!(await Promise.race([tf.setBackend('wasm'), timeout]))) throw new Error('tf.setBackend("wasm") returned false');
    await tf.ready();
  } finally {
    clearTimeout(timer);
    undo();
  }
  if (threads > 1) {
    // The pool's pthread workers are ref'd while their thread runs (forever): unref them so the process can exit.
    const module = (tf.findBackend('wasm') as unknown as { wasm: { PThread?: { runningWorkers: { unref(): void }[] } } }).wasm;
    for (const w of module.PThread?.runningWorkers ?? []) w.unref();
  }
  log(`backend: wasm, ${wasm.getThreadsCount()} thread(s)`);
  const { registerWasmKernels, wasmKernelOptions } = await import('./wasm-kernels.ts');
  registerWasmKernels();
  const blas = nativeBlas();
  if (blas) {
    // One OpenBLAS thread by default: measured here, a second one gains 25 % on a big GEMM but makes batch-1
    // inference 2-4x slower (thread hand-offs on small products), and the training step no faster.
    const blasThreads = threadCount('GLOW_BLAS_THREADS', 1);
    blas.setThreads(blasThreads);
    wasmKernelOptions.blas = blas;
    log(`matMul and conv2d: native OpenBLAS GEMM, ${blasThreads} thread(s) (${blas.config().trim()}; GLOW_BLAS=off for pure WASM)`);
    const hint = coreTypeHint(blas.config());
    if (hint) log(hint);
  }
}

/**
 * OpenBLAS falls back to its SSE3 (Prescott) kernels on a CPU it does not know, as 0.3.21 does on some
 * newer Xeons; OPENBLAS_CORETYPE picks others. Measured on one (family 6, model 207): a data-parallel
 * training iteration 30.9 images/s with Prescott, 37.3 with Haswell, 42.4 with SkylakeX (one run of
 * `npm run bench`). Only a hint: the environment may set the core type on purpose.
 */
export function coreTypeHint(config: string, cpuFlags = readCpuFlags, coreType = process.env.OPENBLAS_CORETYPE): string | undefined {
  // /proc/cpuinfo is read only in that case: this runs at every backend start.
  if (!/\bPrescott\b/.test(config) || coreType) return undefined;
  const flags = cpuFlags();
  const better = flags.has('avx512f') ? 'SkylakeX' : flags.has('avx2') ? 'Haswell' : undefined;
  return (
    better &&
    `OpenBLAS chose its SSE3 kernels (Prescott) on a CPU with ${better === 'SkylakeX' ? 'AVX-512' : 'AVX2'}: OPENBLAS_CORETYPE=${better} may make training faster`
  );
}

function readCpuFlags(): Set<string> {
  try {
    const flags = /^flags\s*:(.*)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '';
    return new Set(flags.trim().split(/\s+/));
  } catch {
    return new Set();
  }
}

/**
 * A thread count from the environment, 1..8. GLOW_WASM_THREADS (default 2): XNNPACK threads on the wasm
 * backend, 1 loads the plain SIMD build, no workers. GLOW_BLAS_THREADS (default 1): OpenBLAS threads.
 */
function threadCount(variable: 'GLOW_WASM_THREADS' | 'GLOW_BLAS_THREADS', fallback: number): number {
  const v = process.env[variable] ?? String(fallback);
  if (!/^[1-8]$/.test(v)) throw new Error(`${variable} must be an integer from 1 to 8, not "${v}"`);
  return Number(v);
}

/**
 * tfjs-backend-wasm turns threads off in Node: its pthread worker comes from a blob: URL, which Node's Worker refuses,
 * and the C++ side caps the pool at (cores reported)/2. This enables the threaded build for the duration of the
 * backend's initialisation: the worker script goes to a temp file, os.cpus() reports at least 2·threads cores, and
 * the 8 pthread workers emscripten preallocates start without our execArgv (the tsx loader: 4x slower start,
 * +65 MB). Returns the function that undoes these patches.
 */
function prepareNodeThreads(dist: string, threads: number, setThreadsCount: (n: number) => void): () => void {
  const file = workerScript(dist);
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  setThreadsCount(threads);
  const mutableOs = os as { cpus: typeof os.cpus };
  const mutableWt = workerThreads as { Worker: typeof workerThreads.Worker };
  const saved = { createObjectURL: URL.createObjectURL, cpus: os.cpus, Worker: workerThreads.Worker };
  URL.createObjectURL = () => file; // the only object URL tfjs creates while initialising: the worker script
  mutableOs.cpus = () => {
    const cpus = saved.cpus();
    while (cpus.length > 0 && cpus.length < 2 * threads) cpus.push(cpus[0]);
    return cpus;
  };
  mutableWt.Worker = class extends saved.Worker {
    constructor(script: string | URL, options: workerThreads.WorkerOptions = {}) {
      super(script, { execArgv: [], ...options });
    }
  };
  return () => {
    URL.createObjectURL = saved.createObjectURL;
    mutableOs.cpus = saved.cpus;
    mutableWt.Worker = saved.Worker;
  };
}

/** Writes the pthread worker script (once per content, atomically) to the temp dir and returns its path. */
function workerScript(dist: string): string {
  const out = path.join(dist, '../wasm-out');
  const { wasmWorkerContents } = require(path.join(out, 'tfjs-backend-wasm-threaded-simd.worker.js')) as { wasmWorkerContents: string };
  // The worker gets its main script as a Blob and loads it through an object URL: point that at the package's file.
  // The newline re-escaping is what tfjs itself does before making its blob (the template literal unescaped them).
  const text =
    `URL.createObjectURL = () => ${JSON.stringify(path.join(out, 'tfjs-backend-wasm-threaded-simd.js'))}; URL.revokeObjectURL = () => {};\n` +
    wasmWorkerContents.replace(/\n/g, '\\n');
  const file = path.join(os.tmpdir(), `glow-tfjs-wasm-worker-${createHash('sha1').update(text).digest('hex').slice(0, 12)}.cjs`);
  if (!fs.existsSync(file)) {
    const tmp = `${file}.${process.pid}`;
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, file);
  }
  return file;
}
