/**
 * The panel's static files, read once at start: htmx and uPlot from their installed packages
 * (no CDN), and the panel's own stylesheet and scripts. Public: they hold nothing of the server's.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Env, Hono } from 'hono';
import type { AdminApp } from './layout.tsx';

const require = createRequire(import.meta.url);
const packageDir = (name: string) => dirname(require.resolve(`${name}/package.json`));
const here = dirname(fileURLToPath(import.meta.url));

export type Assets = Record<string, { file: string; type: string }>;

/** htmx and uPlot, as the installed packages have them: the panel's, and the billing page's too. */
export const VENDOR_ASSETS: Assets = {
  'htmx.min.js': { file: join(packageDir('htmx.org'), 'dist/htmx.min.js'), type: 'text/javascript' },
  'uPlot.min.js': { file: join(packageDir('uplot'), 'dist/uPlot.iife.min.js'), type: 'text/javascript' },
  'uPlot.min.css': { file: join(packageDir('uplot'), 'dist/uPlot.min.css'), type: 'text/css' },
};

const ASSETS: Assets = {
  ...VENDOR_ASSETS,
  'admin.css': { file: join(here, 'admin.css'), type: 'text/css' },
  'admin.js': { file: join(here, 'admin.js'), type: 'text/javascript' },
  'slug.js': { file: join(here, 'slug.js'), type: 'text/javascript' },
  'fields.js': { file: join(here, 'fields.js'), type: 'text/javascript' },
};

/** Serve each of `assets` at /assets/NAME of `app`, read once now. */
export function serveAssets<E extends Env>(app: Hono<E>, assets: Assets): void {
  for (const [name, { file, type }] of Object.entries(assets)) {
    const content = readFileSync(file);
    app.get(`/assets/${name}`, (c) => c.body(content, 200, { 'Content-Type': `${type}; charset=utf-8`, 'Cache-Control': 'public, max-age=3600' }));
  }
}

export function registerAssets(admin: AdminApp): void {
  serveAssets(admin, ASSETS);
}
