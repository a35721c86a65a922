import { defineConfig } from 'vitest/config';

export default defineConfig({
  // The app kit imports `tollgate` by its package name: its sources here, not a build (package.json's exports).
  ssr: { resolve: { conditions: ['tollgate-source', 'module', 'node', 'development|production'] } },
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/setup/pglite-image.ts', 'test/setup/chromium-server.ts', 'test/setup/compiled.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // PGlite boots a WASM PostgreSQL per suite; two cores are all we have.
    maxWorkers: 2,
    // A worker's files share its modules, loaded once, instead of loading the library, Hono, the
    // SDKs and the app kit again for each file (a fifth of the run). They share nothing else: each
    // file opens its own database, server and browser context.
    isolate: false,
  },
});
