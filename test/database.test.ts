import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../src/db/connect.ts';
import { migrate, migrationFiles } from '../src/db/migrate.ts';
import { createBilling } from '../src/index.ts';
import { ENGINES } from './support/harness.ts';
import { fundedAccounts } from './support/spend.ts';
import { holdKey } from '../src/core/hold-id.ts';
import { NO_USAGE } from '../src/core/usage-windows.ts';
import { WINDOW_COLUMNS, windowsFromRow, type WindowRow } from '../src/billing/window-columns.ts';

describe('database URLs', () => {
  it('keeps data in a pglite:// directory across reopening', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-'));
    try {
      const first = await createBilling({ database: `pglite://${dir}` });
      await first.admin.applyPreset('tiers');
      await first.upsertAccount({ id: 'kept', kind: 'personal' });
      await first.close();
      const second = await createBilling({ database: `pglite://${dir}` });
      expect((await second.getAccount('kept')).kind).toBe('personal');
      await second.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses an unknown URL scheme with a clear error', async () => {
    await expect(openDatabase('mysql://localhost/x')).rejects.toMatchObject({ code: 'invalid_input', message: expect.stringMatching(/memory:\/\//) });
  });
});

for (const engine of ENGINES) {
  describe(`migrations on ${engine.name}`, () => {
    it('apply every file once; running again applies nothing', async () => {
      const db = await engine.open();
      try {
        const applied = await db.sql.query<{ name: string }>('SELECT name FROM tollgate_migrations ORDER BY name');
        expect(applied.map((r) => r.name)).toEqual(migrationFiles());
        expect(await migrate(db.sql)).toEqual([]);
      } finally {
        await db.drop();
      }
    });

    it('0006 keys holds by the part of their id before the description; ids issued before still settle and release', async () => {
      const db = await engine.open({ through: '0005_windows_on_balances.sql' });
      try {
        const billing = await createBilling({ database: db.sql, clock: () => new Date('2026-03-10T12:00:00Z') });
        await fundedAccounts(billing, ['a'], 5_000_000);
        const ask = { model: 'test-model', provider: 'test', inputTokens: 1_000, maxOutputTokens: 0 };
        const [settled, first, second] = [await billing.authorize('a', ask), await billing.authorize('a', ask), await billing.authorize('a', ask)];
        if (!settled.ok || !first.ok || !second.ok) throw new Error('refused');
        const used = { inputTokens: 1_000, outputTokens: 0 };
        const charge = await billing.settle(settled.hold.id, used, { idempotencyKey: 'before' });
        // As the ids were stored before: whole.
        for (const { hold } of [settled, first, second]) await db.sql.query('UPDATE holds SET id = $1 WHERE id = $2', [hold.id, holdKey(hold.id)]);
        await db.sql.query('UPDATE usage_events SET hold_id = $1 WHERE id = $2', [settled.hold.id, charge.usageEventId]);
        // Two made-up ids with one key: they keep their whole ids rather than fail the migration.
        await db.sql.exec(`INSERT INTO holds (id, account_id, model, provider, amount_micros, tokens, expires_at, created_at) VALUES
          ('hold_made-up.one', 'a', 'm', 'p', 0, 0, now(), now()), ('hold_made-up.two', 'a', 'm', 'p', 0, 0, now(), now())`);
        expect(await migrate(db.sql)).toEqual(migrationFiles().filter((f) => f > '0005_windows_on_balances.sql'));
        expect((await db.sql.query<{ id: string }>('SELECT id FROM holds ORDER BY id')).map((h) => h.id)).toEqual(
          [...[settled, first, second].map((a) => holdKey(a.hold.id)), 'hold_made-up.one', 'hold_made-up.two'].sort(),
        );
        expect(await db.sql.query('SELECT hold_id FROM usage_events')).toEqual([{ hold_id: holdKey(settled.hold.id) }]);
        const after = await createBilling({ database: db.sql, clock: () => new Date('2026-03-10T12:00:00Z') });
        expect(await after.settle(settled.hold.id, used, { idempotencyKey: 'before' })).toEqual({ ...charge, replayed: true });
        await expect(after.settle(settled.hold.id, used, { idempotencyKey: 'again' })).rejects.toMatchObject({ code: 'hold_settled' });
        expect(await after.settle(first.hold.id, { inputTokens: 1_000, outputTokens: 0 }, { idempotencyKey: 'k' })).toMatchObject({ holdId: first.hold.id, replayed: false });
        expect(await after.settle(first.hold.id, { inputTokens: 1_000, outputTokens: 0 }, { idempotencyKey: 'k' })).toMatchObject({ holdId: first.hold.id, replayed: true });
        expect(await after.release(second.hold.id)).toEqual({ holdId: second.hold.id, status: 'released' });
        expect((await after.reconcile('a')).problems).toEqual([]);
      } finally {
        await db.drop();
      }
    });

    it('0005 carries each account\'s two newest day and month windows onto its balance row', async () => {
      const db = await engine.open({ through: '0004_hot_path_integrity.sql' });
      try {
        await db.sql.exec(`
          INSERT INTO plans (id, slug, name, price_cents) VALUES (1, 'free', 'Free', 0);
          INSERT INTO accounts (id, kind, plan_id) VALUES ('a', 'team', 1), ('idle', 'personal', 1), ('monthly', 'team', 1);
          INSERT INTO account_balances (account_id) VALUES ('a'), ('idle'), ('monthly');
          INSERT INTO usage_windows (account_id, window_kind, starts_at, value_micros, tokens) VALUES
            ('a', 'day', '2026-03-08T00:00:00Z', 999, 99), ('a', 'day', '2026-03-09T00:00:00Z', 111, 11), ('a', 'day', '2026-03-10T00:00:00Z', 222, 22),
            ('a', 'month', '2026-02-01T00:00:00Z', 333, 33), ('a', 'month', '2026-03-01T00:00:00Z', 444, 44),
            ('monthly', 'month', '2026-03-01T00:00:00Z', 5, 1);
          INSERT INTO usage_events (account_id, idempotency_key, model, provider, input_tokens, output_tokens, cost_micros, value_micros,
            margin_bps, price, occurred_at) VALUES ('a', 'k', 'm', 'p', 1, 1, 1, 2, 5000, '{}', '2026-03-10T08:30:00Z');`);
        expect(await migrate(db.sql)).toEqual(migrationFiles().filter((f) => f > '0004_hot_path_integrity.sql'));
        const rows = await db.sql.query<WindowRow & { account_id: string }>(`SELECT account_id, ${WINDOW_COLUMNS} FROM account_balances b ORDER BY account_id`);
        const window = (start: string, valueMicros: number, tokens: number) => ({ startsAt: new Date(start), valueMicros, tokens });
        expect(rows.map((r) => [r.account_id, windowsFromRow(r)])).toEqual([
          ['a', {
            day: { current: window('2026-03-10T00:00:00Z', 222, 22), previous: window('2026-03-09T00:00:00Z', 111, 11) },
            month: { current: window('2026-03-01T00:00:00Z', 444, 44), previous: window('2026-02-01T00:00:00Z', 333, 33) },
            usageAt: new Date('2026-03-10T08:30:00Z'),
          }],
          ['idle', NO_USAGE],
          ['monthly', { day: { current: null, previous: null }, month: { current: window('2026-03-01T00:00:00Z', 5, 1), previous: null }, usageAt: null }],
        ]);
      } finally {
        await db.drop();
      }
    });
  });
}
