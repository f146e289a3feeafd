// Runs a graph the layers built (onnx-graph.ts) in float64, in JavaScript, a few images at a time: the
// precise path of encode and decode for images far from the data, where float32 rounding amplified
// through the flow's reverse can cost a pixel a grey level (docs/stability.md). Only the operators the
// layers emit are known. Matrix products use OpenBLAS's dgemm when the native addon has it.
import type { GraphProgram } from './onnx-graph.ts';
import { nativeBlas } from './native-blas.ts';

/** A value: row-major data and its whole shape (the batch dimension included). */
interface Tensor {
  data: Float64Array;
  shape: number[];
}

type Node = GraphProgram['nodes'][number];

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** Samples run together. */
const CHUNK = 8;

export class Float64Graph {
  /** For each value, the index of the last node that reads it: it is dropped after that node. */
  private readonly lastUse = new Map<string, number>();

  constructor(private readonly program: GraphProgram) {
    program.nodes.forEach((node, i) => node.inputs.forEach((name) => this.lastUse.set(name, i)));
    for (const name of program.outputs) this.lastUse.set(name, Infinity);
  }

  /** The graph on n samples: each input holds n · size(dims) values; each output n · size of its. */
  run(n: number, inputs: Record<string, ArrayLike<number>>): Record<string, Float64Array> {
    const per = this.program.inputs.map(({ name, dims }) => {
      const data = inputs[name];
      if (!data) throw new Error(`float64 graph: no input ${name}`);
      if (data.length !== n * size(dims)) throw new Error(`float64 graph: ${name} has ${data.length} values, not ${n} × ${size(dims)}`);
      return { name, dims, d: size(dims), data };
    });
    const outputs: Record<string, Float64Array> = {};
    // A few samples at a time: the per-node work is shared, the memory stays small.
    for (let start = 0; start < n; start += CHUNK) {
      const k = Math.min(CHUNK, n - start);
      const values = new Map(
        per.map((p) => [
          p.name,
          { data: Float64Array.from({ length: k * p.d }, (_, j) => p.data[start * p.d + j]), shape: [k, ...p.dims] },
        ]),
      );
      const done = this.runBatch(values);
      for (const name of this.program.outputs) {
        const v = done.get(name)!;
        outputs[name] ??= new Float64Array((n * v.data.length) / k);
        outputs[name].set(v.data, (start * v.data.length) / k);
      }
    }
    return outputs;
  }

  private runBatch(values: Map<string, Tensor>): Map<string, Tensor> {
    const get = (name: string): Tensor => {
      const v = values.get(name) ?? this.program.constants.get(name);
      if (!v) throw new Error(`float64 graph: ${name} is used before it is computed`);
      return 'values' in v ? { data: v.values, shape: v.shape } : v;
    };
    this.program.nodes.forEach((node, i) => {
      const results = evaluate(
        node,
        node.inputs.map((name) => (name === '' ? undefined : get(name))),
      );
      node.outputs.forEach((name, k) => values.set(name, results[k]));
      for (const name of node.inputs) if (this.lastUse.get(name) === i) values.delete(name);
    });
    return values;
  }
}

function evaluate(node: Node, args: (Tensor | undefined)[]): Tensor[] {
  const [a, b] = args as Tensor[];
  const attr = (name: string) => node.attrs[name];
  switch (node.type) {
    case 'Identity':
      return [a];
    case 'Add':
    case 'Sub':
    case 'Mul':
    case 'Div':
    case 'Max':
      return [binary(node.type, a, b)];
    case 'Sum':
      return [(args as Tensor[]).reduce((s, t) => binary('Add', s, t))];
    case 'Clip':
      return [clip(a, args[1]?.data[0] ?? -Infinity, args[2]?.data[0] ?? Infinity)];
    case 'Relu':
    case 'Sigmoid':
    case 'Softplus':
    case 'Neg':
    case 'Exp':
    case 'Log':
      return [unary(node.type, a)];
    case 'Reshape': {
      const to = Array.from(b.data, (d, i) => (d === 0 ? a.shape[i] : d));
      if (size(to) !== a.data.length) throw new Error(`float64 graph: cannot reshape [${a.shape}] to [${to}]`);
      return [{ data: a.data, shape: to }];
    }
    case 'Transpose': {
      const perm = attr('perm') as number[];
      const strides = rowMajorStrides(a.shape);
      const shape = perm.map((p) => a.shape[p]);
      return [
        {
          data: gather(
            a.data,
            shape,
            perm.map((p) => strides[p]),
          ),
          shape,
        },
      ];
    }
    case 'Split':
      return split(a, Array.from(b.data), attr('axis') as number);
    case 'Concat':
      return [concat(args as Tensor[], attr('axis') as number)];
    case 'ReduceSum':
      return [reduceSum(a, Array.from(b.data), attr('keepdims') !== 0)];
    case 'Conv':
      return [conv(a, b, args[2], (attr('pads') as number[] | undefined) ?? [0, 0, 0, 0], (attr('group') as number | undefined) ?? 1)];
    default:
      throw new Error(`float64 graph: no operator ${node.type}`);
  }
}

// Element-wise operators each have their own loop: one shared loop calling a function per element
// ran at a third of the speed.
function unary(type: 'Relu' | 'Sigmoid' | 'Softplus' | 'Neg' | 'Exp' | 'Log', a: Tensor): Tensor {
  const [x, out] = [a.data, new Float64Array(a.data.length)];
  const n = out.length;
  switch (type) {
    case 'Relu':
      for (let i = 0; i < n; i++) out[i] = x[i] > 0 ? x[i] : 0;
      break;
    case 'Sigmoid':
      for (let i = 0; i < n; i++) out[i] = x[i] >= 0 ? 1 / (1 + Math.exp(-x[i])) : Math.exp(x[i]) / (1 + Math.exp(x[i]));
      break;
    case 'Softplus':
      for (let i = 0; i < n; i++) out[i] = x[i] > 0 ? x[i] + Math.log1p(Math.exp(-x[i])) : Math.log1p(Math.exp(x[i]));
      break;
    case 'Neg':
      for (let i = 0; i < n; i++) out[i] = -x[i];
      break;
    case 'Exp':
      for (let i = 0; i < n; i++) out[i] = Math.exp(x[i]);
      break;
    case 'Log':
      for (let i = 0; i < n; i++) out[i] = Math.log(x[i]);
      break;
  }
  return { data: out, shape: a.shape };
}

function clip(a: Tensor, lo: number, hi: number): Tensor {
  const out = new Float64Array(a.data.length);
  for (let i = 0; i < out.length; i++) {
    const v = a.data[i];
    out[i] = v < lo ? lo : v > hi ? hi : v; // NaN stays NaN
  }
  return { data: out, shape: a.shape };
}

/** a ∘ b with numpy broadcasting: the operands are first brought to the output's shape. */
function binary(type: 'Add' | 'Sub' | 'Mul' | 'Div' | 'Max', a: Tensor, b: Tensor): Tensor {
  const rank = Math.max(a.shape.length, b.shape.length);
  const pa = [...Array(rank - a.shape.length).fill(1), ...a.shape];
  const pb = [...Array(rank - b.shape.length).fill(1), ...b.shape];
  const shape = pa.map((d, i) => {
    if (d !== pb[i] && d !== 1 && pb[i] !== 1) throw new Error(`float64 graph: [${a.shape}] and [${b.shape}] do not broadcast`);
    return Math.max(d, pb[i]);
  });
  const [x, y] = [expand(a, shape), expand(b, shape)];
  const out = new Float64Array(x.length);
  const n = out.length;
  switch (type) {
    case 'Add':
      for (let i = 0; i < n; i++) out[i] = x[i] + y[i];
      break;
    case 'Sub':
      for (let i = 0; i < n; i++) out[i] = x[i] - y[i];
      break;
    case 'Mul':
      for (let i = 0; i < n; i++) out[i] = x[i] * y[i];
      break;
    case 'Div':
      for (let i = 0; i < n; i++) out[i] = x[i] / y[i];
      break;
    case 'Max':
      for (let i = 0; i < n; i++) out[i] = x[i] >= y[i] || Number.isNaN(x[i]) ? x[i] : y[i];
      break;
  }
  return { data: out, shape };
}

/** a's values at every index of `shape` (which a broadcasts to). */
function expand(a: Tensor, shape: number[]): Float64Array {
  if (a.data.length === size(shape)) return a.data;
  if (a.data.length === 1) return new Float64Array(size(shape)).fill(a.data[0]);
  return gather(a.data, shape, broadcastStrides(a.shape, shape));
}

function rowMajorStrides(shape: number[]): number[] {
  const strides = new Array<number>(shape.length);
  for (let i = shape.length - 1, stride = 1; i >= 0; i--) {
    strides[i] = stride;
    stride *= shape[i];
  }
  return strides;
}

/** Row-major strides of `shape` as seen from `out`, which it broadcasts to: 0 along each axis it repeats. */
function broadcastStrides(shape: number[], out: number[]): number[] {
  const padded = [...Array(out.length - shape.length).fill(1), ...shape];
  const strides = rowMajorStrides(padded);
  return strides.map((s, i) => (padded[i] === 1 && out[i] !== 1 ? 0 : s));
}

/** out[i₀, …, iₖ] = data[Σ iⱼ·strides[j]] over `shape`, row-major: a transpose or a broadcast. */
function gather(data: Float64Array, shape: number[], strides: number[]): Float64Array {
  const out = new Float64Array(size(shape));
  const last = shape.length - 1;
  const [n, step] = [shape[last] ?? 1, strides[last] ?? 0];
  let k = 0;
  const walk = (axis: number, offset: number) => {
    if (axis >= last) {
      for (let i = 0; i < n; i++) out[k++] = data[offset + i * step];
      return;
    }
    for (let i = 0; i < shape[axis]; i++) walk(axis + 1, offset + i * strides[axis]);
  };
  walk(0, 0);
  return out;
}

function split(a: Tensor, sizes: number[], axis: number): Tensor[] {
  const outer = size(a.shape.slice(0, axis));
  const inner = size(a.shape.slice(axis + 1));
  let start = 0;
  return sizes.map((s) => {
    const out = new Float64Array(outer * s * inner);
    for (let o = 0; o < outer; o++)
      out.set(a.data.subarray((o * a.shape[axis] + start) * inner, (o * a.shape[axis] + start + s) * inner), o * s * inner);
    start += s;
    return { data: out, shape: a.shape.map((d, i) => (i === axis ? s : d)) };
  });
}

function concat(parts: Tensor[], axis: number): Tensor {
  const total = parts.reduce((s, p) => s + p.shape[axis], 0);
  const shape = parts[0].shape.map((d, i) => (i === axis ? total : d));
  const outer = size(shape.slice(0, axis));
  const inner = size(shape.slice(axis + 1));
  const out = new Float64Array(size(shape));
  let start = 0;
  for (const p of parts) {
    const s = p.shape[axis];
    for (let o = 0; o < outer; o++) out.set(p.data.subarray(o * s * inner, (o + 1) * s * inner), (o * total + start) * inner);
    start += s;
  }
  return { data: out, shape };
}

function reduceSum(a: Tensor, axes: number[], keepdims: boolean): Tensor {
  const sorted = [...axes].sort((x, y) => x - y);
  if (sorted.some((axis, i) => axis !== sorted[0] + i))
    throw new Error(`float64 graph: ReduceSum over axes [${axes}] that are not adjacent`);
  const [lo, hi] = [sorted[0], sorted[sorted.length - 1]];
  const outer = size(a.shape.slice(0, lo));
  const mid = size(a.shape.slice(lo, hi + 1));
  const inner = size(a.shape.slice(hi + 1));
  const out = new Float64Array(outer * inner);
  for (let o = 0; o < outer; o++)
    for (let m = 0; m < mid; m++) {
      const from = (o * mid + m) * inner;
      for (let i = 0; i < inner; i++) out[o * inner + i] += a.data[from + i];
    }
  const kept = a.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  return { data: out, shape: keepdims ? kept : a.shape.filter((_, i) => !axes.includes(i)) };
}

/** Convolution, stride 1: x [N, C, H, W], w [O, C/group, kh, kw], bias [O], pads [top, left, bottom, right]. */
function conv(x: Tensor, w: Tensor, bias: Tensor | undefined, pads: number[], group: number): Tensor {
  const [N, C, H, W] = x.shape;
  const [O, Cg, kh, kw] = w.shape;
  const [pt, pl, pb, pr] = pads;
  const [Ho, Wo] = [H + pt + pb - kh + 1, W + pl + pr - kw + 1];
  const out = new Float64Array(N * O * Ho * Wo);
  // Each sample alone, so that its results never depend on the others in the batch.
  for (let n = 0; n < N; n++) {
    const xn = x.data.subarray(n * C * H * W, (n + 1) * C * H * W);
    const on = out.subarray(n * O * Ho * Wo, (n + 1) * O * Ho * Wo);
    if (group === 1) {
      // im2col: row (c, ky, kx), column (y, x); a 1×1 convolution without padding is the input itself.
      let cols = xn;
      if (kh * kw > 1 || pt + pl + pb + pr > 0) {
        cols = new Float64Array(C * kh * kw * Ho * Wo);
        for (let c = 0; c < C; c++)
          for (let ky = 0; ky < kh; ky++)
            for (let kx = 0; kx < kw; kx++) {
              const row = ((c * kh + ky) * kw + kx) * Ho * Wo;
              for (let y = 0; y < Ho; y++) {
                const sy = y + ky - pt;
                if (sy < 0 || sy >= H) continue;
                for (let xo = 0; xo < Wo; xo++) {
                  const sx = xo + kx - pl;
                  if (sx >= 0 && sx < W) cols[row + y * Wo + xo] = xn[(c * H + sy) * W + sx];
                }
              }
            }
      }
      gemm(w.data, cols, on, O, Ho * Wo, C * kh * kw);
    } else {
      // Grouped (the graphs' depthwise shifts): each output channel from its group's input channels.
      const Og = O / group;
      for (let o = 0; o < O; o++)
        for (let ci = 0; ci < Cg; ci++) {
          const c = Math.floor(o / Og) * Cg + ci;
          for (let ky = 0; ky < kh; ky++)
            for (let kx = 0; kx < kw; kx++) {
              const wv = w.data[((o * Cg + ci) * kh + ky) * kw + kx];
              if (wv === 0) continue;
              for (let y = 0; y < Ho; y++) {
                const sy = y + ky - pt;
                if (sy < 0 || sy >= H) continue;
                for (let xo = 0; xo < Wo; xo++) {
                  const sx = xo + kx - pl;
                  if (sx >= 0 && sx < W) on[(o * Ho + y) * Wo + xo] += wv * xn[(c * H + sy) * W + sx];
                }
              }
            }
        }
    }
    if (bias) for (let o = 0; o < O; o++) for (let p = 0; p < Ho * Wo; p++) on[o * Ho * Wo + p] += bias.data[o];
  }
  return { data: out, shape: [N, O, Ho, Wo] };
}

/** c[M,N] = a[M,K]·b[K,N]: OpenBLAS's dgemm when the addon has it, else a plain loop. */
export function gemm(a: Float64Array, b: Float64Array, c: Float64Array, M: number, N: number, K: number, blas = nativeBlas()): void {
  if (blas?.dgemm) {
    blas.dgemm(a, b, c, M, N, K);
    return;
  }
  c.fill(0);
  for (let i = 0; i < M; i++)
    for (let k = 0; k < K; k++) {
      const v = a[i * K + k];
      if (v === 0) continue;
      const [row, from] = [i * N, k * N];
      for (let j = 0; j < N; j++) c[row + j] += v * b[from + j];
    }
}
