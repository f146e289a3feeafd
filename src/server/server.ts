// Entry point (`npm start`): listen, and shut down gracefully. On SIGTERM/SIGINT: /readyz turns 503
// first, then the server stops accepting, in-flight requests and queued inference finish, the
// worker and the store close, and the process exits 0. On SIGHUP every model's checkpoint is loaded
// from disk again without downtime (as POST /models/:model/reload does for one).
import { buildApp } from './app.ts';
import { loadConfig, type Config } from './config.ts';
import { loggerOptions } from './logging.ts';

/** A configuration mistake is one line on stderr and exit code 1, not a stack trace. */
function startupFailure(err: unknown): never {
  process.stderr.write(`glow-serve: cannot start: ${(err as Error)?.message ?? String(err)}\n`);
  process.exit(1);
}

let config: Config;
try {
  config = loadConfig();
} catch (err) {
  startupFailure(err);
}
const app = await buildApp({ config, logger: loggerOptions(config.logLevel) }).catch(startupFailure);

app.models.ready.catch((err: Error) => {
  // Without a model nothing can be served: fail loudly so the supervisor sees it.
  app.log.fatal(err.message);
  process.exit(1);
});

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  app.models.stopping = true;
  app.log.info(`${signal}: draining (readyz now 503)`);
  const hardStop = setTimeout(
    () => {
      app.log.error(`shutdown took over ${config.shutdownTimeoutMs} ms; exiting anyway`);
      process.exit(1);
    },
    config.shutdownDelayMs + config.shutdownTimeoutMs + 1000,
  );
  hardStop.unref();
  // Give load balancers time to see /readyz fail before connections are refused.
  if (config.shutdownDelayMs > 0) await new Promise((r) => setTimeout(r, config.shutdownDelayMs));
  try {
    await app.close();
    app.log.info('shut down cleanly');
    process.exit(0);
  } catch (err) {
    app.log.error(err, 'error during shutdown');
    process.exit(1);
  }
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGHUP', () => {
  app.log.info('SIGHUP: reloading every model from disk');
  for (const name of app.models.services.keys()) {
    // A model that cannot be reloaded keeps serving what it had; the reason is logged.
    app.models.reload(name).catch((err: Error) => app.log.error(err.message));
  }
});
process.on('SIGINT', () => void shutdown('SIGINT'));

try {
  await app.listen({ port: config.port, host: config.host });
} catch (err) {
  app.log.fatal((err as Error).message);
  await app.close().catch(() => {});
  process.exit(1);
}
