// Builds the optional native GEMM (native/blas, OpenBLAS) that speeds up matMul and convolutions on the
// wasm backend (src/backend/native-blas.ts). Runs after `npm ci`/`npm install` (postinstall) and as
// `npm run build:native`. Without OpenBLAS's headers it says so and leaves everything in WASM: a
// missing optional speed-up never fails an install.
//   apt-get install libopenblas-dev && npm run build:native
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';

const dir = path.resolve(import.meta.dirname, '../native/blas');
const headers = [
  '/usr/include/cblas.h',
  '/usr/include/x86_64-linux-gnu/cblas.h',
  '/usr/include/aarch64-linux-gnu/cblas.h',
  '/usr/include/openblas/cblas.h',
];
if (process.env.GLOW_BLAS === 'off') {
  console.log('native GEMM: not built (GLOW_BLAS=off)');
  process.exit(0);
}
if (!headers.some((h) => existsSync(h))) {
  console.log(
    'native GEMM: not built, OpenBLAS is not installed (apt-get install libopenblas-dev, then npm run build:native); matMul and conv2d run in WASM',
  );
  process.exit(0);
}
// npm hands lifecycle scripts its bundled node-gyp and the Node headers directory (.npmrc nodedir).
const gyp =
  process.env.npm_config_node_gyp ??
  path.join(path.dirname(process.execPath), '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js');
const args = [gyp, 'rebuild', ...(process.env.npm_config_nodedir ? [`--nodedir=${process.env.npm_config_nodedir}`] : [])];
const r = spawnSync(process.execPath, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
if (r.status !== 0) {
  rmSync(path.join(dir, 'build'), { recursive: true, force: true });
  console.log(
    `native GEMM: the build failed, so matMul and conv2d run in WASM:\n${(r.stderr || r.stdout || String(r.error)).split('\n').slice(-15).join('\n')}`,
  );
  process.exit(0);
}
console.log('native GEMM: built native/blas/build/Release/glow_blas.node (OpenBLAS)');
