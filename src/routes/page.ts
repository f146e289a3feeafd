// The web page at `/`: static files from public/ (HTML, one CSS file, app.js and the JS modules it
// imports from public/js/), served by the same server as the API, so the page needs nothing else to run.
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import fastifyStatic from '@fastify/static';

/** public/ at the repository root (this file is src/routes/page.ts). */
export const PUBLIC_DIR = fileURLToPath(new URL('../../public/', import.meta.url));

export default async function pageRoutes(app: FastifyInstance): Promise<void> {
  await app.register(fastifyStatic, {
    root: PUBLIC_DIR,
    prefix: '/',
    index: 'index.html',
    // One route per file found at start-up instead of a GET /* catch-all: unknown paths still reach
    // the app's JSON 404 handler, and /metrics keeps its `unmatched` route label for them.
    wildcard: false,
    // swagger-ui registers its own @fastify/static; only one of them may decorate the reply.
    decorateReply: false,
    // Small files that change with each release: revalidate (ETag) rather than cache blindly.
    cacheControl: true,
    maxAge: 0,
  });
}
