// No Docker engine here: the Dockerfile is checked as text for what must hold in both images
// (non-root, health check on a real route, production install, the shipped model, the GPU base).
import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';

const ROOT = path.resolve(import.meta.dirname, '../..');
const text = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
// Join continued lines, drop comments.
const lines = text
  .replace(/\\\n/g, ' ')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));

interface Stage {
  from: string;
  name: string;
  lines: string[];
}
const stages: Stage[] = [];
for (const line of lines) {
  const from = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i.exec(line);
  if (from) stages.push({ from: from[1], name: from[2] ?? '', lines: [] });
  else stages.at(-1)?.lines.push(line);
}
const args = new Map([...text.matchAll(/^ARG\s+(\w+)=(\S+)/gm)].map((m) => [m[1], m[2]]));
const resolve = (image: string) => image.replace(/\$\{(\w+)\}/g, (_, k) => args.get(k) ?? '');
const stage = (name: string) => stages.find((s) => s.name === name)!;
const runtime = [stage('cpu'), stage('gpu')];

t.test('stages: CPU is the default (last) target, GPU on CUDA 11.2 + cuDNN 8', async (t) => {
  t.ok(stage('cpu') && stage('gpu'), 'cpu and gpu targets exist');
  t.equal(stages.at(-1)!.name, 'cpu', 'a plain docker build gives the CPU image');
  t.match(resolve(stage('cpu').from), /^node:20/);
  const gpuBase = stages.find((s) => s.name === stage('gpu').from)!;
  t.equal(resolve(gpuBase.from), 'nvidia/cuda:11.2.2-cudnn8-runtime-ubuntu20.04', 'GPU image starts from the CUDA 11.2 + cuDNN 8 runtime');
  t.ok(
    stages.some((s) => s.lines.some((l) => /npm install .*@tensorflow\/tfjs-node-gpu@4\.22\.0/.test(l))),
    'installs @tensorflow/tfjs-node-gpu@4.22.0',
  );
});

t.test('both images: production install, non-root, health check, model, entry point', async (t) => {
  const installs = stages.flatMap((s) => s.lines).filter((l) => /\bnpm (ci|install)\b/.test(l) && !l.includes('ln -s'));
  t.ok(installs.length >= 2);
  for (const l of installs) t.match(l, /--omit=dev/, `production dependencies only: ${l.slice(0, 60)}…`);
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  t.ok(pkg.dependencies.tsx, 'tsx (which runs the server) is a regular dependency');

  for (const s of runtime) {
    const user = s.lines.filter((l) => l.startsWith('USER ')).at(-1);
    t.ok(user && !/^USER\s+(root|0)(:|$)/.test(user), `${s.name}: runs as ${user}`);
    const health = s.lines.find((l) => l.startsWith('HEALTHCHECK'));
    t.match(health, /\/healthz/, `${s.name}: HEALTHCHECK on /healthz`);
    t.match(
      s.lines.find((l) => l.startsWith('EXPOSE')),
      /\b8080\b/,
      `${s.name}: exposes 8080`,
    );
    const cmd = JSON.parse(s.lines.find((l) => l.startsWith('CMD'))!.slice(3)) as string[];
    t.equal(cmd[0], 'node', `${s.name}: node is PID 1, so SIGTERM reaches the server`);
    t.ok(existsSync(path.join(ROOT, cmd.at(-1)!)), `${s.name}: ${cmd.at(-1)} exists`);
    const modelsDir = /GLOW_MODELS_DIR=(\S+)/.exec(s.lines.join(' '))?.[1];
    t.equal(modelsDir, '/app/models', `${s.name}: serves the shipped checkpoints`);
    t.ok(
      s.lines.some((l) => /COPY --from=app \/app/.test(l)),
      `${s.name}: has the application files`,
    );
  }
  for (const l of stage('app').lines.filter((l) => l.startsWith('COPY'))) {
    const srcs = l.split(/\s+/).slice(1, -1);
    for (const src of srcs) t.ok(existsSync(path.join(ROOT, src)), `COPY ${src} exists`);
  }
  t.ok(existsSync(path.join(ROOT, 'models/mnist/manifest.json')), 'the shipped checkpoint is in the repository');
});

t.test('.dockerignore keeps the context to what the image needs', async (t) => {
  const ignore = readFileSync(path.join(ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  t.equal(ignore[0], '*', 'allow-list: everything is excluded first');
  for (const keep of ['package.json', 'package-lock.json', 'tsconfig.json', 'src', 'public', 'models'])
    t.ok(ignore.includes(`!${keep}`), `${keep} is sent`);
});

t.test('the image port matches the Kubernetes container port', async (t) => {
  const dep = parse(readFileSync(path.join(ROOT, 'deploy/kubernetes/deployment.yaml'), 'utf8'));
  t.equal(dep.spec.template.spec.containers[0].ports[0].containerPort, 8080);
  t.equal(dep.spec.template.spec.securityContext.runAsUser, 1000, 'the uid both images run as');
});
