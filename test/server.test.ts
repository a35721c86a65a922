/**
 * `npm start` as an operator runs it: the configuration it refuses (naming the variable), the
 * server it starts on embedded defaults with the key it prints, several worker processes on
 * PostgreSQL, and a graceful stop; and the Idempotency-Keys it forgets after a day.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { forgetOldKeys } from '../src/http/idempotency.ts';
import { ConfigError, loadConfig } from '../src/server/config.ts';
import { ENGINES, POSTGRES_URL, useBilling } from './support/harness.ts';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

describe('configuration', () => {
  const refused = (env: NodeJS.ProcessEnv) => {
    try {
      loadConfig(env);
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return (error as Error).message;
    }
    throw new Error('accepted');
  };

  it('runs on embedded defaults with nothing set', () => {
    expect(loadConfig({})).toMatchObject({ databaseUrl: 'pglite://./.tollgate', port: 3000, workers: 1, secretKey: undefined, adminPassword: undefined });
  });

  it('stops on a half-set or malformed configuration, naming the variable', () => {
    expect(refused({ TOLLGATE_SECRET_KEY: 'k'.repeat(32) })).toMatch(/TOLLGATE_ADMIN_PASSWORD is not/);
    expect(refused({ TOLLGATE_ADMIN_PASSWORD: 'p'.repeat(16) })).toMatch(/TOLLGATE_SECRET_KEY is not/);
    expect(refused({ TOLLGATE_SECRET_KEY: 'short', TOLLGATE_ADMIN_PASSWORD: 'p'.repeat(16) })).toMatch(/^TOLLGATE_SECRET_KEY must be at least 24/);
    expect(refused({ PORT: 'eighty' })).toMatch(/^PORT must be a whole number/);
    expect(refused({ DATABASE_URL: 'mysql://x' })).toMatch(/^DATABASE_URL must be/);
    expect(refused({ WEB_CONCURRENCY: '4' })).toMatch(/^WEB_CONCURRENCY=4 needs a PostgreSQL DATABASE_URL/);
    expect(refused({ LOG_LEVEL: 'loud' })).toMatch(/^LOG_LEVEL must be one of/);
  });
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** `npm start` with `env`, until it prints its banner: the process, and what it printed. */
async function start(env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; banner: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN], { env: { ...process.env, LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  let banner = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      banner += chunk.toString();
      if (banner.includes('health:')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`npm start exited with ${code}:\n${banner}`)));
  });
  return { child, banner };
}

async function stopped(child: ChildProcess): Promise<number | null> {
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  return exit;
}

describe('npm start', () => {
  it('serves on embedded defaults with the key and password it prints, and stops gracefully', async () => {
    const { child, banner } = await start({ DATABASE_URL: 'memory://', PORT: '0', TOLLGATE_SECRET_KEY: '', TOLLGATE_ADMIN_PASSWORD: '', WEB_CONCURRENCY: '' });
    try {
      const key = /API secret key \(shown once, stored hashed\): (\S+)/.exec(banner)?.[1];
      const base = /admin panel: (http:\/\/\S+)\/admin/.exec(banner)?.[1];
      expect(banner).toMatch(/admin password \(shown once, stored hashed\): \S+/);
      expect(key && base).toBeTruthy();
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
      const put = await fetch(`${base}/v1/accounts/acme`, { method: 'PUT', headers, body: JSON.stringify({ kind: 'team' }) });
      expect(put.status).toBe(200);
      const pricing = (await (await fetch(`${base}/v1/pricing`)).json()) as { plans: unknown[] };
      expect(pricing.plans.length).toBeGreaterThan(0); // the preset applied on first start is what it serves
    } finally {
      expect(await stopped(child)).toBe(0);
    }
  }, 120_000);

  it.skipIf(!POSTGRES_URL)(`runs WEB_CONCURRENCY workers on one PostgreSQL database${POSTGRES_URL ? '' : ' (SKIPPED: TEST_DATABASE_URL is not set)'}`, async () => {
    const db = await ENGINES.find((e) => e.name === 'postgres')!.open();
    const port = await freePort();
    const secret = 'tg_sk_workers_0123456789abcdefgh';
    const { child, banner } = await start({ DATABASE_URL: db.url, PORT: String(port), WEB_CONCURRENCY: '2', TOLLGATE_SECRET_KEY: secret, TOLLGATE_ADMIN_PASSWORD: 'workers-password' });
    try {
      expect(banner).toMatch(/workers: 2/);
      const base = `http://127.0.0.1:${port}`;
      const headers = { authorization: `Bearer ${secret}`, 'content-type': 'application/json' };
      for (let i = 0; i < 100 && !(await fetch(`${base}/healthz`).then((r) => r.ok, () => false)); i++) await new Promise((r) => setTimeout(r, 200));
      const puts = await Promise.all(Array.from({ length: 20 }, (_, i) => fetch(`${base}/v1/accounts/w${i}`, { method: 'PUT', headers, body: JSON.stringify({ kind: 'personal' }) })));
      expect(puts.map((r) => r.status)).toEqual(Array(20).fill(200));
    } finally {
      expect(await stopped(child)).toBe(0);
      await db.drop();
    }
  }, 120_000);
});

for (const engine of ENGINES) {
  describe(`idempotency keys on ${engine.name}`, () => {
    const t = useBilling(engine);
    it('are forgotten after a day, and not before', async () => {
      await t.sql.exec(`INSERT INTO api_idempotency (key, request_hash, status, body, created_at) VALUES
        ('old', 'h', 200, '{}', now() - interval '25 hours'), ('recent', 'h', 200, '{}', now() - interval '23 hours')`);
      expect(await forgetOldKeys(t.sql)).toBe(1);
      expect(await t.sql.query('SELECT key FROM api_idempotency')).toEqual([{ key: 'recent' }]);
    });
  });
}
