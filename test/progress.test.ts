// The one progress line of the trainer and the avatars generator: rewritten in place on a terminal,
// nothing elsewhere, ended by clear(), and at most one line per interval unless it is the last.
import { Writable } from 'node:stream';
import t from 'tap';
import { Progress } from '../src/progress.ts';

function sink() {
  const written: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      written.push(String(chunk));
      done();
    },
  });
  return { stream, written };
}

t.test('on a terminal: each line rewrites the last, clear() ends it once', async (t) => {
  const { stream, written } = sink();
  const p = new Progress(true, stream);
  p.clear();
  t.same(written, [], 'nothing shown, nothing to end');
  p.show('one');
  p.show('two');
  p.clear();
  p.clear();
  t.same(written, ['\rone', '\rtwo', '\n']);
});

t.test('not a terminal: silent', async (t) => {
  const { stream, written } = sink();
  const p = new Progress(false, stream);
  p.show('one', true);
  p.clear();
  t.same(written, []);
  t.equal(p.tty, false);
});

t.test('an interval drops lines in between, never the final one', async (t) => {
  const { stream, written } = sink();
  const p = new Progress(true, stream, 60_000);
  p.show('first');
  p.show('dropped');
  p.show('last', true);
  p.clear();
  t.same(written, ['\rfirst', '\rlast', '\n']);
});
