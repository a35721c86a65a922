/**
 * Once per test run: the programs tests start as child processes (`npm start`, `npm run app`, a
 * billing process), compiled into plain JavaScript in a directory of this run's own under
 * node_modules, where their packages resolve. tsx resolves and transforms every module again in
 * each process it starts, about a second of each start; a compiled program starts in a third of
 * that. The compiled code is the same source, bundled by esbuild, the compiler tsx runs;
 * server.test.ts still starts `npm start` itself, through tsx.
 */
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build, type Plugin } from 'esbuild';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    compiledDir: string;
  }
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Each program by the name of its compiled file (support/compiled.ts). */
export const PROGRAMS = {
  server: 'src/main.ts', app: 'app/main.ts', 'billing-process': 'test/support/billing-process.ts', 'hold-pglite': 'test/support/hold-pglite.ts',
} as const;

/** A module's own address where it reads files beside it (migrations, styles), as in the source tree. */
const ownAddresses: Plugin = {
  name: 'own-addresses',
  setup(b) {
    b.onLoad({ filter: /\.tsx?$/ }, async ({ path }) => ({
      contents: (await readFile(path, 'utf8'))
        .replaceAll('import.meta.url', JSON.stringify(pathToFileURL(path).href))
        .replaceAll('import.meta.dirname', JSON.stringify(dirname(path))),
      loader: path.endsWith('x') ? 'tsx' : 'ts',
    }));
  },
};

/** `tollgate` and its entry points, as the app kit imports them, compiled with the rest instead of left as a package. */
const ownPackage: Plugin = {
  name: 'own-package',
  setup(b) {
    const { exports } = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { exports: Record<string, { 'tollgate-source': string }> };
    b.onResolve({ filter: /^tollgate(\/|$)/ }, ({ path }) => ({ path: join(ROOT, exports[`.${path.slice('tollgate'.length)}`]!['tollgate-source']) }));
  },
};

export default async function setup(project: TestProject) {
  const cache = `${ROOT}node_modules/.cache/`;
  mkdirSync(cache, { recursive: true });
  const outdir = mkdtempSync(`${cache}tollgate-programs-`);
  // Packages stay imports of node_modules; a module imported lazily (a processor's SDK) stays a
  // chunk of its own, loaded only when imported.
  await build({
    absWorkingDir: ROOT, entryPoints: PROGRAMS, outdir, outExtension: { '.js': '.mjs' },
    bundle: true, splitting: true, format: 'esm', platform: 'node', target: 'node20', packages: 'external',
    plugins: [ownAddresses, ownPackage], logLevel: 'error',
  });
  project.provide('compiledDir', outdir);
  return () => rmSync(outdir, { recursive: true, force: true });
}
