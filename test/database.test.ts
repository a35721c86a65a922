import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../src/db/connect.ts';
import { migrate, migrationFiles } from '../src/db/migrate.ts';
import { createBilling } from '../src/index.ts';
import { ENGINES } from './support/harness.ts';
import { NO_USAGE } from '../src/core/usage-windows.ts';
import { WINDOW_COLUMNS, windowsFromRow, type WindowRow } from '../src/engine/window-columns.ts';

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

    it('0006 keys holds by the part of their id before the description, and the usage events that name them', async () => {
      const db = await engine.open({ through: '0005_windows_on_balances.sql' });
      try {
        const key = (n: number) => `hold_01M8T5KTV4BB55566VEGY294C${n}`;
        await db.sql.exec(`
          INSERT INTO plans (id, slug, name, price_cents) VALUES (1, 'free', 'Free', 0);
          INSERT INTO accounts (id, kind, plan_id) VALUES ('a', 'team', 1);
          INSERT INTO account_balances (account_id) VALUES ('a');
          INSERT INTO holds (id, account_id, model, provider, amount_micros, tokens, expires_at, created_at) VALUES
            ('${key(1)}.WyJhIl0', 'a', 'm', 'p', 0, 0, now(), now()), ('${key(2)}.WyJiIl0', 'a', 'm', 'p', 0, 0, now(), now()),
            ('hold_made-up.one', 'a', 'm', 'p', 0, 0, now(), now()), ('hold_made-up.two', 'a', 'm', 'p', 0, 0, now(), now());
          INSERT INTO usage_events (account_id, idempotency_key, hold_id, model, provider, input_tokens, output_tokens, cost_micros, value_micros,
            margin_bps, price, occurred_at) VALUES ('a', 'k', '${key(1)}.WyJhIl0', 'm', 'p', 1, 1, 1, 2, 5000, '{}', now());`);
        expect(await migrate(db.sql)).toEqual(migrationFiles().filter((f) => f > '0005_windows_on_balances.sql'));
        // Two made-up ids with one key keep their whole ids rather than fail the migration.
        expect((await db.sql.query<{ id: string }>('SELECT id FROM holds ORDER BY id')).map((h) => h.id)).toEqual([key(1), key(2), 'hold_made-up.one', 'hold_made-up.two']);
        expect(await db.sql.query('SELECT hold_id FROM usage_events')).toEqual([{ hold_id: key(1) }]);
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
