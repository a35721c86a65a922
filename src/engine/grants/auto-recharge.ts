/**
 * An account's auto-recharge setting: buy a pack through its processor, off-session on its
 * saved card, whenever a charge leaves the value available under a threshold, within monthly
 * caps. The recharges themselves are jobs (recharges.ts). While it runs, the threshold is also
 * on the account row (`recharge_below_micros`), where the charge path sees it without a read.
 *
 * It turns itself off when a charge is declined or needs the customer (or there is no saved
 * card), and says why: in the balance, and in the gate's refusal, with its remedy. It pauses
 * until the month's end when a cap is reached. Setting it again turns it back on.
 */
import { z } from 'zod';
import { BillingError } from '../../core/errors.ts';
import { micros, plain, slugSchema } from '../../core/input.ts';
import { centsToMicros, formatUsd } from '../../core/money.ts';
import type { Sql } from '../../db/sql.ts';
import { findPack } from '../catalog/catalog.ts';
import type { Context } from '../context.ts';
import type { RechargeOffCode } from '../../core/gate.ts';
import type { DeclineCode } from '../processor.ts';
import { lockGate } from '../terms.ts';
import { assertPackPurchasable } from './purchases.ts';
import { enqueueIfDue } from './recharges.ts';

export const autoRechargeInputSchema = plain(
  z
    .object({
      enabled: z.boolean({ error: 'must be true or false' }).meta({
        description: 'Recharge automatically; false turns it off (with pack and thresholdMicros left out, keeping the rest as it was set).',
      }),
      pack: slugSchema.optional().meta({ description: 'The pack each recharge buys (its price, plus any debt, is charged). Required to turn it on, or with any other field.', example: 'extra-10' }),
      thresholdMicros: micros.positive('must be more than zero').optional().meta({
        description: 'Recharge when a charge leaves less than this available, in micro-dollars. Required to turn it on, or with any other field.', example: 2_000_000,
      }),
      monthlyMaxCount: z
        .number({ error: 'must be a number of recharges' })
        .int('must be a whole number')
        .positive('must be at least 1')
        .max(1_000, 'must be at most 1,000')
        .nullable()
        .optional()
        .meta({ description: 'At most this many recharges in a calendar month (the account\'s time zone); null or left out: no cap.' }),
      monthlyMaxMicros: micros
        .positive('must be more than zero')
        .nullable()
        .optional()
        .meta({ description: 'At most this much charged by recharges in a calendar month, in micro-dollars; null or left out: no cap.' }),
    })
    .strict()
    .superRefine((input, ctx) => {
      // Off alone keeps what was set; any other field sets the whole setting, which a part would leave unsaid.
      const partOfSetting = [input.pack, input.thresholdMicros, input.monthlyMaxCount, input.monthlyMaxMicros].some((v) => v !== undefined);
      if (!input.enabled && !partOfSetting) return;
      const message = input.enabled ? 'is required to turn auto-recharge on' : 'is required with the rest of the setting (or send { "enabled": false } alone to turn it off as it is)';
      if (input.pack === undefined) ctx.addIssue({ code: 'custom', path: ['pack'], message });
      if (input.thresholdMicros === undefined) ctx.addIssue({ code: 'custom', path: ['thresholdMicros'], message });
    }),
);
export type AutoRechargeInput = z.input<typeof autoRechargeInputSchema>;

export type AutoRechargeState = 'on' | 'off' | 'paused' | 'disabled';

export interface AutoRechargeView {
  enabled: boolean;
  pack: string;
  thresholdMicros: number;
  monthlyMaxCount: number | null;
  monthlyMaxMicros: number | null;
  /** on; off: it turned itself off (see `off`); paused: a monthly cap was reached (until `pausedUntil`); disabled: set off. */
  state: AutoRechargeState;
  off: { code: RechargeOffCode; message: string; at: Date } | null;
  pausedUntil: Date | null;
  /** A recharge is in flight now. */
  recharging: boolean;
}

interface SettingRow {
  enabled: boolean;
  pack_slug: string;
  threshold_micros: number;
  monthly_max_count: number | null;
  monthly_max_micros: number | null;
  off_code: RechargeOffCode | null;
  off_message: string | null;
  off_at: Date | null;
  paused_until: Date | null;
  recharging: boolean;
}

/** The account's setting with its state, or null when it never set one. */
export async function autoRechargeOf(sql: Sql, accountId: string, now: Date): Promise<AutoRechargeView | null> {
  const [row] = await sql.query<SettingRow>(
    `SELECT r.enabled, k.slug AS pack_slug, r.threshold_micros, r.monthly_max_count, r.monthly_max_micros, r.off_code, r.off_message, r.off_at, r.paused_until,
            EXISTS (SELECT 1 FROM recharges j WHERE j.account_id = r.account_id AND j.status IN ('pending', 'charging', 'awaiting_payment')) AS recharging
     FROM auto_recharge r JOIN packs k ON k.id = r.pack_id WHERE r.account_id = $1`,
    [accountId],
  );
  if (!row) return null;
  const paused = row.paused_until !== null && row.paused_until > now;
  return {
    enabled: row.enabled,
    pack: row.pack_slug,
    thresholdMicros: row.threshold_micros,
    monthlyMaxCount: row.monthly_max_count,
    monthlyMaxMicros: row.monthly_max_micros,
    state: !row.enabled ? 'disabled' : row.off_code ? 'off' : paused ? 'paused' : 'on',
    off: row.off_code ? { code: row.off_code, message: row.off_message ?? '', at: row.off_at! } : null,
    pausedUntil: paused ? row.paused_until : null,
    recharging: row.recharging,
  };
}

/** Set it (parsed by the facade): the pack must be one the account can buy and spend, through a processor that can charge a saved card. */
export async function setAutoRecharge(ctx: Context, accountId: string, input: z.output<typeof autoRechargeInputSchema>): Promise<AutoRechargeView> {
  return ctx.sql.transaction(async (tx) => {
    const now = ctx.clock();
    const { account } = await lockGate(tx, accountId, now);
    if (input.pack === undefined || input.thresholdMicros === undefined) return turnedOff(tx, accountId, now);
    const pack = await findPack(tx, input.pack);
    if (input.enabled) {
      // A monthly cap below the pack's price would let no recharge through, while the setting says it is on.
      if (input.monthlyMaxMicros != null && input.monthlyMaxMicros < centsToMicros(pack.priceCents)) {
        const price = formatUsd(centsToMicros(pack.priceCents));
        throw new BillingError('invalid_input', `The monthly cap of ${formatUsd(input.monthlyMaxMicros)} is less than ${price}, the price of the pack "${pack.slug}": no recharge could be made`, {
          issues: [`monthlyMaxMicros: ${formatUsd(input.monthlyMaxMicros)} is less than ${price}, the pack's price, so no recharge could be made: raise it or leave it empty`],
        });
      }
      await assertPackPurchasable(tx, accountId, pack, now);
      if (!ctx.processors.get(account.processor)?.chargeSaved) {
        throw new BillingError(
          'processor_not_configured',
          `Account "${accountId}" pays through "${account.processor}", which cannot charge a saved card here: configure it, or move the account to a processor that can`,
          { accountId, processor: account.processor },
        );
      }
    }
    // Set again, it starts afresh: whatever turned it off or paused it is for the next recharge to find again.
    await tx.query(
      `INSERT INTO auto_recharge (account_id, enabled, pack_id, threshold_micros, monthly_max_count, monthly_max_micros, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (account_id) DO UPDATE SET enabled = $2, pack_id = $3, threshold_micros = $4, monthly_max_count = $5, monthly_max_micros = $6,
         off_code = NULL, off_message = NULL, off_at = NULL, paused_until = NULL, updated_at = $7`,
      [accountId, input.enabled, pack.id, input.thresholdMicros, input.monthlyMaxCount ?? null, input.monthlyMaxMicros ?? null, now],
    );
    await tx.query('UPDATE accounts SET recharge_below_micros = $2 WHERE id = $1', [accountId, input.enabled ? input.thresholdMicros : null]);
    if (input.enabled) await enqueueIfDue(tx, accountId, input.thresholdMicros, now);
    return (await autoRechargeOf(tx, accountId, now))!;
  });
}

/** Turned off as the account set it, the rest kept for turning it on again; refused if it never was set. Gate mutex held. */
async function turnedOff(tx: Sql, accountId: string, now: Date): Promise<AutoRechargeView> {
  const set = await tx.query(
    'UPDATE auto_recharge SET enabled = false, off_code = NULL, off_message = NULL, off_at = NULL, paused_until = NULL, updated_at = $2 WHERE account_id = $1 RETURNING 1',
    [accountId, now],
  );
  if (set.length === 0) {
    throw new BillingError('invalid_input', `Account "${accountId}" has no auto-recharge set to turn off`, {
      issues: ['pack: required, with thresholdMicros, when auto-recharge was never set'],
    });
  }
  await tx.query('UPDATE accounts SET recharge_below_micros = NULL WHERE id = $1', [accountId]);
  return (await autoRechargeOf(tx, accountId, now))!;
}

/** A recharge was declined, or its pack is no longer for sale to the account: auto-recharge turns off, saying why, until it is set again. */
export async function turnOff(tx: Sql, accountId: string, code: RechargeOffCode, message: string, now: Date): Promise<void> {
  await tx.query('UPDATE auto_recharge SET off_code = $2, off_message = $3, off_at = $4, updated_at = $4 WHERE account_id = $1 AND enabled', [accountId, code, message, now]);
  await tx.query('UPDATE accounts SET recharge_below_micros = NULL WHERE id = $1', [accountId]);
}

/** A monthly cap was reached: no recharge until the month ends (the sweep arms it again then). */
export async function pauseUntil(tx: Sql, accountId: string, until: Date, now: Date): Promise<void> {
  await tx.query('UPDATE auto_recharge SET paused_until = $2, updated_at = $3 WHERE account_id = $1', [accountId, until, now]);
  await tx.query('UPDATE accounts SET recharge_below_micros = NULL WHERE id = $1', [accountId]);
}

/** Why it turned off, as the balance and the gate's refusal say it. */
export function offMessage(code: DeclineCode, amountCents: number, processorMessage: string): string {
  const amount = formatUsd(amountCents * 10_000);
  const said = processorMessage ? ` (${processorMessage.replace(/\.$/, '')})` : '';
  switch (code) {
    case 'card_declined':
      return `the card on file was declined for the recharge of ${amount}${said}.`;
    case 'authentication_required':
      return `the card's bank asked the customer to authenticate the recharge of ${amount}, which cannot happen off-session${said}.`;
    case 'no_payment_method':
      return `there is no saved card to charge the recharge of ${amount} to${said}.`;
  }
}
