import * as tf from '@tensorflow/tfjs';
import { ActNorm } from './actnorm.ts';
import { Coupling, CouplingKind } from './coupling.ts';
import { InvConv2dLU } from './invconv.ts';
import { FlowLayer, Module, type OnnxFlowLayer } from './module.ts';
import { addLogdets, type LogDet, type OnnxGraph, type Value } from '../backend/onnx-graph.ts';

/** One step of flow (Glow Fig. 2a): actnorm → invertible 1×1 conv → coupling. */
export class FlowStep extends Module implements FlowLayer, OnnxFlowLayer {
  readonly actnorm: ActNorm;
  readonly invconv: InvConv2dLU;
  readonly coupling: Coupling;

  constructor(channels: number, hidden: number, coupling: CouplingKind, seed: number, minScale = 0) {
    super();
    this.actnorm = new ActNorm(channels);
    this.invconv = new InvConv2dLU(channels, seed);
    this.coupling = new Coupling(channels, hidden, coupling, seed + 1, minScale);
    this.adopt('actnorm', this.actnorm);
    this.adopt('invconv', this.invconv);
    this.adopt('coupling', this.coupling);
  }

  forward(x: tf.Tensor4D) {
    return tf.tidy(() => {
      let y = x;
      let logdet: tf.Tensor1D | undefined;
      for (const layer of [this.actnorm, this.invconv, this.coupling] as FlowLayer[]) {
        const out = layer.forward(y);
        y = out.y;
        logdet = logdet ? (tf.add(logdet, out.logdet) as tf.Tensor1D) : out.logdet;
      }
      return { y, logdet: logdet! };
    });
  }

  reverse(y: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => this.actnorm.reverse(this.invconv.reverse(this.coupling.reverse(y))));
  }

  onnxForward(g: OnnxGraph, x: Value): { y: Value; logdet: LogDet } {
    let y = x;
    const logdets: LogDet[] = [];
    for (const layer of [this.actnorm, this.invconv, this.coupling] as OnnxFlowLayer[]) {
      const out = layer.onnxForward(g, y);
      y = out.y;
      logdets.push(out.logdet);
    }
    return { y, logdet: addLogdets(...logdets) };
  }

  onnxReverse(g: OnnxGraph, y: Value): Value {
    return this.actnorm.onnxReverse(g, this.invconv.onnxReverse(g, this.coupling.onnxReverse(g, y)));
  }
}
