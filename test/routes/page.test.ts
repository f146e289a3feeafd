// The page's files as the server sends them: the HTML's module script and every module it imports,
// found by following the imports, served with a JavaScript type under a policy that allows them.
// (What the page does in a browser is test/e2e/page.test.ts.)
import { readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { buildApp } from '../../src/server/app.ts';
import { PUBLIC_DIR } from '../../src/routes/page.ts';
import { tempDir, tinyModelDir } from '../fixtures/app.ts';

/** The page's module graph: the entry script of index.html, then every relative import, breadth first. */
function pageModules(): string[] {
  const html = readFileSync(path.join(PUBLIC_DIR, 'index.html'), 'utf8');
  const entry = /<script type="module" src="([^"]+)"><\/script>/.exec(html);
  if (!entry) throw new Error('index.html has no module script');
  const found = [new URL(entry[1], 'http://page/').pathname];
  for (let i = 0; i < found.length; i++) {
    const code = readFileSync(path.join(PUBLIC_DIR, found[i]), 'utf8');
    for (const [, spec] of code.matchAll(/^import [^'"]*'(\.[^']+)';$/gm)) {
      const url = new URL(spec, `http://page${found[i]}`).pathname;
      if (!found.includes(url)) found.push(url);
    }
  }
  return found;
}

t.test('every module of the page is served as JavaScript, and the policy lets the page load them', async (t) => {
  const app = await buildApp({ config: { modelDir: await tinyModelDir(), dataDir: tempDir(t) } });
  t.teardown(() => app.close());
  const page = await app.inject('/');
  t.equal(page.statusCode, 200);
  t.match(String(page.headers['content-security-policy']), /script-src 'self';/, "scripts from the page's own origin");

  const modules = pageModules();
  t.ok(modules.length > 1, `the entry and its imports: ${modules.join(' ')}`);
  for (const url of modules) {
    const res = await app.inject(url);
    t.equal(res.statusCode, 200, `${url} is served`);
    t.match(
      String(res.headers['content-type']),
      /^(text|application)\/javascript\b/,
      `${url} is JavaScript (${res.headers['content-type']})`,
    );
    t.equal(res.headers['x-content-type-options'], 'nosniff', `${url}: the type is what counts`);
    t.equal(res.body, readFileSync(path.join(PUBLIC_DIR, url), 'utf8'), `${url} is the file`);
  }
});
