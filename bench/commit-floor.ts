/**
 * The machine's latency floor for a write: one-row UPDATEs of pgbench's table, each its own
 * transaction, started at the paced scenario's rate by the same load generator. Measured
 * twice: with the commit flushed to disk (durable: no settle can beat it) and without
 * (asynchronous, as holds commit: no authorize can beat it). The authorize p99 target is
 * read against the second.
 */
import pg from 'pg';
import { runLoad, type Percentiles } from './load.ts';
import { PGBENCH } from './pgbench.ts';

export type CommitFloor = { ratePerSecond: number; synchronousCommit: boolean; latency: Percentiles } | { skipped: string };

export async function commitFloor(
  serverUrl: string, options: { ratePerSecond: number; workers: number; seconds: number; warmupSeconds: number; synchronousCommit: boolean },
): Promise<CommitFloor> {
  const url = new URL(serverUrl);
  url.pathname = `/${PGBENCH.database}`;
  if (!options.synchronousCommit) url.searchParams.set('options', '-c synchronous_commit=off');
  const pool = new pg.Pool({ connectionString: url.toString(), max: options.workers });
  try {
    const rows = PGBENCH.scale * 100_000;
    const update = (id: number) => pool.query({ name: 'floor', text: 'UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = $1', values: [id] });
    await update(1);
    const run = await runLoad(
      async (step) => {
        await step('commit', () => update(1 + Math.floor(Math.random() * rows)));
        return true;
      },
      options,
    );
    if (run.errors > 0) return { skipped: `the floor's updates failed: ${run.firstError}` };
    return { ratePerSecond: options.ratePerSecond, synchronousCommit: options.synchronousCommit, latency: run.latency.commit! };
  } catch (error) {
    return { skipped: `could not measure the commit floor: ${(error as Error).message}` };
  } finally {
    await pool.end();
  }
}
