/**
 * The gate mutex (the account row) on PostgreSQL: a call that waits on it for a writer that
 * changes the account's plan, or caps a member, decides on what that writer committed. Skipped,
 * with a note, without TEST_DATABASE_URL (PGlite runs one transaction at a time).
 */
import { describe, expect, it } from 'vitest';
import { ENGINES, POSTGRES_URL, useBilling } from './support/harness.ts';
import { fundedAccounts } from './support/spend.ts';

const postgres = ENGINES.find((e) => e.name === 'postgres');
if (!POSTGRES_URL) console.warn('\n[gate mutex tests] SKIPPED: they need PostgreSQL. Set TEST_DATABASE_URL=postgres://… to run them.\n');

describe.skipIf(!postgres)(`the gate mutex on postgres${postgres ? '' : ' (SKIPPED: TEST_DATABASE_URL is not set)'}`, () => {
  const t = useBilling(postgres!);
  const ask = { model: 'test-model', provider: 'test', inputTokens: 1_000, maxOutputTokens: 0 };

  /** Run `change` in a transaction that holds the account row until `release` is called. */
  async function holding(accountId: string, change: string) {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    const done = t.sql.transaction(async (tx) => {
      await tx.query('SELECT 1 FROM accounts WHERE id = $1 FOR NO KEY UPDATE', [accountId]);
      await tx.exec(change);
      locked();
      await released;
    });
    await isLocked;
    return { release, done };
  }

  /** An account on a plan with an allowance not opened yet: its first authorization takes the gate mutex. */
  async function unopened(id: string) {
    await fundedAccounts(t.billing, [id], 5_000_000);
    await t.billing.admin.createPlan({ slug: 'incl', name: 'Included', priceCents: 0, includedMicros: 1_000_000, overage: 'credits' }).catch(() => undefined);
    await t.sql.query(`UPDATE accounts SET plan_id = (SELECT id FROM plans WHERE slug = 'incl') WHERE id = $1`, [id]);
  }

  it('a call that waited for a plan change finds the account, on its new plan', async () => {
    await unopened('fresh');
    await t.billing.admin.createPlan({ slug: 'other', name: 'Other', priceCents: 0, includedMicros: 2_000_000, overage: 'credits' });
    const change = await holding('fresh', `UPDATE accounts SET plan_id = (SELECT id FROM plans WHERE slug = 'other') WHERE id = 'fresh'`);
    const authorizing = t.billing.authorize('fresh', ask);
    const crediting = t.billing.credit('fresh', { source: 'bonus', amountMicros: 1, reference: 'while-locked' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    change.release();
    await change.done;
    expect(await authorizing).toMatchObject({ ok: true });
    await expect(crediting).resolves.toMatchObject({ created: true });
    expect((await t.billing.balance('fresh')).plan.slug).toBe('other');
  });

  it('an authorization that waited for a member cap is decided under it', async () => {
    await unopened('team');
    const change = await holding('team', `INSERT INTO member_limits (account_id, user_id, limits, usage, updated_at)
      VALUES ('team', 'u1', '[{"window":"day","unit":"usd","amount":1}]', '{"day":{"current":null,"previous":null},"month":{"current":null,"previous":null},"usageAt":null}', now())`);
    const waiting = t.billing.authorize('team', { ...ask, userId: 'u1' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    change.release();
    await change.done;
    expect(await waiting).toMatchObject({ ok: false, code: 'member_limit' });
  });
});
