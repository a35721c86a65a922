/**
 * Versioned SQL migrations, applied in file-name order at start, each once. On a PostgreSQL
 * server an advisory lock keeps two starting processes from applying the same file.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Sql } from './sql.ts';

const DIRECTORY = fileURLToPath(new URL('./migrations/', import.meta.url));
const LOCK_KEY = 7_121_845_337; // any constant unique to Tollgate

export function migrationFiles(): string[] {
  return readdirSync(DIRECTORY).filter((f) => f.endsWith('.sql')).sort();
}

/** Apply the migrations not applied yet, in order; with `through`, only up to that file (to test a migration on older data). */
export async function migrate(sql: Sql, options: { through?: string } = {}): Promise<string[]> {
  return sql.transaction(async (tx) => {
    if (tx.engine === 'postgres') await tx.query('SELECT pg_advisory_xact_lock($1)', [LOCK_KEY]);
    await tx.query('CREATE TABLE IF NOT EXISTS tollgate_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())');
    const done = new Set((await tx.query<{ name: string }>('SELECT name FROM tollgate_migrations')).map((r) => r.name));
    const applied: string[] = [];
    for (const file of migrationFiles().filter((f) => options.through === undefined || f <= options.through)) {
      if (done.has(file)) continue;
      try {
        await tx.exec(readFileSync(DIRECTORY + file, 'utf8'));
      } catch (error) {
        // Which file failed comes first (the error keeps its code); none of them was applied.
        if (error instanceof Error) throw Object.assign(error, { message: `migration ${file} failed: ${error.message}`, migration: file });
        throw error;
      }
      await tx.query('INSERT INTO tollgate_migrations (name) VALUES ($1)', [file]);
      applied.push(file);
    }
    return applied;
  });
}
