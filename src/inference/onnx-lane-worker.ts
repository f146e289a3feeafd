// A worker thread holding one ONNX Runtime lane (onnx-lanes.ts): it runs the parts of batches that the
// engine's thread sends it, one at a time, and sends the outputs back (their buffers transferred).
import { parentPort, workerData } from 'node:worker_threads';
import { LocalLane, type Feeds, type LaneGraph, type LaneGraphs } from './onnx-lanes.ts';

if (!parentPort) throw new Error('onnx-lane-worker.ts must run in a worker thread');
const port = parentPort;

try {
  const lane = await LocalLane.open((workerData as { graphs: LaneGraphs }).graphs);
  port.on('message', async ({ id, graph, n, feeds }: { id: number; graph: LaneGraph; n: number; feeds: Feeds }) => {
    try {
      const outputs = await lane.run(graph, n, feeds);
      port.postMessage(
        { id, outputs },
        Object.values(outputs).map((a) => a.buffer as ArrayBuffer),
      );
    } catch (err) {
      port.postMessage({ id, error: (err as Error).message });
    }
  });
  port.postMessage({ ready: true });
} catch (err) {
  port.postMessage({ error: (err as Error).message });
}
