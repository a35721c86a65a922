/**
 * The API's own documents, public: the OpenAPI 3.1 document the routes' schemas make, and a
 * page that renders it with Swagger UI, served from the installed package (no CDN).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { basePath } from 'hono/route';
import type { Api } from './api.ts';

const SWAGGER_DIR = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
const ASSETS: Record<string, string> = { 'swagger-ui.css': 'text/css', 'swagger-ui-bundle.js': 'text/javascript' };

export const OPENAPI_INFO: { openapi: '3.1.0'; info: { title: string; version: string; description: string }; servers: { url: string }[] } = {
  openapi: '3.1.0',
  info: { title: 'Tollgate API', version: '1', description: 'Billing for AI apps: authorize each AI call, settle what it used, and manage accounts, plans and packs.' },
  // The paths below are the API's, under /v1 where the server serves this document.
  servers: [{ url: '/v1' }],
};

export function registerDocs(api: Api) {
  // Under the prefix the API is mounted at: the server's /v1, or a host's own.
  api.doc31('/openapi.json', (c) => ({ ...OPENAPI_INFO, servers: [{ url: basePath(c) }] }));
  // Its links relative to the page (…/docs), so that no part of the request's path is written into it.
  api.get('/docs', (c) =>
    c.html(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Tollgate API</title>
<link rel="stylesheet" href="docs/swagger-ui.css"></head><body><div id="ui"></div>
<script src="docs/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({ url: 'openapi.json', dom_id: '#ui' });</script></body></html>`),
  );
  for (const [file, type] of Object.entries(ASSETS)) {
    const content = readFileSync(join(SWAGGER_DIR, file));
    api.get(`/docs/${file}`, (c) => c.body(content, 200, { 'Content-Type': type, 'Cache-Control': 'public, max-age=86400' }));
  }
}
