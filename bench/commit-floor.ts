/**
 * The machine's latency floor for a durable write: one-row UPDATEs of pgbench's table, each
 * its own transaction, started at the paced scenario's rate by the same load generator. No
 * call that waits for its commit to be flushed can have a lower p99 here, so the authorize
 * p99 target is read against it.
 */
import pg from 'pg';
import { runLoad, type Percentiles } from './load.ts';
import { PGBENCH } from './pgbench.ts';

export type CommitFloor = { ratePerSecond: number; latency: Percentiles } | { skipped: string };

export async function commitFloor(serverUrl: string, options: { ratePerSecond: number; workers: number; seconds: number; warmupSeconds: number }): Promise<CommitFloor> {
  const url = new URL(serverUrl);
  url.pathname = `/${PGBENCH.database}`;
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
    return { ratePerSecond: options.ratePerSecond, latency: run.latency.commit! };
  } catch (error) {
    return { skipped: `could not measure the commit floor: ${(error as Error).message}` };
  } finally {
    await pool.end();
  }
}
