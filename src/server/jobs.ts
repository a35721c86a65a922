/**
 * What a Tollgate process does besides answering requests: run the auto-recharges that are due,
 * record the renewals of subscriptions the clock runs (the fake processor's; ended at their period's end once
 * a real processor replaced it), and forget
 * Idempotency-Keys past their day. Any number of processes may run them at once, as each claims
 * its own piece of work. `npm start` runs them in every worker; a host that serves the app in
 * its own process (the app kit) runs them beside it.
 */
import type { Logger } from 'pino';
import type { Billing } from '../engine/billing.ts';
import { forgetOldKeys } from '../hono/idempotency.ts';
import { databaseUnreachable } from '../db/unreachable.ts';

/** How often a process forgets Idempotency-Keys past their day. */
const FORGET_EVERY_MS = 10 * 60_000;
/** How often a process runs the auto-recharges that are due. */
const RECHARGE_EVERY_MS = 1_000;
/** And sweeps for those due that no charge enqueued (a process that died after its charge) every so many runs. */
const SWEEP_EVERY_RUNS = 10;
/** How often a process records the renewals due of subscriptions the clock runs. */
const RENEW_EVERY_MS = 1_000;

/**
 * Run `job` every `everyMs`, one run at a time in this process; a run that fails is logged and
 * the next one tries again. `stop` waits for a run under way to finish (else its claims are left
 * for another process to take when they run out).
 */
function repeat(everyMs: number, job: () => Promise<unknown>, logger: Logger, failed: string): { stop(): Promise<unknown> } {
  let running: Promise<unknown> | undefined;
  // The database out of reach fails every run until it is back: said once, in a line, not each second with a stack.
  let unreachable = false;
  const timer = setInterval(() => {
    running ??= job()
      .then(() => {
        if (unreachable) logger.info(`${failed}: the database answers again`);
        unreachable = false;
      }, (error: unknown) => {
        if (!databaseUnreachable(error)) return logger.warn({ err: error }, failed);
        if (!unreachable) logger.warn({ error: (error as Error).message }, `${failed}: the database does not answer, retrying`);
        unreachable = true;
      })
      .finally(() => (running = undefined));
  }, everyMs);
  timer.unref();
  return {
    stop: async () => {
      clearInterval(timer);
      await running;
    },
  };
}

/** Record the renewals due, and say which subscriptions end because their processor was replaced. */
async function runRenewals(billing: Billing, logger: Logger): Promise<void> {
  for (const { accountId, endsAt } of await billing.runClockRenewals()) {
    if (endsAt) logger.info({ accountId, endsAt }, 'subscription on the replaced fake processor ends at its period end');
  }
}

/** Starts the jobs; `stop` ends them, once the runs under way are done (before the database closes). */
export function runJobs(billing: Billing, logger: Logger): { stop(): Promise<void> } {
  let runs = 0;
  const jobs = [
    repeat(FORGET_EVERY_MS, () => forgetOldKeys(billing.sql), logger, 'forgetting old idempotency keys failed'),
    repeat(RECHARGE_EVERY_MS, () => billing.runRecharges({ sweep: runs++ % SWEEP_EVERY_RUNS === 0 }), logger, 'running auto-recharges failed'),
    repeat(RENEW_EVERY_MS, () => runRenewals(billing, logger), logger, 'recording renewals failed'),
  ];
  return {
    stop: async () => {
      await Promise.all(jobs.map((job) => job.stop()));
    },
  };
}
