/**
 * Once per test run: a PGlite data directory with every migration applied, dumped to a file
 * that each suite loads instead of creating and migrating a database of its own (loading takes
 * about a fifth of the time). Kept between runs while the migrations and PGlite stay the same.
 * Beside it, the same directory before any migration, for the tests of a migration on older
 * data: they migrate it part way instead of running initdb in WASM. Both start with less shared
 * memory than the embedded default (postgresql.auto.conf), being small.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { migrate } from '../../src/db/migrate.ts';
import { openPglite } from '../../src/db/pglite.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    pgliteImage: string;
    pgliteUnmigratedImage: string;
  }
}

const MIGRATIONS = fileURLToPath(new URL('../../src/db/migrations/', import.meta.url));
const PGLITE_PACKAGE = fileURLToPath(new URL('../../node_modules/@electric-sql/pglite/package.json', import.meta.url));
/** What an image holds besides the migrations, named in its file's name: a change here makes new ones. */
const IMAGE_LAYOUT = 'without template databases, shared_buffers 16MB';
const CACHE = fileURLToPath(new URL('../../node_modules/.cache/tollgate-tests/', import.meta.url));

export default async function setup(project: TestProject) {
  const hash = createHash('sha256').update(IMAGE_LAYOUT).update(readFileSync(PGLITE_PACKAGE));
  for (const file of readdirSync(MIGRATIONS).sort()) hash.update(file).update(readFileSync(join(MIGRATIONS, file)));
  const name = join(CACHE, `pglite-${hash.digest('hex').slice(0, 16)}`);
  const [path, unmigrated] = [`${name}.tar`, `${name}-unmigrated.tar`];
  if (!existsSync(path) || !existsSync(unmigrated)) {
    const sql = await openPglite(undefined);
    // Nothing creates a database from a template: without them an image is 15 of its 42 MB
    // smaller, and each suite's database opens a fifth sooner (about 100 ms).
    await sql.exec(`UPDATE pg_database SET datistemplate = false WHERE datname IN ('template0', 'template1')`);
    for (const name of ['template0', 'template1']) await sql.exec(`DROP DATABASE ${name}`);
    // A suite's database holds a few hundred rows; 128 MB of shared buffers, zeroed in WASM memory
    // at every start, was half of each suite's opening (about 0.5 s of CPU of 1).
    await sql.exec(`ALTER SYSTEM SET shared_buffers = '16MB'`);
    const before = await sql.dumpDataDir();
    await migrate(sql);
    const image = await sql.dumpDataDir();
    await sql.close();
    mkdirSync(CACHE, { recursive: true });
    for (const [file, blob] of [[unmigrated, before], [path, image]] as const) {
      writeFileSync(`${file}.part`, new Uint8Array(await blob.arrayBuffer()));
      renameSync(`${file}.part`, file);
    }
  }
  project.provide('pgliteImage', path);
  project.provide('pgliteUnmigratedImage', unmigrated);
}
