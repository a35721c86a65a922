import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/setup/pglite-image.ts', 'test/setup/chromium-server.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // PGlite boots a WASM PostgreSQL per suite; two cores are all we have.
    maxWorkers: 2,
  },
});
