import t from 'tap';
import { coreTypeHint } from '../../src/backend/backend.ts';

t.test('a hint when OpenBLAS runs its SSE3 kernels on a CPU with wider vectors', async (t) => {
  const prescott = 'OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH NO_AFFINITY Prescott MAX_THREADS=64';
  t.match(
    coreTypeHint(prescott, () => new Set(['sse3', 'avx2', 'avx512f']), ''),
    /OPENBLAS_CORETYPE=SkylakeX/,
  );
  t.match(
    coreTypeHint(prescott, () => new Set(['sse3', 'avx2']), ''),
    /OPENBLAS_CORETYPE=Haswell/,
  );
  t.equal(
    coreTypeHint(prescott, () => new Set(['sse3']), ''),
    undefined,
    'nothing better to run',
  );
  t.equal(
    coreTypeHint(prescott, () => new Set(['avx512f']), 'Prescott'),
    undefined,
    'the environment chose it',
  );
  t.equal(
    coreTypeHint(prescott.replace('Prescott', 'SkylakeX'), () => new Set(['avx512f']), ''),
    undefined,
    'a wide core type',
  );
});
