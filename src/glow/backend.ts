// Picks the TF.js backend: native bindings when installed, else WASM (with our kernel
// replacements), else the pure-JS CPU backend. GLOW_BACKEND=auto|tensorflow|wasm|cpu.
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';

const require = createRequire(import.meta.url);

export type BackendChoice = 'auto' | 'tensorflow' | 'wasm' | 'cpu';

let initialised: Promise<string> | undefined;

/** Initialise once per process (or worker); later calls return the same backend name. */
export function initBackend(choice: BackendChoice = (process.env.GLOW_BACKEND as BackendChoice) || 'auto', log: (msg: string) => void = () => {}): Promise<string> {
  initialised ??= select(choice, log);
  return initialised;
}

async function select(choice: BackendChoice, log: (msg: string) => void): Promise<string> {
  if (!['auto', 'tensorflow', 'wasm', 'cpu'].includes(choice)) throw new Error(`GLOW_BACKEND must be auto, tensorflow, wasm or cpu, not "${choice}"`);
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
    if (choice === 'tensorflow') throw new Error('GLOW_BACKEND=tensorflow but neither @tensorflow/tfjs-node-gpu nor @tensorflow/tfjs-node loads');
  }
  if (choice === 'auto' || choice === 'wasm') {
    try {
      await startWasm();
      log('backend: wasm');
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

async function startWasm(): Promise<void> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  // In Node the .wasm binaries must be pointed at explicitly (a directory ending in '/').
  wasm.setWasmPaths(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm')) + '/');
  if (!(await tf.setBackend('wasm'))) throw new Error('tf.setBackend("wasm") returned false');
  await tf.ready();
  const { registerWasmKernels } = await import('./wasm-kernels.ts');
  registerWasmKernels();
}
