// Small helpers: waiting, message text, PNG data URLs, and requests that do not pile up.

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}
export function capital(s) {
  s = String(s).trim().replace(/\.$/, '');
  return s.charAt(0).toUpperCase() + s.slice(1);
}
export const png = (b64) => `data:image/png;base64,${b64}`;

/**
 * Runs `fn` now, or once more after the run in flight: sliders stay live without piling up requests.
 * The promise returned settles when the last run asked for is done.
 */
export function coalesced(fn) {
  let running = null;
  let again = false;
  return function run() {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      try {
        do {
          again = false;
          await fn();
        } while (again);
      } finally {
        running = null;
      }
    })();
    return running;
  };
}
