/**
 * Accounts are the billed entity: a person's own, or a team's shared. Keyed by the host app's id,
 * trimmed. A change of time zone carries the period the account is in, its allowance and the
 * month's usage, into the new zone's month; a team that caps members stays a team until the
 * caps are lifted.
 */
import { z } from 'zod';
import { allowanceReference } from '../core/bucket.ts';
import { BillingError } from '../core/errors.ts';
import { assertTimeZone } from '../core/periods.ts';
import { accountIdSchema, plain, text } from '../core/input.ts';
import type { Sql } from '../db/sql.ts';
import type { Context } from './context.ts';
import { ACCOUNT_COLUMNS, accountFromRow, type Account, type AccountRow } from './rows.ts';
import { accountNotFound, lockGate, type Terms } from './terms.ts';

/** An account's id as upsertAccount takes it: trimmed. */
export const accountIdInput = accountIdSchema;
/** A processor's name, as accounts and the catalog sync name it. */
export const processorNameSchema = text(100).min(1, 'must name a processor');
/** What an account is besides its id. */
export const accountFieldsShape = {
  kind: z.enum(['personal', 'team']).meta({ description: 'A person\'s own account, or a team\'s shared one (whose members can be capped).' }),
  name: text(200).optional(),
  timeZone: text(100).optional().meta({ description: 'IANA time zone; days are counted in it.', example: 'Europe/Paris' }),
  processor: processorNameSchema.optional().meta({
    description: 'The processor the account pays through (one configured on the server: fake, stripe or paddle); left out, the default for new accounts, and unchanged for others.',
    example: 'stripe',
  }),
};
export const accountInputSchema = plain(z.object({ id: accountIdInput, ...accountFieldsShape }).strict());
export type AccountInput = z.input<typeof accountInputSchema>;

/**
 * Create the account on the default plan and processor, or update its kind, name, time zone and
 * processor (the facade parsed them). Moving it to another processor forgets its customer at the
 * one it leaves, and is refused while a subscription there has not ended (it would go on billing
 * there, and its changes and cancel would go to the new one).
 */
export async function upsertAccount(ctx: Context, account: z.output<typeof accountInputSchema>): Promise<Account> {
  if (account.timeZone !== undefined) assertTimeZone(account.timeZone);
  if (account.processor !== undefined && !ctx.processors.has(account.processor)) {
    throw new BillingError('processor_not_configured', `No processor "${account.processor}" is configured here: choose one of ${[...ctx.processors.keys()].join(', ') || 'none'}`, {
      processor: account.processor,
    });
  }
  return ctx.sql.transaction(async (tx) => {
    if (account.processor !== undefined) await assertMovable(tx, account.id, account.processor, ctx.clock());
    const now = ctx.clock();
    // The account as it is, if it is: one locked read for what the change may not do, or must carry.
    const [existing] = await tx.query<{ kind: string; time_zone: string; capped: number }>(
      `SELECT a.kind, a.time_zone, (SELECT count(*)::int FROM member_limits m WHERE m.account_id = a.id) AS capped FROM accounts a WHERE a.id = $1 FOR NO KEY UPDATE`,
      [account.id],
    );
    if (existing?.kind === 'team' && existing.capped > 0 && account.kind !== 'team') throw capsHeld(account.id, existing.capped);
    // Its terms before a new zone moves its period.
    const before = existing && account.timeZone !== undefined && account.timeZone !== existing.time_zone ? await lockGate(tx, account.id, now) : undefined;
    const [row] = await tx.query<AccountRow & { plan_id: number }>(
      `INSERT INTO accounts AS a (id, kind, name, time_zone, plan_id, created_at, processor)
       SELECT $1, $2, COALESCE($3, ''), COALESCE($4, 'UTC'), s.default_plan_id, $5, COALESCE($7, $6) FROM settings s WHERE s.default_plan_id IS NOT NULL
       ON CONFLICT (id) DO UPDATE SET kind = EXCLUDED.kind, name = COALESCE($3, a.name), time_zone = COALESCE($4, a.time_zone),
         processor = COALESCE($7, a.processor),
         processor_customer_id = CASE WHEN COALESCE($7, a.processor) = a.processor THEN a.processor_customer_id END
       RETURNING ${ACCOUNT_COLUMNS}, a.plan_id`,
      [account.id, account.kind, account.name ?? null, account.timeZone ?? null, ctx.clock(), ctx.defaultProcessor, account.processor ?? null],
    );
    if (!row) {
      throw new BillingError('plan_not_found', 'There is no default plan for new accounts: apply a preset or set settings.defaultPlan first');
    }
    await tx.query('INSERT INTO account_balances (account_id) VALUES ($1) ON CONFLICT DO NOTHING', [account.id]);
    if (before) await keepPeriod(tx, before, now);
    return accountFromRow(row);
  });
}

/**
 * A new time zone moves the calendar month an account's period is (its start is midnight there).
 * The period it was in goes on as the one it is in now: its allowance, opened once per period
 * start, becomes the new period's, so that no second one opens (a change of zone a month would
 * otherwise open as many allowances as zones), and the month's usage (the account's and each
 * capped member's) counts toward the new month's limits and caps, which would otherwise start
 * again from nothing. Gate mutex held.
 */
async function keepPeriod(tx: Sql, before: Terms, now: Date): Promise<void> {
  const after = await lockGate(tx, before.account.id, now);
  if (after.plan.id !== before.plan.id || after.period.start.getTime() === before.period.start.getTime()) return;
  const id = before.account.id;
  // The ledger mutex, and a new ledger version: the period moved under whoever holds the ledger
  // next, so its read from before is stale, as after a charge. The month's counter moves with it.
  await tx.query(
    'UPDATE account_balances SET ledger_version = ledger_version + 1, month_starts_at = CASE WHEN month_starts_at = $2 THEN $3 ELSE month_starts_at END WHERE account_id = $1',
    [id, before.period.start, after.period.start],
  );
  await tx.query(
    `UPDATE buckets SET reference = $3, starts_at = $4, expires_at = $5 WHERE account_id = $1 AND source = 'allowance' AND reference = $2
       AND NOT EXISTS (SELECT 1 FROM buckets WHERE account_id = $1 AND reference = $3)`,
    [id, allowanceReference(before.plan.id, before.period.start), allowanceReference(after.plan.id, after.period.start), after.period.start, after.period.end],
  );
  // Its capped members' months too, counted as the account's are.
  await tx.query(
    `UPDATE member_limits SET usage = jsonb_set(usage, '{month,current,startsAt}', to_jsonb($3::text))
     WHERE account_id = $1 AND (usage #>> '{month,current,startsAt}')::timestamptz = $2`,
    [id, before.period.start, after.period.start.toISOString()],
  );
}

/**
 * A team is not made personal while it caps members: the caps would go on refusing them on an
 * account whose panel and page no longer show members.
 */
function capsHeld(accountId: string, capped: number): BillingError {
  return new BillingError(
    'invalid_input',
    `Account "${accountId}" caps ${capped === 1 ? 'a member' : `${capped} members`}: lift the caps first (admin.setMemberLimits with [], or PUT /v1/accounts/{id}/members/{userId}/limits with { "limits": [] }), then make it personal`,
    { issues: ['kind: a team with capped members stays a team until their caps are lifted'] },
  );
}

/** Refuses to move an account whose subscription at another processor has not ended; holds the account's row. */
async function assertMovable(tx: Sql, accountId: string, processor: string, now: Date): Promise<void> {
  const [current] = await tx.query<{ processor: string }>('SELECT processor FROM accounts WHERE id = $1 FOR UPDATE', [accountId]);
  if (!current || current.processor === processor) return;
  const [live] = await tx.query<{ processor: string; processor_ref: string; cancel_at: Date | null }>(
    `SELECT processor, processor_ref, cancel_at FROM subscriptions
     WHERE account_id = $1 AND status = 'active' AND (cancel_at IS NULL OR cancel_at > $2) ORDER BY started_at DESC LIMIT 1`,
    [accountId, now],
  );
  if (!live) return;
  const until = live.cancel_at ? `, which ends ${live.cancel_at.toISOString()}: move it then, or cancel the subscription now` : ': cancel it first (now, or at the period\'s end and move the account once it has ended)';
  throw new BillingError(
    'subscription_active',
    `Account "${accountId}" has a subscription at ${live.processor} (${live.processor_ref})${until}. Moved to ${processor}, it would go on billing at ${live.processor}`,
    { accountId, processor: live.processor },
  );
}

export async function getAccount(ctx: Context, accountId: string): Promise<Account> {
  const [row] = await ctx.sql.query<AccountRow & { plan_id: number }>(`SELECT ${ACCOUNT_COLUMNS}, a.plan_id FROM accounts a WHERE a.id = $1`, [accountId]);
  if (!row) throw accountNotFound(accountId);
  return accountFromRow(row);
}
