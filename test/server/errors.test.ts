// The one mapping of the domain's errors to HTTP.
import t from 'tap';
import { ConflictError, FailedError, ForbiddenError, InvalidError, NotFoundError, UnavailableError } from '../../src/errors.ts';
import { httpErrorOf } from '../../src/server/errors.ts';

t.test('each kind of domain error has its status; what may succeed later has Retry-After', async (t) => {
  const cases = [
    [new InvalidError('bad'), 400],
    [new NotFoundError('gone'), 404],
    [new ConflictError('taken', 'TAKEN'), 409],
    [new ForbiddenError('built in'), 403],
    [new UnavailableError('queue full', 0.03, 'QUEUE_FULL'), 503],
    [new FailedError('could not be reloaded', 'RELOAD_FAILED'), 500],
  ] as const;
  for (const [err, status] of cases) {
    const http = httpErrorOf(err);
    t.equal(http.statusCode, status, `${err.kind} → ${status}`);
    t.equal(http.message, err.message, 'the domain’s own words');
    t.equal(http.code, err.code);
  }
  t.same(httpErrorOf(new UnavailableError('loading', 0.03)).headers, { 'retry-after': '1' }, 'at least one second');
  t.same(httpErrorOf(new UnavailableError('loading', 2.2)).headers, { 'retry-after': '3' }, 'whole seconds, rounded up');
  t.same(httpErrorOf(new NotFoundError('x')).headers, {});
});
