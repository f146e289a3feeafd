// The Kubernetes manifests, validated offline: they parse, they reference each other consistently
// (labels, ports, names), the probes and the scrape path point at routes the app really serves, and
// every environment variable they set is one the server reads.
import t from 'tap';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { buildApp } from '../../src/server/app.ts';
import { makeTinyCheckpoint } from '../fixtures/model.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const DIR = path.join(ROOT, 'deploy/kubernetes');

// Loose shapes: the tests below check the fields they read.
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- parsed YAML of any shape
type Obj = Record<string, any>;

function loadManifests(): Map<string, Obj[]> {
  const byFile = new Map<string, Obj[]>();
  for (const file of readdirSync(DIR).filter((f) => /\.ya?ml$/.test(f))) {
    const docs = parseAllDocuments(readFileSync(path.join(DIR, file), 'utf8'));
    const list = Array.isArray(docs) ? docs : [docs];
    for (const d of list) if (d.errors.length) throw new Error(`${file}: ${d.errors.map((e) => e.message).join('; ')}`);
    byFile.set(
      file,
      list.map((d) => d.toJS() as Obj).filter((o) => o !== null),
    );
  }
  return byFile;
}

const files = loadManifests();
const all = [...files.values()].flat();
const ofKind = (kind: string) => all.filter((o) => o.kind === kind);
const one = (kind: string): Obj => {
  const found = ofKind(kind);
  if (found.length !== 1) throw new Error(`expected one ${kind}, found ${found.length}`);
  return found[0];
};

const deployment = one('Deployment');
const service = one('Service');
const hpa = one('HorizontalPodAutoscaler');
const monitor = one('ServiceMonitor');
const pdb = one('PodDisruptionBudget');
const pod = deployment.spec.template;
const container: Obj = pod.spec.containers[0];
const env = new Map<string, string>((container.env ?? []).filter((e: Obj) => 'value' in e).map((e: Obj) => [e.name, String(e.value)]));

/** A probe's or Service's port (a name or a number) -> the container port number. */
function containerPort(port: string | number): number | undefined {
  const ports: Obj[] = container.ports ?? [];
  return typeof port === 'number'
    ? ports.find((p) => p.containerPort === port)?.containerPort
    : ports.find((p) => p.name === port)?.containerPort;
}

function labelsMatch(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

t.test('every manifest parses and has apiVersion, kind and a name', async (t) => {
  t.ok(files.size >= 5, `${files.size} files`);
  for (const [file, docs] of files) {
    for (const d of docs) {
      t.ok(d.apiVersion && d.kind, `${file}: apiVersion and kind`);
      if (d.kind !== 'Kustomization') t.equal(d.metadata?.name, 'glow-serve', `${file}: ${d.kind} is named glow-serve`);
    }
  }
});

t.test('kustomization lists files that exist', async (t) => {
  const k = one('Kustomization');
  for (const r of k.resources) t.ok(existsSync(path.join(DIR, r)), `${r} exists`);
  for (const kind of ['Deployment', 'Service', 'HorizontalPodAutoscaler', 'PodDisruptionBudget']) {
    const file = [...files].find(([, docs]) => docs.some((d) => d.kind === kind))![0];
    t.ok(k.resources.includes(file), `${kind} (${file}) is applied by kubectl apply -k`);
  }
});

t.test('deployment: selector, probes, resources, security', async (t) => {
  t.ok(labelsMatch(deployment.spec.selector.matchLabels, pod.metadata.labels), 'selector matches the pod labels');
  t.equal(container.ports.length, 1);
  const port = container.ports[0].containerPort;
  t.equal(env.get('PORT'), String(port), 'PORT env is the container port');

  t.equal(pod.spec.containers.length, 1);
  t.equal(container.readinessProbe.httpGet.path, '/readyz', 'readiness probe on /readyz');
  t.equal(container.livenessProbe.httpGet.path, '/healthz', 'liveness probe on /healthz');
  for (const name of ['readinessProbe', 'livenessProbe', 'startupProbe']) {
    const probe = container[name];
    if (!probe) continue;
    t.equal(containerPort(probe.httpGet.port), port, `${name} port resolves to ${port}`);
  }
  if (container.startupProbe)
    t.equal(container.startupProbe.httpGet.path, '/healthz', 'startup probe on /healthz (the model may load slowly)');

  t.ok(container.resources?.requests?.cpu, 'cpu request (the HPA needs it)');
  t.ok(container.resources?.requests?.memory, 'memory request');
  t.ok(container.resources?.limits?.memory, 'memory limit');

  const grace = pod.spec.terminationGracePeriodSeconds ?? 30;
  const drain = (Number(env.get('GLOW_SHUTDOWN_DELAY_MS') ?? 0) + Number(env.get('GLOW_SHUTDOWN_TIMEOUT_MS') ?? 30_000)) / 1000;
  t.ok(grace > drain, `terminationGracePeriodSeconds ${grace} > shutdown delay + drain ${drain}`);

  t.equal(pod.spec.securityContext.runAsNonRoot, true, 'runs as non-root');
  t.not(pod.spec.securityContext.runAsUser, 0);
  t.equal(container.securityContext.allowPrivilegeEscalation, false);
  if (container.securityContext.readOnlyRootFilesystem) {
    const mounts = (container.volumeMounts ?? []).map((m: Obj) => m.mountPath);
    t.ok(mounts.includes(env.get('GLOW_DATA_DIR')), 'read-only root: the data directory is a volume');
    t.ok(mounts.includes('/tmp'), 'read-only root: /tmp is a volume (tsx cache, WASM worker script)');
  }
});

t.test('environment: only variables the server reads, with a model that ships in the image', async (t) => {
  const sources = ['src/server/config.ts', 'src/backend/backend.ts'].map((f) => readFileSync(path.join(ROOT, f), 'utf8')).join('\n');
  for (const e of container.env as Obj[]) {
    if (e.name === 'DATABASE_URL') continue; // the PostgreSQL store (its own issue)
    t.ok(sources.includes(`'${e.name}'`) || sources.includes(`env.${e.name}`), `${e.name} is read by the server`);
  }
  const modelsDir = env.get('GLOW_MODELS_DIR')!;
  t.equal(modelsDir, '/app/models', 'the models come from the image (Dockerfile copies models/ to /app/models)');
  t.ok(existsSync(path.join(ROOT, 'models/mnist/manifest.json')), 'the default model is in the repository');
});

t.test('service routes to the container port', async (t) => {
  t.ok(labelsMatch(service.spec.selector, pod.metadata.labels), 'service selector matches the pods');
  for (const p of service.spec.ports)
    t.equal(containerPort(p.targetPort), container.ports[0].containerPort, `service port ${p.port} -> container port`);
});

t.test('autoscaler, disruption budget and Prometheus scraping', async (t) => {
  t.same(
    hpa.spec.scaleTargetRef,
    { apiVersion: 'apps/v1', kind: 'Deployment', name: deployment.metadata.name },
    'HPA scales the deployment',
  );
  t.ok(
    hpa.spec.minReplicas >= 2 && hpa.spec.minReplicas <= hpa.spec.maxReplicas,
    `replicas ${hpa.spec.minReplicas}..${hpa.spec.maxReplicas}`,
  );
  t.ok(
    hpa.spec.metrics.some((m: Obj) => m.type === 'Resource' && m.resource.name === 'cpu'),
    'scales on CPU',
  );
  t.ok(labelsMatch(pdb.spec.selector.matchLabels, pod.metadata.labels), 'PDB selects the pods');
  t.ok(pdb.spec.minAvailable < hpa.spec.minReplicas, 'PDB leaves room to drain a node');

  for (const [what, annotations] of [
    ['pod', pod.metadata.annotations],
    ['service', service.metadata.annotations],
  ] as const) {
    t.equal(annotations['prometheus.io/scrape'], 'true', `${what}: scrape annotation`);
    t.equal(Number(annotations['prometheus.io/port']), container.ports[0].containerPort, `${what}: scrape port is the container port`);
    t.equal(annotations['prometheus.io/path'], '/metrics', `${what}: scrape path /metrics`);
  }
  t.ok(labelsMatch(monitor.spec.selector.matchLabels, service.metadata.labels), 'ServiceMonitor selects the service');
  for (const ep of monitor.spec.endpoints) {
    t.ok(
      service.spec.ports.some((p: Obj) => p.name === ep.port),
      `ServiceMonitor port "${ep.port}" is a named service port`,
    );
    t.equal(ep.path, '/metrics');
  }
});

t.test('the probed and scraped paths are served by the app', async (t) => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'glow-k8s-'));
  t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
  const modelDir = await makeTinyCheckpoint(path.join(tmp, 'model'));
  const app = await buildApp({ config: { modelDir, dataDir: path.join(tmp, 'data') } });
  t.teardown(() => app.close());

  const live = await app.inject({ url: container.livenessProbe.httpGet.path });
  t.equal(live.statusCode, 200, `${container.livenessProbe.httpGet.path} answers 200 at once`);
  const early = await app.inject({ url: container.readinessProbe.httpGet.path });
  t.ok([200, 503].includes(early.statusCode), `${container.readinessProbe.httpGet.path} exists (${early.statusCode} while loading)`);

  await app.models.ready;
  const ready = await app.inject({ url: container.readinessProbe.httpGet.path });
  t.equal(ready.statusCode, 200, 'readiness passes once the model is loaded');
  const metrics = await app.inject({ url: pod.metadata.annotations['prometheus.io/path'] });
  t.equal(metrics.statusCode, 200, '/metrics answers');
  t.match(metrics.headers['content-type'], /^text\/plain/);
  t.match(metrics.body, /glow_model_info/);
});
