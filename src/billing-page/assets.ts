/**
 * The page's static files, read once at start: htmx and uPlot from their installed packages (no
 * CDN), served as the admin panel serves them, and the page's own stylesheet and chart script.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serveAssets, VENDOR_ASSETS } from '../admin/assets.ts';
import type { PageApp } from './layout.tsx';

const here = dirname(fileURLToPath(import.meta.url));

export function registerAssets(page: PageApp): void {
  serveAssets(page, {
    ...VENDOR_ASSETS,
    'billing.css': { file: join(here, 'billing.css'), type: 'text/css' },
    'billing.js': { file: join(here, 'billing.js'), type: 'text/javascript' },
  });
}
