/**
 * The machine's ceiling: pgbench's simple-update (a short write transaction, like one
 * authorize or settle) in a database of its own, so the Tollgate numbers can be read as a
 * fraction of what this PostgreSQL on this machine can do at all.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);

export const PGBENCH = { database: 'tollgate_pgbench', scale: 10, clients: 8, threads: 2, seconds: 10 };

export type Ceiling = { tps: number; latencyMs: number | null; command: string; runs?: number[] } | { skipped: string };

/**
 * The ceiling of two pgbench runs, one just before and one just after the scenario compared
 * to it: their mean. A shared virtual machine's speed drifts by minutes; bracketing the
 * scenario keeps the ratio to what the machine could do at that time.
 */
export function bracketed(before: Ceiling, after: Ceiling): Ceiling {
  if (!('tps' in before)) return before;
  if (!('tps' in after)) return after;
  const mean = (a: number | null, b: number | null) => (a === null || b === null ? null : Number(((a + b) / 2).toFixed(3)));
  return { tps: (before.tps + after.tps) / 2, latencyMs: mean(before.latencyMs, after.latencyMs), command: before.command, runs: [before.tps, after.tps] };
}

/** libpq's environment for a postgres:// URL, so pgbench connects where the bench does. */
function libpqEnv(url: URL): NodeJS.ProcessEnv {
  return {
    ...process.env,
    PGHOST: url.hostname || '127.0.0.1',
    PGPORT: url.port || '5432',
    PGUSER: decodeURIComponent(url.username) || 'postgres',
    ...(url.password ? { PGPASSWORD: decodeURIComponent(url.password) } : {}),
  };
}

async function ensureDatabase(serverUrl: string, name: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (!rowCount) await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
}

const initialized = new Set<string>();

/**
 * Write out every dirty page now (best effort: it needs a superuser or pg_checkpoint), so that
 * each measurement starts from the same state rather than paying for the writes before it.
 */
export async function checkpoint(serverUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl });
  try {
    await client.connect();
    await client.query('CHECKPOINT');
  } catch {
    // Without the right, measurements simply start wherever the server is.
  } finally {
    await client.end().catch(() => {});
  }
}

export async function machineCeiling(serverUrl: string, pgbench = process.env.PGBENCH ?? 'pgbench'): Promise<Ceiling> {
  const env = libpqEnv(new URL(serverUrl));
  const { database, scale, clients, threads, seconds } = PGBENCH;
  try {
    await run(pgbench, ['--version'], { env });
  } catch {
    return { skipped: `${pgbench} not found: set PGBENCH to its path` };
  }
  // Its tables are made once per bench run: loading them is a burst of writes the scenario that
  // follows would pay for.
  if (!initialized.has(serverUrl)) {
    await ensureDatabase(serverUrl, database);
    await run(pgbench, ['-i', '-q', '-s', String(scale), database], { env });
    initialized.add(serverUrl);
  }
  await checkpoint(serverUrl);
  const args = ['-b', 'simple-update', '-c', String(clients), '-j', String(threads), '-T', String(seconds), database];
  const { stdout } = await run(pgbench, args, { env });
  const tps = /^tps = ([\d.]+)/m.exec(stdout);
  if (!tps) return { skipped: `could not read the TPS from pgbench's output:\n${stdout}` };
  const latency = /^latency average = ([\d.]+) ms/m.exec(stdout);
  return { tps: Number(tps[1]), latencyMs: latency ? Number(latency[1]) : null, command: `pgbench ${args.join(' ')}` };
}
