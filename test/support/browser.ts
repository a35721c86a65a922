/**
 * What a browser test of the admin panel needs: Debian's chromium through playwright-core (the
 * test is skipped, with a note, without it), and the server app listening on a port.
 */
import { existsSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { Hono } from 'hono';
import { chromium, type Browser, type BrowserContextOptions, type Page } from 'playwright-core';
import { inject } from 'vitest';
import type { Billing } from '../../src/index.ts';
import { ADMIN_PASSWORD, adminApp } from './admin-client.ts';

export const CHROMIUM = '/usr/bin/chromium';
export const ARTIFACTS = 'test-artifacts';
export const haveChromium = existsSync(CHROMIUM);

/** Says, once per file, that the file's browser tests are skipped. */
export function noteMissingChromium(what: string): void {
  if (!haveChromium) console.warn(`\n[tollgate tests] ${CHROMIUM} is missing: ${what} SKIPPED (apt-get install chromium).\n`);
}

export const CHROMIUM_OPTIONS = {
  executablePath: CHROMIUM,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
};

/**
 * The run's Chromium (setup/chromium-server.ts), connected to; launched here when the run has
 * none. Closing it closes this file's contexts, and the run's Chromium stays up for the next.
 */
export function launchChromium(): Promise<Browser> {
  const endpoint = inject('chromiumEndpoint');
  return endpoint ? chromium.connect(endpoint) : chromium.launch(CHROMIUM_OPTIONS);
}

/** The app on a free port of 127.0.0.1: its base URL, and how to stop it. */
export async function serveApp(app: Hono): Promise<{ base: string; close(): Promise<void> }> {
  const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    // The browser keeps its connections open; closing only the idle ones left a stream still
    // running (or a connection idle after the close began) to wait out the 5 s keep-alive.
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      (server as Server).closeAllConnections();
    }),
  };
}

/**
 * A page of the admin panel at `base`, logged in with `password`, at the width the screenshots
 * are taken at; its script errors and console errors go to `problems`. With `refusalsExpected`,
 * a failed load (a refused form's 4xx, which the test wants) is not one.
 */
export async function adminPage(
  browser: Browser, base: string, password: string, problems: string[], { refusalsExpected = false, device = {} as BrowserContextOptions } = {},
): Promise<Page> {
  const page = await (await browser.newContext({ viewport: { width: 1360, height: 900 }, ...device })).newPage();
  page.on('pageerror', (e) => problems.push(e.message));
  page.on('console', (m) => m.type() === 'error' && !(refusalsExpected && m.text().startsWith('Failed to load resource')) && problems.push(m.text()));
  await page.goto(`${base}/admin/login`);
  await page.fill('input[name=password]', password);
  await page.click('button[type=submit]');
  return page;
}

export interface ServedBrowser {
  base: string;
  browser: Browser;
  /** Closes the browser's pages and stops the server (the library stays the caller's). */
  close(): Promise<void>;
}

/** `billing`'s server app (admin panel, billing page, API) on a port, and the run's Chromium. */
export async function serveToBrowser(billing: Billing): Promise<ServedBrowser> {
  const server = await serveApp(await adminApp(billing));
  const browser = await launchChromium();
  return {
    base: server.base, browser,
    async close() {
      await browser.close();
      await server.close();
    },
  };
}

export interface AdminPanel extends ServedBrowser {
  /** Logged in, as adminPage leaves it. */
  page: Page;
}

/** `billing`'s admin panel served on a port, and a page of it logged in with the test password (see adminPage). */
export async function openAdminPanel(billing: Billing, problems: string[], options: { refusalsExpected?: boolean } = {}): Promise<AdminPanel> {
  const served = await serveToBrowser(billing);
  return { ...served, page: await adminPage(served.browser, served.base, ADMIN_PASSWORD, problems, options) };
}
