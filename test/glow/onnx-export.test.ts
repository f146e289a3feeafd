// The ONNX side of every flow layer, layer by layer: its graph run by ONNX Runtime gives the TF.js
// layer's output and log-det, and its reverse graph inverts it (flow-layers.test.ts checks the TF.js
// side against autodiff). Then the exported files of the shipped checkpoints pass the ONNX checker
// of another implementation (Debian's python3-onnx, with shape inference).
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { ActNorm } from '../../src/glow/actnorm.ts';
import { initBackend } from '../../src/backend/backend.ts';
import { loadCheckpoint } from '../../src/glow/checkpoint.ts';
import { Coupling } from '../../src/glow/coupling.ts';
import { FlowStep } from '../../src/glow/flow-step.ts';
import { InvConv2dLU } from '../../src/glow/invconv.ts';
import type { FlowLayer, Module, OnnxFlowLayer } from '../../src/glow/module.ts';
import { OnnxGraph, type LogDet, type Value } from '../../src/backend/onnx-graph.ts';
import { onnxModels } from '../../src/glow/onnx-export.ts';
import { normalArray } from '../../src/glow/random.ts';
import { onnxSqueeze, onnxUnsqueeze, squeeze, unsqueeze } from '../../src/glow/squeeze.ts';
import { tempDir } from '../fixtures/app.ts';

await initBackend('cpu');

/** Runs a one-input graph built by `emit` on an NCHW array. */
async function run(dims: number[], n: number, data: Float32Array, emit: (g: OnnxGraph, x: Value) => { y: Value; logdet?: LogDet }) {
  const g = new OnnxGraph('layer');
  const { y, logdet } = emit(g, g.input('x', dims));
  g.output(y, 'y');
  const perSample = logdet !== undefined && logdet.terms.length + logdet.negated.length > 0;
  if (perSample) g.output(g.logdetValue(logdet), 'logdet');
  const session = await ort.InferenceSession.create(g.toModel({ docString: '', metadata: {} }), { logSeverityLevel: 3 });
  const out = await session.run({ x: new ort.Tensor('float32', data, [n, ...dims]) });
  await session.release();
  return { y: out.y.data as Float32Array, logdet: perSample ? (out.logdet.data as Float32Array) : logdet?.constant };
}

const toNCHW = (x: tf.Tensor4D) => tf.tidy(() => tf.transpose(x, [0, 3, 1, 2]).dataSync() as Float32Array);
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i])));

const layers: { name: string; make: () => FlowLayer & OnnxFlowLayer & Module }[] = [
  {
    name: 'ActNorm',
    make: () => {
      const a = new ActNorm(4);
      a.initialize(tf.randomNormal([8, 2, 2, 4], 1, 3) as tf.Tensor4D);
      return a;
    },
  },
  { name: 'InvConv2dLU', make: () => new InvConv2dLU(4, 7) },
  { name: 'Coupling (affine)', make: () => new Coupling(4, 8, 'affine', 3) },
  // A floor of 0.9 sits inside the scales the random weights give: both sides of it are exercised.
  { name: 'Coupling (affine, scale floor)', make: () => new Coupling(4, 8, 'affine', 3, 0.9) },
  { name: 'Coupling (additive)', make: () => new Coupling(4, 8, 'additive', 3) },
  { name: 'FlowStep', make: () => new FlowStep(4, 8, 'affine', 5) },
];

for (const { name, make } of layers) {
  t.test(`${name}: ONNX forward = TF.js forward, ONNX reverse inverts it`, async (t) => {
    const layer = make();
    let s = 100;
    for (const v of layer.params.values()) tf.tidy(() => v.assign(tf.add(v, tf.tensor(normalArray(v.size, s++, 0.3), v.shape))));
    (layer as { weightsChanged?: () => void }).weightsChanged?.();
    const shape: [number, number, number, number] = [3, 4, 6, 4];
    const x = tf.tensor4d(
      normalArray(
        shape.reduce((a, b) => a * b),
        11,
        0.5,
      ),
      shape,
    );
    const ref = layer.forward(x);
    const [n, h, w, c] = shape;
    const fwd = await run([c, h, w], n, toNCHW(x), (g, v) => layer.onnxForward(g, v));
    t.ok(maxDiff(fwd.y, toNCHW(ref.y)) < 1e-5, `y: ${maxDiff(fwd.y, toNCHW(ref.y)).toExponential(2)}`);
    const refLogdet = ref.logdet.dataSync();
    const logdet = typeof fwd.logdet === 'number' ? Array(n).fill(fwd.logdet) : Array.from(fwd.logdet!);
    t.ok(maxDiff(logdet, refLogdet) < 1e-4, `log-det: ${logdet.map((v) => v.toFixed(4))} vs ${Array.from(refLogdet, (v) => v.toFixed(4))}`);
    const back = await run([c, h, w], n, fwd.y, (g, v) => ({ y: layer.onnxReverse(g, v) }));
    t.ok(maxDiff(back.y, toNCHW(x)) < 1e-4, `reverse: ${maxDiff(back.y, toNCHW(x)).toExponential(2)}`);
    tf.dispose([x, ref.y, ref.logdet]);
    layer.dispose();
  });
}

t.test('squeeze: the same channel order as TF.js, and unsqueeze undoes it', async (t) => {
  const [n, h, w, c] = [2, 4, 6, 3];
  const x = tf.tensor4d(normalArray(n * h * w * c, 5, 1), [n, h, w, c]);
  const sq = await run([c, h, w], n, toNCHW(x), (g, v) => ({ y: onnxSqueeze(g, v) }));
  t.same(Array.from(sq.y), Array.from(toNCHW(squeeze(x))));
  const back = await run([4 * c, h / 2, w / 2], n, sq.y, (g, v) => ({ y: onnxUnsqueeze(g, v) }));
  t.same(Array.from(back.y), Array.from(toNCHW(unsqueeze(squeeze(x)))));
  t.same(Array.from(back.y), Array.from(toNCHW(x)));
});

// Debian's python3-onnx (an independent implementation of the format; .ci/run installs it).
const PYTHON = '/usr/bin/python3';
const shipped = readdirSync('models')
  .map((d) => path.join('models', d))
  .filter((d) => existsSync(path.join(d, 'manifest.json')));
for (const dir of shipped) {
  t.test(`${dir}: the exported graphs pass python3-onnx's checker with shape inference`, async (t) => {
    const { glow } = await loadCheckpoint(dir);
    t.teardown(() => glow.dispose());
    const out = tempDir(t, 'glow-serve-onnx-');
    const models = onnxModels(glow, 'f'.repeat(64), path.basename(dir));
    writeFileSync(path.join(out, 'encode.onnx'), models.encode);
    writeFileSync(path.join(out, 'decode.onnx'), models.decode);
    const check = `
import json, sys, onnx
from onnx import shape_inference
out = {}
for name in ("encode", "decode"):
    m = onnx.load(sys.argv[1] + "/" + name + ".onnx")
    onnx.checker.check_model(m, full_check=True)
    inferred = shape_inference.infer_shapes(m, check_type=True, strict_mode=True)
    dims = lambda v: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
    out[name] = {"inputs": {v.name: dims(v) for v in inferred.graph.input}, "outputs": {v.name: dims(v) for v in inferred.graph.output},
                 "opset": m.opset_import[0].version, "weights": {p.key: p.value for p in m.metadata_props}["weights_sha256"]}
print(json.dumps(out))
`;
    const report = JSON.parse(execFileSync(PYTHON, ['-c', check, out], { encoding: 'utf8' }));
    const { height: H, width: W, channels: C } = glow.config;
    const D = glow.latentDim;
    t.same(report.encode.inputs, { x: ['N', H, W, C] });
    t.same(report.encode.outputs, { eps: ['N', D], logpx: ['N'], bpd: ['N'] });
    t.same(report.decode.inputs, { eps: ['N', D] });
    t.same(report.decode.outputs, { x: ['N', H, W, C] });
    t.equal(report.encode.weights, 'f'.repeat(64));
  });
}
