/**
 * The machine's ceiling: pgbench's simple-update (a short write transaction, like one
 * authorize or settle) in a database of its own, so the Tollgate numbers can be read as a
 * fraction of what this PostgreSQL on this machine can do at all.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { percentiles } from './load.ts';

const run = promisify(execFile);

export const PGBENCH = { database: 'tollgate_pgbench', scale: 10, clients: 8, threads: 2, seconds: 10 };

export type Ceiling =
  | { tps: number; latencyMs: number | null; latencyP50Ms?: number; latencyP99Ms?: number; command: string; runs?: number[]; around?: string }
  | { skipped: string };

/** pgbench logs this share of its transactions, enough for a p99 at no cost to its speed. */
const LOGGED_SHARE = 0.1;

/**
 * The ceiling of two pgbench runs, one just before and one just after the scenario compared
 * to it: their mean. A shared virtual machine's speed drifts by minutes; bracketing the
 * scenario keeps the ratio to what the machine could do at that time.
 */
export function bracketed(before: Ceiling, after: Ceiling, around?: string): Ceiling {
  if (!('tps' in before)) return before;
  if (!('tps' in after)) return after;
  const mean = (a: number | null | undefined, b: number | null | undefined) => (a == null || b == null ? null : Number(((a + b) / 2).toFixed(3)));
  return {
    tps: (before.tps + after.tps) / 2,
    latencyMs: mean(before.latencyMs, after.latencyMs),
    latencyP50Ms: mean(before.latencyP50Ms, after.latencyP50Ms) ?? undefined,
    latencyP99Ms: mean(before.latencyP99Ms, after.latencyP99Ms) ?? undefined,
    command: before.command,
    runs: [before.tps, after.tps],
    around,
  };
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
  const logs = await mkdtemp(join(tmpdir(), 'tollgate-pgbench-'));
  try {
    const logging = ['--log', `--sampling-rate=${LOGGED_SHARE}`, `--log-prefix=${join(logs, 'log')}`];
    const { stdout } = await run(pgbench, [...logging, ...args], { env });
    const tps = /^tps = ([\d.]+)/m.exec(stdout);
    if (!tps) return { skipped: `could not read the TPS from pgbench's output:\n${stdout}` };
    const latency = /^latency average = ([\d.]+) ms/m.exec(stdout);
    const sampled = percentiles(await loggedLatencies(logs));
    return {
      tps: Number(tps[1]), latencyMs: latency ? Number(latency[1]) : null, latencyP50Ms: sampled.p50, latencyP99Ms: sampled.p99,
      command: `pgbench ${args.join(' ')}`,
    };
  } finally {
    await rm(logs, { recursive: true, force: true });
  }
}

/** Transaction latencies in ms from pgbench's logs: the third field of each line, in µs. */
async function loggedLatencies(directory: string): Promise<number[]> {
  const latencies: number[] = [];
  for (const file of await readdir(directory)) {
    for (const line of (await readFile(join(directory, file), 'utf8')).split('\n')) {
      const micros = Number(line.split(' ')[2]);
      if (line && Number.isFinite(micros)) latencies.push(micros / 1000);
    }
  }
  return latencies;
}
