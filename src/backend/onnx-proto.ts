// The few ONNX protobuf messages an exported Glow needs (onnx/onnx.proto, IR version 8), written by
// hand: a message is a list of fields, each a tag (field number, wire type) and a value.
// Only what the graph builder emits is here: float tensors, int attributes, metadata strings.

/** A protobuf message being written: append fields, then bytes(). */
export class ProtoWriter {
  private readonly chunks: Uint8Array[] = [];
  private length = 0;

  private push(b: Uint8Array): void {
    this.chunks.push(b);
    this.length += b.length;
  }

  private varint(value: number | bigint): void {
    // int64 fields: negative values are written as their 64-bit two's complement (10 bytes).
    let v = BigInt.asUintN(64, BigInt(value));
    const out: number[] = [];
    while (v >= 0x80n) {
      out.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    out.push(Number(v));
    this.push(Uint8Array.from(out));
  }

  private tag(field: number, wireType: 0 | 2 | 5): void {
    this.varint((field << 3) | wireType);
  }

  int(field: number, value: number): this {
    this.tag(field, 0);
    this.varint(value);
    return this;
  }

  float(field: number, value: number): this {
    this.tag(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.push(b);
    return this;
  }

  bytes(field: number, value: Uint8Array): this {
    this.tag(field, 2);
    this.varint(value.length);
    this.push(value);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  message(field: number, m: ProtoWriter): this {
    return this.bytes(field, m.finish());
  }

  /** Repeated int64, packed (proto3's default for repeated scalars). */
  packedInts(field: number, values: number[]): this {
    const inner = new ProtoWriter();
    for (const v of values) inner.varint(v);
    return this.bytes(field, inner.finish());
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}

/** TensorProto.DataType */
export const FLOAT = 1;
export const INT64 = 7;

/** AttributeProto.AttributeType */
export const ATTR_INT = 2;
export const ATTR_INTS = 7;

/**
 * Field numbers, per message, from onnx.proto. ModelProto: ir_version 1, producer_name 2,
 * producer_version 3, doc_string 6, graph 7, opset_import 8, metadata_props 14.
 */
export const Model = {
  irVersion: 1,
  producerName: 2,
  producerVersion: 3,
  docString: 6,
  graph: 7,
  opsetImport: 8,
  metadataProps: 14,
} as const;
export const OpsetId = { domain: 1, version: 2 } as const;
export const StringEntry = { key: 1, value: 2 } as const;
export const Graph = { node: 1, name: 2, initializer: 5, docString: 10, input: 11, output: 12 } as const;
export const Node = { input: 1, output: 2, name: 3, opType: 4, attribute: 5 } as const;
export const Attribute = { name: 1, i: 3, ints: 8, type: 20 } as const;
export const Tensor = { dims: 1, dataType: 2, name: 8, rawData: 9 } as const;
export const ValueInfo = { name: 1, type: 2 } as const;
export const TypeProto = { tensorType: 1 } as const;
export const TensorType = { elemType: 1, shape: 2 } as const;
export const Shape = { dim: 1 } as const;
export const Dimension = { value: 1, param: 2 } as const;

/**
 * The string entries of a model's metadata_props, read back from its bytes (the fingerprint of the
 * weights it was exported from). Walks the top-level fields only; the graph is skipped unread.
 */
export function readMetadata(bytes: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  const dec = new TextDecoder();
  let at = 0;
  const varint = (): bigint => {
    let v = 0n;
    for (let shift = 0n; ; shift += 7n) {
      if (at >= bytes.length) throw new Error('not an ONNX model: the file ends inside a field');
      const b = bytes[at++];
      v |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
  };
  const fields = function* (end: number): Generator<{ field: number; start: number; end: number }> {
    while (at < end) {
      const tag = Number(varint());
      const wire = tag & 7;
      if (wire === 0) varint();
      else if (wire === 1) at += 8;
      else if (wire === 5) at += 4;
      else if (wire === 2) {
        const len = Number(varint());
        const next = at + len;
        if (next > end) throw new Error('not an ONNX model: a field runs past the end of the file');
        yield { field: tag >> 3, start: at, end: next };
        at = next; // the caller may have read inside the field meanwhile
      } else throw new Error(`not an ONNX model: wire type ${wire}`);
    }
  };
  for (const f of fields(bytes.length)) {
    if (f.field !== Model.metadataProps) continue;
    at = f.start;
    let key = '';
    let value = '';
    for (const e of fields(f.end)) {
      const s = dec.decode(bytes.subarray(e.start, e.end));
      if (e.field === StringEntry.key) key = s;
      if (e.field === StringEntry.value) value = s;
    }
    out[key] = value;
  }
  return out;
}
