// Server configuration from the environment. Every knob has a default so `npm start` works bare.
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { BackendChoice } from '../backend/backend.ts';
import { MODEL_NAME, type InferenceOptions, type ModelSpec } from '../inference/options.ts';
import { ENGINES, type EngineChoice } from '../inference/worker-protocol.ts';

/** The inference runtime's options (src/inference/options.ts) and the HTTP server's own. */
export interface Config extends InferenceOptions {
  port: number;
  host: string;
  /**
   * The checkpoints served, the default (no `?model=`) first: GLOW_MODELS (names under
   * GLOW_MODELS_DIR, or paths), else every checkpoint directory in GLOW_MODELS_DIR (`models/`).
   */
  models: ModelSpec[];
  /** GLOW_MODEL_DIR: serve this one checkpoint only (overrides `models`). */
  modelDir?: string;
  /** Where the attribute database lives (SQLite). */
  dataDir: string;
  /** PostgreSQL URL (DATABASE_URL): when set, the attribute store is shared there instead of SQLite in dataDir. */
  databaseUrl?: string;
  bodyLimit: number;
  /** Multipart limits: files per request (per set for /attributes) and bytes per file. */
  maxFiles: number;
  maxFileBytes: number;
  /** Files per set (positive, negative) in a multipart POST /attributes. */
  maxSetFiles: number;
  /**
   * Node http timeouts so slow clients cannot hold connections open: the whole request (headers and
   * body) must arrive within requestTimeoutMs, the headers within headersTimeoutMs, an idle keep-alive
   * connection is closed after keepAliveTimeoutMs. connectionTimeoutMs (socket inactivity, 0 = off)
   * is off by default: a request legitimately sends nothing while it waits in the queue and runs.
   */
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  headersTimeoutMs: number;
  connectionTimeoutMs: number;
  /** When set, POST /attributes and DELETE /attributes/:name need `Authorization: Bearer <token>`. */
  adminToken?: string;
  /** Per-client rate limit (@fastify/rate-limit): requests per window per IP; 0 = off (the default). */
  rateLimitMax: number;
  rateLimitWindowMs: number;
  /** CORS (@fastify/cors): allowed origins ('*' for any); empty = off (the default, same-origin only). */
  corsOrigins: string[];
  /** Fastify trustProxy: false (default), true, a hop count, or addresses/CIDRs; decides req.ip for rate limiting. */
  trustProxy: boolean | number | string[];
  /** On SIGTERM: how long /readyz answers 503 before we stop accepting; shutdownTimeoutMs caps the draining. */
  shutdownDelayMs: number;
  logLevel: string;
}

const MiB = 1024 * 1024;

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const config: Config = {
    port: int(env, 'PORT', 8080, 0, 65535),
    host: env.HOST || '0.0.0.0',
    models: modelSpecs(env),
    modelDir: env.GLOW_MODEL_DIR ? path.resolve(env.GLOW_MODEL_DIR) : undefined,
    dataDir: path.resolve(env.GLOW_DATA_DIR || './data'),
    databaseUrl: env.DATABASE_URL || undefined,
    maxBatch: int(env, 'GLOW_MAX_BATCH', 64, 1, 4096),
    maxDelayMs: num(env, 'GLOW_MAX_DELAY_MS', 5, 0, 10_000),
    maxQueue: int(env, 'GLOW_MAX_QUEUE', 1024, 1, 1_000_000),
    queueTimeoutMs: int(env, 'GLOW_QUEUE_TIMEOUT_MS', 30_000, 1, 3_600_000),
    inferenceTimeoutMs: int(env, 'GLOW_INFERENCE_TIMEOUT_MS', 120_000, 100, 3_600_000),
    maxWork: int(env, 'GLOW_MAX_WORK', 128, 1, 1_000_000),
    requestSlice: int(env, 'GLOW_REQUEST_SLICE', 8, 1, 4096),
    bodyLimit: int(env, 'GLOW_BODY_LIMIT', 10 * MiB, 1024, 1024 * MiB),
    maxInputPixels: int(env, 'GLOW_MAX_INPUT_PIXELS', 16_777_216, 1, 2 ** 31),
    maxInputSide: int(env, 'GLOW_MAX_INPUT_SIDE', 8192, 1, 1 << 20),
    maxFiles: int(env, 'GLOW_MAX_FILES', 64, 1, 10_000),
    maxFileBytes: int(env, 'GLOW_MAX_FILE_BYTES', 5 * MiB, 1, 1024 * MiB),
    maxSetFiles: int(env, 'GLOW_MAX_SET_FILES', 500, 1, 100_000),
    backend: backendChoice(env.GLOW_BACKEND),
    engine: engineChoice(env.GLOW_ENGINE),
    onnxThreads: int(env, 'GLOW_ONNX_THREADS', 2, 1, 64),
    requestTimeoutMs: int(env, 'GLOW_REQUEST_TIMEOUT_MS', 60_000, 0, 3_600_000),
    keepAliveTimeoutMs: int(env, 'GLOW_KEEPALIVE_TIMEOUT_MS', 5_000, 0, 3_600_000),
    headersTimeoutMs: int(env, 'GLOW_HEADERS_TIMEOUT_MS', 10_000, 0, 3_600_000),
    connectionTimeoutMs: int(env, 'GLOW_CONNECTION_TIMEOUT_MS', 0, 0, 3_600_000),
    adminToken: adminToken(env.GLOW_ADMIN_TOKEN),
    rateLimitMax: int(env, 'GLOW_RATE_LIMIT_MAX', 0, 0, 10_000_000),
    rateLimitWindowMs: int(env, 'GLOW_RATE_LIMIT_WINDOW_MS', 60_000, 1, 86_400_000),
    corsOrigins: list(env.GLOW_CORS_ORIGINS),
    trustProxy: trustProxy(env.GLOW_TRUST_PROXY),
    shutdownDelayMs: int(env, 'GLOW_SHUTDOWN_DELAY_MS', 0, 0, 600_000),
    shutdownTimeoutMs: int(env, 'GLOW_SHUTDOWN_TIMEOUT_MS', 30_000, 0, 3_600_000),
    logLevel: env.LOG_LEVEL || 'info',
  };
  // Node refuses a headers timeout longer than the request timeout (the request includes its headers).
  if (config.requestTimeoutMs > 0 && config.headersTimeoutMs > config.requestTimeoutMs) {
    throw new Error(
      `GLOW_HEADERS_TIMEOUT_MS (${config.headersTimeoutMs}) must not exceed GLOW_REQUEST_TIMEOUT_MS (${config.requestTimeoutMs})`,
    );
  }
  return config;
}

/** The served checkpoints, in order (see Config.models). Checked when the app starts, not here. */
function modelSpecs(env: NodeJS.ProcessEnv): ModelSpec[] {
  const root = path.resolve(env.GLOW_MODELS_DIR || 'models');
  const named = list(env.GLOW_MODELS);
  let specs: ModelSpec[];
  if (named.length > 0) {
    specs = named.map((entry) => {
      const dir = entry.includes('/') ? path.resolve(entry) : path.join(root, entry);
      return { name: path.basename(dir), dir };
    });
  } else {
    const dirs = existsSync(root)
      ? readdirSync(root, { withFileTypes: true })
          .filter((d) => d.isDirectory() && existsSync(path.join(root, d.name, 'manifest.json')))
          .map((d) => d.name)
          .sort()
      : [];
    // The listing has no order of its own: GLOW_DEFAULT_MODEL (default mnist, the first shipped model) leads.
    const lead = env.GLOW_DEFAULT_MODEL || 'mnist';
    if (dirs.includes(lead)) dirs.unshift(...dirs.splice(dirs.indexOf(lead), 1));
    specs = dirs.map((name) => ({ name, dir: path.join(root, name) }));
  }
  const seen = new Set<string>();
  for (const { name } of specs) {
    if (!MODEL_NAME.test(name)) throw new Error(`model name "${name}" (a checkpoint directory's name) must match ${MODEL_NAME}`);
    if (seen.has(name)) throw new Error(`GLOW_MODELS names "${name}" twice`);
    seen.add(name);
  }
  return specs;
}

/** The checkpoints to serve: GLOW_MODEL_DIR alone when set, else `models`. */
export function servedModels(config: Config): ModelSpec[] {
  if (config.modelDir) {
    // Any directory may be given here (a temp dir, a mount): its name is made a valid model name.
    const name =
      path
        .basename(config.modelDir)
        .toLowerCase()
        .replace(/[^a-z0-9_.-]/g, '-')
        .replace(/^[^a-z0-9]+/, '')
        .slice(0, 64) || 'model';
    return [{ name, dir: config.modelDir }];
  }
  if (config.models.length === 0)
    throw new Error('no checkpoint to serve: models/ holds none (train one with `npm run train`), or set GLOW_MODELS or GLOW_MODEL_DIR');
  return config.models;
}

function list(v: string | undefined): string[] {
  return (v ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function adminToken(v: string | undefined): string | undefined {
  if (v === undefined || v === '') return undefined;
  // A short token can be guessed; refuse to start with one rather than protect nothing.
  if (v.length < 16) throw new Error('GLOW_ADMIN_TOKEN must be at least 16 characters (e.g. `openssl rand -hex 32`)');
  if (!/^[\x21-\x7e]+$/.test(v)) throw new Error('GLOW_ADMIN_TOKEN must be printable ASCII without spaces');
  return v;
}

function trustProxy(v: string | undefined): boolean | number | string[] {
  if (v === undefined || v === '' || v === 'false') return false;
  if (v === 'true') return true;
  if (/^\d+$/.test(v)) return Number(v);
  return list(v);
}

function engineChoice(v: string | undefined): EngineChoice {
  const e = (v || 'auto') as EngineChoice;
  if (!ENGINES.includes(e)) throw new Error(`GLOW_ENGINE must be ${ENGINES.join(', ')}, not "${v}"`);
  return e;
}

function backendChoice(v: string | undefined): BackendChoice {
  const choice = v || 'auto';
  if (!['auto', 'tensorflow', 'wasm', 'cpu'].includes(choice))
    throw new Error(`GLOW_BACKEND must be auto, tensorflow, wasm or cpu, not "${choice}"`);
  return choice as BackendChoice;
}

function num(env: NodeJS.ProcessEnv, key: string, dflt: number, min: number, max: number): number {
  const raw = env[key];
  if (raw === undefined || raw === '') return dflt;
  const v = Number(raw);
  // Fail at start-up rather than serve with a silently wrong limit.
  if (!Number.isFinite(v) || v < min || v > max) throw new Error(`${key} must be a number in [${min}, ${max}], not "${raw}"`);
  return v;
}

function int(env: NodeJS.ProcessEnv, key: string, dflt: number, min: number, max: number): number {
  const v = num(env, key, dflt, min, max);
  if (!Number.isInteger(v)) throw new Error(`${key} must be an integer, not "${env[key]}"`);
  return v;
}
