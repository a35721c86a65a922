/**
 * What the app kit's browser tests share: the app started as `npm run app` starts it (Tollgate in
 * its process, on an in-memory database, a free port), Debian's chromium, pages at a width whose
 * script errors are collected, and signing up through the app's own form.
 */
import { mkdirSync } from 'node:fs';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startApp, type RunningApp } from '../../app/start.ts';
import { ARTIFACTS, launchChromium } from './browser.ts';
import { ENGINES } from './harness.ts';

export const APP_SHOTS = `${ARTIFACTS}/app`;
export const PASSWORD = 'correct horse';

export interface AppBrowser {
  app: RunningApp;
  /** Script errors on any page opened here: a test expects none. */
  problems: string[];
  newPage(width?: number, height?: number): Promise<Page>;
  close(): Promise<void>;
}

export async function openAppBrowser(env: NodeJS.ProcessEnv = {}): Promise<AppBrowser> {
  mkdirSync(APP_SHOTS, { recursive: true });
  // An embedded database from the run's migrated image: as memory:// would be, without migrating it here.
  const database = await ENGINES[0]!.open();
  const app = await startApp({ APP_PORT: '0', DATABASE_URL: 'memory://', LOG_LEVEL: 'silent', ...env }, { database: database.sql });
  const browser: Browser = await launchChromium();
  const problems: string[] = [];
  const contexts: BrowserContext[] = [];
  return {
    app, problems,
    async newPage(width = 1280, height = 860) {
      const context = await browser.newContext({ viewport: { width, height } });
      contexts.push(context);
      const page = await context.newPage();
      page.on('pageerror', (e) => problems.push(e.message));
      return page;
    },
    async close() {
      for (const context of contexts) await context.close();
      await browser.close();
      await app.close();
      await database.drop();
    },
  };
}

/** Signs up on a page showing the sign-in forms. */
export async function signUp(page: Page, name: string, email: string): Promise<void> {
  await page.fill('form[action="/signup"] input[name=name]', name);
  await page.fill('form[action="/signup"] input[name=email]', email);
  await page.fill('form[action="/signup"] input[name=password]', PASSWORD);
  await page.click('form[action="/signup"] button');
}

/** A user's id, by logging in as them through better-auth. */
export const userIdOf = async (app: RunningApp, email: string) => (await app.auth.api.signInEmail({ body: { email, password: PASSWORD } })).user.id;
