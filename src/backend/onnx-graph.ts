import * as tf from '@tensorflow/tfjs';
import * as P from './onnx-proto.ts';

/**
 * A value in the graph being built: its name and its shape per sample. Every graph value carries a
 * leading batch dimension "N" (dynamic) that `dims` leaves out; images are NCHW inside the graph.
 */
export interface Value {
  name: string;
  dims: number[];
}

/**
 * A log-determinant per sample as the layers emit it: a constant for what does not depend on the input
 * (actnorm, the 1×1 conv, the top prior: computed at export, in float64), plus graph values whose every
 * per-sample element adds to it (terms) or subtracts from it (negated). [N] values are per-sample sums
 * already. The sum is left to `logdetValue`, once per graph: the element-wise terms of every layer of
 * a level share one Sum and one ReduceSum instead of a ReduceSum and an Add per layer.
 */
export interface LogDet {
  constant: number;
  terms: Value[];
  negated: Value[];
}

/** A LogDet of a constant and terms. */
export function logdet(constant = 0, terms: Value[] = [], negated: Value[] = []): LogDet {
  return { constant, terms, negated };
}

/** The sum of log-determinants (no nodes: the terms are summed by logdetValue). */
export function addLogdets(...parts: LogDet[]): LogDet {
  return logdet(
    parts.reduce((s, p) => s + p.constant, 0),
    parts.flatMap((p) => p.terms),
    parts.flatMap((p) => p.negated),
  );
}

type Attr = number | number[];

/**
 * What a graph computes, kept beside its protobuf for runners other than ONNX Runtime
 * (float64-graph.ts): the nodes in order, and every constant as the float64 values the layer gave,
 * before the file's float32 rounding.
 */
export interface GraphProgram {
  inputs: Value[];
  outputs: string[];
  nodes: { type: string; inputs: string[]; outputs: string[]; attrs: Record<string, Attr> }[];
  constants: Map<string, { values: Float64Array; shape: number[] }>;
}

/** A conv weight in ONNX's layout [out, in, kh, kw], row-major. */
interface ConvWeight {
  values: Float32Array;
  shape: [number, number, number, number];
}

/** Up to this many output channels a 3×3 convolution is emitted as convByTaps. */
const FEW_CHANNELS = 16;

/**
 * convByTaps's depthwise conv gets a channel count that is a multiple of this: ONNX Runtime 1.31 ran 36
 * and 60 channels in its blocked NCHWc layout, 54 not.
 */
const TAP_CHANNEL_MULTIPLE = 4;

/** The ONNX operator set the graphs use (ONNX 1.12, the oldest checker the tests run, knows up to 17). */
export const OPSET = 17;
const IR_VERSION = 8;

/**
 * Builds one ONNX graph: each flow layer adds the nodes of its forward or reverse (onnxForward /
 * onnxReverse beside its TF.js forward and reverse), with its weights as constants.
 */
export class OnnxGraph {
  private readonly nodes: P.ProtoWriter[] = [];
  private readonly initializers: P.ProtoWriter[] = [];
  private readonly inputs: P.ProtoWriter[] = [];
  private readonly outputs: P.ProtoWriter[] = [];
  private counter = 0;
  readonly program: GraphProgram = { inputs: [], outputs: [], nodes: [], constants: new Map() };

  constructor(readonly name: string) {}

  /** A float32 graph input of shape [N, ...dims]. */
  input(name: string, dims: number[]): Value {
    this.inputs.push(valueInfo(name, dims));
    this.program.inputs.push({ name, dims });
    return { name, dims };
  }

  /** Makes `v` a graph output called `name`. */
  output(v: Value, name: string): void {
    this.node('Identity', [v.name], [name]);
    this.outputs.push(valueInfo(name, v.dims));
    this.program.outputs.push(name);
  }

  /**
   * A float32 constant (no batch dimension; it broadcasts against [N, …] from the right). Give it the
   * values in float64 where a layer's inverse uses them too (exp(±s), W and W⁻¹): the file rounds
   * them, the program keeps them.
   */
  constant(values: ArrayLike<number>, shape: number[]): string {
    if (values.length !== shape.reduce((a, b) => a * b, 1))
      throw new Error(`constant of ${values.length} values cannot have shape [${shape}]`);
    const name = `c${this.counter++}`;
    const data = Float32Array.from(values);
    this.initializers.push(tensorProto(name, P.FLOAT, shape, new Uint8Array(data.buffer)));
    this.program.constants.set(name, { values: Float64Array.from(values), shape });
    return name;
  }

  /** An int64 constant (shapes, axes, slice bounds). */
  ints(values: number[]): string {
    const name = `c${this.counter++}`;
    const data = BigInt64Array.from(values.map(BigInt));
    this.initializers.push(tensorProto(name, P.INT64, [values.length], new Uint8Array(data.buffer)));
    this.program.constants.set(name, { values: Float64Array.from(values), shape: [values.length] });
    return name;
  }

  /** A per-channel vector, shaped [C, 1, 1] to broadcast over NCHW. */
  channels(values: ArrayLike<number>): string {
    return this.constant(values, [values.length, 1, 1]);
  }

  /** A per-channel vector computed with TF.js from the current weights (the tensors made are freed). */
  channelsOf(fn: () => tf.Tensor): string {
    return this.channels(tf.tidy(() => fn().dataSync()));
  }

  /** One node; returns its outputs, whose per-sample shapes the caller states. */
  op(type: string, inputs: (Value | string)[], dims: number[], attrs: Record<string, Attr> = {}): Value {
    const name = `v${this.counter++}`;
    this.node(
      type,
      inputs.map((i) => (typeof i === 'string' ? i : i.name)),
      [name],
      attrs,
    );
    return { name, dims };
  }

  /** A node with several outputs (Split). */
  ops(type: string, inputs: (Value | string)[], dims: number[][], attrs: Record<string, Attr> = {}): Value[] {
    const names = dims.map(() => `v${this.counter++}`);
    this.node(
      type,
      inputs.map((i) => (typeof i === 'string' ? i : i.name)),
      names,
      attrs,
    );
    return names.map((name, i) => ({ name, dims: dims[i] }));
  }

  // Element-wise, with the shape of the value operand (constants broadcast into it).
  add = (a: Value, b: Value | string) => this.op('Add', [a, b], a.dims);
  sub = (a: Value, b: Value | string) => this.op('Sub', [a, b], a.dims);
  mul = (a: Value, b: Value | string) => this.op('Mul', [a, b], a.dims);
  div = (a: Value, b: Value | string) => this.op('Div', [a, b], a.dims);
  unary = (type: 'Relu' | 'Sigmoid' | 'Softplus' | 'Neg' | 'Exp' | 'Log', a: Value) => this.op(type, [a], a.dims);

  /** 3×3 ('same') or 1×1 convolution with bias, weights from a TF.js kernel [kh, kw, in, out]. */
  conv(x: Value, kernel: tf.Tensor, bias?: tf.Tensor): Value {
    const weight = onnxKernel(kernel);
    const [out, , kh, kw] = weight.shape;
    if (kh === 3 && kw === 3 && out <= FEW_CHANNELS) return this.convByTaps(x, weight, bias?.dataSync());
    const inputs = [x, this.constant(weight.values, weight.shape), ...(bias ? [this.constant(bias.dataSync(), [out])] : [])];
    const pad = (kh - 1) / 2;
    return this.op('Conv', inputs, [out, x.dims[1], x.dims[2]], { kernel_shape: [kh, kw], pads: [pad, pad, pad, pad] });
  }

  /**
   * A 3×3 convolution to few channels (the zero-initialised convolutions that end every coupling
   * network and make the priors) as a 1×1 convolution to one channel per (output, tap), a dense
   * GEMM, then a depthwise 3×3 convolution with one-hot kernels that shifts each tap into place, and
   * a sum over the taps. The same sum; ONNX Runtime's CPU convolution is slow on a 3×3 kernel with
   * 4 or 8 output channels (docs/performance.md has the figures).
   */
  private convByTaps(x: Value, weight: ConvWeight, bias?: ArrayLike<number>): Value {
    const [out, inC, kh, kw] = weight.shape;
    const [, h, w] = x.dims;
    const taps = kh * kw;
    // Each output gets `slots` channels, its taps and then zeros, so that the depthwise conv's channel
    // count is one ONNX Runtime runs in its blocked layout; the faces model's 6 outputs × 9 taps = 54
    // were not, and ran as a plain grouped conv (15 % of its encode time). The zeros add nothing to the
    // sum: the results are those of 9 slots, bit for bit.
    let slots = taps;
    while ((out * slots) % TAP_CHANNEL_MULTIPLE) slots++;
    const channels = out * slots;
    // 1×1 weight [out·slots, in, 1, 1], channel o·slots + tap: weight[o, i, ky, kx] with tap = ky·kw + kx.
    const k = weight.values;
    const perTapKernel = new Float32Array(channels * inC);
    for (let o = 0; o < out; o++)
      for (let i = 0; i < inC; i++)
        for (let tap = 0; tap < taps; tap++) perTapKernel[(o * slots + tap) * inC + i] = k[(o * inC + i) * taps + tap];
    const perTap = this.op('Conv', [x, this.constant(perTapKernel, [channels, inC, 1, 1])], [channels, h, w], { kernel_shape: [1, 1] });
    const shiftKernel = new Float32Array(channels * taps);
    for (let o = 0; o < out; o++) for (let tap = 0; tap < taps; tap++) shiftKernel[(o * slots + tap) * taps + tap] = 1;
    const shifted = this.op('Conv', [perTap, this.constant(shiftKernel, [channels, 1, kh, kw])], [channels, h, w], {
      kernel_shape: [kh, kw],
      pads: [1, 1, 1, 1],
      group: channels,
    });
    const summed = this.op('ReduceSum', [this.reshape(shifted, [out, slots, h, w]), this.ints([2])], [out, h, w], { keepdims: 0 });
    return bias ? this.add(summed, this.channels(bias)) : summed;
  }

  /** Channel halves (axis 1). */
  splitChannels(x: Value, parts = 2): Value[] {
    const [c, h, w] = x.dims;
    return this.ops(
      'Split',
      [x, this.ints(Array(parts).fill(c / parts))],
      Array.from({ length: parts }, () => [c / parts, h, w]),
      { axis: 1 },
    );
  }

  concatChannels(parts: Value[]): Value {
    const [, h, w] = parts[0].dims;
    return this.op('Concat', parts, [parts.reduce((s, p) => s + p.dims[0], 0), h, w], { axis: 1 });
  }

  /** Σ over every axis but the batch axis: shape [N]. */
  sumPerSample(x: Value): Value {
    return this.op('ReduceSum', [x, this.ints(x.dims.map((_, i) => i + 1))], [], { keepdims: 0 });
  }

  /** [N, ...dims] → [N, ...to] (the batch dimension is kept as it is). */
  reshape(x: Value, to: number[]): Value {
    return this.op('Reshape', [x, this.ints([0, ...to])], to);
  }

  /** perm over the per-sample axes (the batch axis stays first). */
  transpose(x: Value, perm: number[]): Value {
    return this.op(
      'Transpose',
      [x],
      perm.map((p) => x.dims[p]),
      { perm: [0, ...perm.map((p) => p + 1)] },
    );
  }

  /**
   * A log-det as one value of shape [N]: the terms of equal shape summed element-wise (one Sum), each
   * such sum reduced per sample (one ReduceSum), the negated ones subtracted, the constant added.
   */
  logdetValue(ld: LogDet): Value {
    const perSample = (values: Value[]): Value | undefined => {
      const groups = new Map<string, Value[]>();
      for (const v of values) groups.set(v.dims.join(','), [...(groups.get(v.dims.join(',')) ?? []), v]);
      const sums = [...groups.values()].map((group) => {
        const sum = group.length === 1 ? group[0] : this.op('Sum', group, group[0].dims);
        return sum.dims.length ? this.sumPerSample(sum) : sum;
      });
      return sums.length === 0 ? undefined : sums.length === 1 ? sums[0] : this.op('Sum', sums, []);
    };
    const [plus, minus] = [perSample(ld.terms), perSample(ld.negated)];
    if (!plus && !minus) throw new Error('a constant log-det has no per-sample value in the graph');
    const value = plus && minus ? this.sub(plus, minus) : (plus ?? this.op('Neg', [minus!], []));
    return ld.constant === 0 ? value : this.add(value, this.constant([ld.constant], []));
  }

  /** The ModelProto's bytes. */
  toModel(meta: { docString: string; metadata: Record<string, string> }): Uint8Array {
    const graph = new P.ProtoWriter();
    for (const n of this.nodes) graph.message(P.Graph.node, n);
    graph.string(P.Graph.name, this.name);
    for (const t of this.initializers) graph.message(P.Graph.initializer, t);
    for (const i of this.inputs) graph.message(P.Graph.input, i);
    for (const o of this.outputs) graph.message(P.Graph.output, o);
    const model = new P.ProtoWriter()
      .int(P.Model.irVersion, IR_VERSION)
      .string(P.Model.producerName, 'glow-serve')
      .string(P.Model.producerVersion, '0.1.0')
      .string(P.Model.docString, meta.docString)
      .message(P.Model.graph, graph)
      .message(P.Model.opsetImport, new P.ProtoWriter().string(P.OpsetId.domain, '').int(P.OpsetId.version, OPSET));
    for (const [key, value] of Object.entries(meta.metadata))
      model.message(P.Model.metadataProps, new P.ProtoWriter().string(P.StringEntry.key, key).string(P.StringEntry.value, value));
    return model.finish();
  }

  private node(type: string, inputs: string[], outputs: string[], attrs: Record<string, Attr> = {}): void {
    this.program.nodes.push({ type, inputs, outputs, attrs });
    const n = new P.ProtoWriter();
    for (const i of inputs) n.string(P.Node.input, i);
    for (const o of outputs) n.string(P.Node.output, o);
    n.string(P.Node.name, `${type}_${this.nodes.length}`);
    n.string(P.Node.opType, type);
    for (const [name, value] of Object.entries(attrs)) {
      const a = new P.ProtoWriter().string(P.Attribute.name, name);
      if (Array.isArray(value)) a.packedInts(P.Attribute.ints, value).int(P.Attribute.type, P.ATTR_INTS);
      else a.int(P.Attribute.i, value).int(P.Attribute.type, P.ATTR_INT);
      n.message(P.Node.attribute, a);
    }
    this.nodes.push(n);
  }
}

/** A TF.js conv kernel [kh, kw, in, out] as an ONNX Conv weight [out, in, kh, kw]. */
function onnxKernel(kernel: tf.Tensor): ConvWeight {
  const [kh, kw, inC, out] = kernel.shape;
  const k = kernel.dataSync();
  const values = new Float32Array(k.length);
  for (let o = 0; o < out; o++)
    for (let i = 0; i < inC; i++)
      for (let y = 0; y < kh; y++)
        for (let x = 0; x < kw; x++) values[((o * inC + i) * kh + y) * kw + x] = k[((y * kw + x) * inC + i) * out + o];
  return { values, shape: [out, inC, kh, kw] };
}

function tensorProto(name: string, dataType: number, dims: number[], raw: Uint8Array): P.ProtoWriter {
  const t = new P.ProtoWriter();
  if (dims.length) t.packedInts(P.Tensor.dims, dims);
  return t.int(P.Tensor.dataType, dataType).string(P.Tensor.name, name).bytes(P.Tensor.rawData, raw);
}

function valueInfo(name: string, dims: number[]): P.ProtoWriter {
  const shape = new P.ProtoWriter().message(P.Shape.dim, new P.ProtoWriter().string(P.Dimension.param, 'N'));
  for (const d of dims) shape.message(P.Shape.dim, new P.ProtoWriter().int(P.Dimension.value, d));
  const tensorType = new P.ProtoWriter().int(P.TensorType.elemType, P.FLOAT).message(P.TensorType.shape, shape);
  return new P.ProtoWriter()
    .string(P.ValueInfo.name, name)
    .message(P.ValueInfo.type, new P.ProtoWriter().message(P.TypeProto.tensorType, tensorType));
}
