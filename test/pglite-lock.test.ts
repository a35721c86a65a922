/**
 * One writer per PGlite directory: two processes on one directory used to open it without a
 * word and lose each other's acknowledged charges. A second open, from another process or
 * this one, is now refused until the first closes or its process is gone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite, type PGliteOptions } from '@electric-sql/pglite';
import { afterAll, afterEach, beforeAll, describe, expect, it, inject, vi } from 'vitest';
import { openDatabase } from '../src/db/connect.ts';
import { LOCK_FILE, lockDirectory } from '../src/db/lock-file.ts';
import { openPglite } from '../src/db/pglite.ts';
import { createBilling } from '../src/index.ts';
import { compiled } from './support/compiled.ts';

/** Each test boots PGlite (and a child process) more than once: slow on a busy machine. */
const SLOW = 240_000;

const dirs: string[] = [];
const children: ChildProcess[] = [];

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-lock-'));
  dirs.push(dir);
  return dir;
}

/**
 * The tests are about the lock, not about creating a database: each directory is a copy of one
 * laid out once from the run's migrated image, so no process here runs initdb in WASM.
 */
let image: Blob;
let migrated: string;
beforeAll(async () => {
  image = new Blob([readFileSync(inject('pgliteImage'))]);
  migrated = mkdtempSync(join(tmpdir(), 'tollgate-lock-migrated-'));
  const sql = await openPglite(migrated, { loadDataDir: image });
  await sql.close();
}, SLOW);
afterAll(() => rmSync(migrated, { recursive: true, force: true }));

/** A directory holding a migrated database that no process has open. */
function databaseDir(): string {
  const dir = tempDir();
  cpSync(migrated, dir, { recursive: true });
  return dir;
}

/** Another process holding the directory open; resolves with it once it says what happened. */
function otherProcess(dir: string): Promise<{ child: ChildProcess; said: string }> {
  const child = spawn(process.execPath, [compiled('hold-pglite'), dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('\n')) resolve({ child, said: out.trim() });
    });
    child.on('exit', (code) => reject(new Error(`the other process exited (${code}) saying "${out}"`)));
  });
}

function killed(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) await killed(child);
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('one writer per pglite:// directory', () => {
  it('refuses a second process while the first has it open, and takes the lock over once that process is killed', async () => {
    const dir = databaseDir();
    const { child, said } = await otherProcess(dir);
    expect(said).toBe('open');
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8'))).toMatchObject({ pid: child.pid });

    const refused = await createBilling({ database: `pglite://${dir}` }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toMatchObject({ name: 'BillingError', code: 'database_in_use', details: { pid: child.pid } });
    expect((refused as Error).message).toContain(realpathSync(dir));
    expect((refused as Error).message).toMatch(/Stop the other process/);
    expect((refused as Error).message).toMatch(/postgres:\/\//);

    // Killed: no close, the lock file stays behind naming a process that is gone.
    await killed(child);
    expect(existsSync(join(dir, LOCK_FILE))).toBe(true);
    const billing = await createBilling({ database: `pglite://${dir}` });
    await billing.admin.applyPreset('tiers');
    await billing.upsertAccount({ id: 'after', kind: 'personal' });
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8'))).toMatchObject({ pid: process.pid });
    await billing.close();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
  }, SLOW);

  it('refuses the other process while this one has it open', async () => {
    const dir = databaseDir();
    const billing = await createBilling({ database: `pglite://${dir}` });
    expect((await otherProcess(dir)).said).toBe('database_in_use');
    await billing.close();
    expect((await otherProcess(dir)).said).toBe('open');
  }, SLOW);

  it('refuses a second open in the same process until the first is closed', async () => {
    const dir = databaseDir();
    const first = await openDatabase(`pglite://${dir}`);
    await expect(openDatabase(`pglite://${dir}/.`)).rejects.toMatchObject({ code: 'database_in_use', message: expect.stringMatching(/this process/) });
    await first.query('SELECT 1');
    await first.close();
    const second = await openDatabase(`pglite://${dir}`);
    await second.close();
  }, SLOW);

  it("takes over a lock naming this process's id from before it started (a restarted container's PID 1); refuses another host's", () => {
    const dir = tempDir();
    const lockFile = join(dir, LOCK_FILE);
    writeFileSync(lockFile, JSON.stringify({ pid: process.pid, host: hostname() }));
    const release = lockDirectory(dir);
    expect(() => lockDirectory(dir)).toThrow(/already open in this process/);
    release();
    expect(existsSync(lockFile)).toBe(false);
    // This process's id, taken since it started, in a directory this thread does not hold: another thread's.
    writeFileSync(lockFile, JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString() }));
    expect(() => lockDirectory(dir)).toThrow(/already open in this process/);
    writeFileSync(lockFile, JSON.stringify({ pid: 1, host: 'elsewhere' }));
    expect(() => lockDirectory(dir)).toThrow(/process 1 on elsewhere/);
    writeFileSync(lockFile, 'not a lock');
    lockDirectory(dir)();
  });

  it('leaves memory:// alone', async () => {
    // PGlite starts each from the run's migrated image instead of running initdb: the lock is the
    // claim here; memory:// from nothing is the server's (server.test.ts).
    const create = PGlite.create.bind(PGlite) as (dataDir?: string, options?: PGliteOptions) => Promise<PGlite>;
    const created = vi.spyOn(PGlite, 'create').mockImplementation(((dataDir?: string, options?: PGliteOptions) => create(dataDir, { ...options, loadDataDir: image })) as never);
    try {
      const [a, b] = [await openDatabase('memory://'), await openDatabase('memory://')];
      expect(created.mock.calls.map(([dataDir]) => dataDir)).toEqual([undefined, undefined]); // no directory, so none to lock
      await Promise.all([a.close(), b.close()]);
    } finally {
      created.mockRestore();
    }
  }, SLOW);
});
