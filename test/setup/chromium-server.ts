/**
 * Once per test run: one Chromium that every browser test file connects to, instead of each
 * launching its own (a launch costs about as much as a small test). Each file still opens
 * contexts of its own, so no cookies or pages are shared. Without /usr/bin/chromium there is
 * nothing to start, and the browser tests skip with their note.
 */
import { chromium } from 'playwright-core';
import type { TestProject } from 'vitest/node';
import { CHROMIUM_OPTIONS, haveChromium } from '../support/browser.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    chromiumEndpoint: string;
  }
}

export default async function setup(project: TestProject) {
  if (!haveChromium) return project.provide('chromiumEndpoint', '');
  const server = await chromium.launchServer(CHROMIUM_OPTIONS);
  project.provide('chromiumEndpoint', server.wsEndpoint());
  return () => server.close();
}
