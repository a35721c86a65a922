import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../src/db/connect.ts';
import { migrate, migrationFiles } from '../src/db/migrate.ts';
import { createBilling } from '../src/index.ts';
import { ENGINES } from './support/harness.ts';

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
  });
}
