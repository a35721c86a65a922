/**
 * `npm run build` (and `npm pack`/`npm publish`, through prepack): the package as it ships,
 * JavaScript and type declarations in dist/, so that an app imports `tollgate` on plain Node
 * and its compiler checks its own code against declarations, not Tollgate's sources under its
 * settings. The files read beside the code (migrations, styles, page scripts) are copied as
 * they are. `node scripts/build.mjs DIR` builds into DIR instead.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = resolve(root, process.argv[2] ?? 'dist');
const tsc = join(dirname(createRequire(import.meta.url).resolve('typescript/package.json')), 'bin', 'tsc');

rmSync(out, { recursive: true, force: true });
execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json'), '--outDir', out], { stdio: 'inherit' });
const copied = (path) => !/\.tsx?$/.test(path) && !path.endsWith('README.md');
cpSync(join(root, 'src'), out, { recursive: true, filter: (path) => !path.includes('.') || copied(path) });
