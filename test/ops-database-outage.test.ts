/**
 * `npm start` and its database. A start on one it cannot use (down, refused, taken, malformed)
 * stops saying what to set. A PostgreSQL that goes away and comes back (a restart, a failover),
 * reached through a proxy the test cuts, stalls and restores: the processes live through it, say
 * what is wrong while it lasts, and serve again once the database is back.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import pg from 'pg';
import { Hono } from 'hono';
import { answerError } from '../src/hono/errors.ts';
import { createWebhooks } from '../src/hono/webhooks.ts';
import { compiled } from './support/compiled.ts';
import { ENGINES, migratedDirectory, POSTGRES_URL, postgresSchemaUrl } from './support/harness.ts';
import { AdminClient } from './support/admin-client.ts';
import { freePort, SERVER_ADMIN_PASSWORD, ServerProcess } from './support/server-process.ts';

/** `npm start` (compiled) with `env` until it exits: its code and all it printed. */
async function startFailing(env: NodeJS.ProcessEnv): Promise<{ code: number | null; printed: string }> {
  const child = spawn(process.execPath, [compiled('server')], { env: { ...process.env, PORT: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let printed = '';
  for (const stream of [child.stdout, child.stderr]) stream.on('data', (chunk: Buffer) => (printed += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, printed };
}

/** A TCP proxy to PostgreSQL that can be cut (every connection dropped, new ones refused) and restored. */
class DatabaseProxy {
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private stalled = false;

  private constructor(readonly port: number, private readonly target: URL) {}

  static async start(target: string): Promise<DatabaseProxy> {
    const proxy = new DatabaseProxy(await freePort(), new URL(target));
    await proxy.restore();
    return proxy;
  }

  /** `url` with its host and port moved to the proxy. */
  through(url: string): string {
    const moved = new URL(url);
    moved.hostname = '127.0.0.1';
    moved.port = String(this.port);
    return moved.toString();
  }

  async restore(): Promise<void> {
    this.stalled = false;
    this.server = createServer((client) => {
      if (this.stalled) {
        this.sockets.add(client.pause());
        return;
      }
      const upstream = connect(Number(this.target.port || 5432), this.target.hostname);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.once('close', () => this.sockets.delete(socket));
        socket.on('error', () => {});
      }
      client.pipe(upstream).pipe(client);
      client.once('close', () => upstream.destroy());
      upstream.once('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
  }

  /** Connections stay open, and new ones are taken, but nothing goes through: a database host gone silent. */
  stall(): void {
    this.stalled = true;
    for (const socket of this.sockets) socket.pause();
  }

  async cut(): Promise<void> {
    const closed = new Promise((resolve) => this.server!.close(resolve));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }
}

describe.skipIf(!POSTGRES_URL)(`a start on a database it cannot use${POSTGRES_URL ? '' : ' (SKIPPED: TEST_DATABASE_URL is not set)'}`, () => {
  it('stops saying what is wrong and what to set, with no stack trace and no password', async () => {
    const at = (change: (url: URL) => void) => {
      const url = new URL(POSTGRES_URL!);
      url.password = 'pw-not-to-show';
      change(url);
      return url.toString();
    };
    const down = await freePort();
    const cases = [
      { url: at((u) => (u.port = String(down))), says: `PostgreSQL at 127.0.0.1:${down} does not answer (connect ECONNREFUSED 127.0.0.1:${down}): start it, or set DATABASE_URL to where it runs` },
      { url: at((u) => (u.pathname = '/tollgate_no_such_database')), says: 'has no database "tollgate_no_such_database": create it (createdb tollgate_no_such_database), or set DATABASE_URL to one that exists' },
      { url: at((u) => u.searchParams.set('sslmode', 'require')), says: 'does not take SSL connections: remove sslmode from DATABASE_URL, or set sslmode=disable' },
      { url: at((u) => (u.username = 'tollgate_no_such_role')), says: 'refused user "tollgate_no_such_role" (role "tollgate_no_such_role" does not exist): set DATABASE_URL\'s user and password to a role that may connect' },
    ];
    // The starts run at once.
    const starts = await Promise.all(cases.map(async ({ url, says }) => ({ says, ...(await startFailing({ DATABASE_URL: url })) })));
    for (const { says, code, printed } of starts) {
      expect(code).toBe(1);
      expect(printed).toContain(`Tollgate cannot start: `);
      expect(printed).toContain(says);
      expect(printed).not.toMatch(/\n\s+at /);
      expect(printed).not.toContain('pw-not-to-show');
    }
  }, 60_000);

  it("on a database holding another app's tables, says which migration failed, that none was applied, and to give it a database of its own", async () => {
    const schema = `tollgate_test_taken_${process.pid}`;
    const admin = new pg.Client({ connectionString: POSTGRES_URL });
    await admin.connect();
    try {
      await admin.query(`CREATE SCHEMA ${schema}; CREATE TABLE ${schema}.accounts (id serial PRIMARY KEY, email text)`);
      const { code, printed } = await startFailing({ DATABASE_URL: postgresSchemaUrl(POSTGRES_URL!, schema) });
      expect(code).toBe(1);
      expect(printed).toContain('Tollgate cannot start: migration 0001_core.sql failed: relation "accounts" already exists (no migration was applied): the database holds another app\'s tables; give Tollgate a database of its own (createdb tollgate) and set DATABASE_URL to it');
      expect(printed).not.toMatch(/\n\s+at /);
      const [{ count }] = (await admin.query(`SELECT count(*)::int AS count FROM pg_tables WHERE schemaname = '${schema}'`)).rows;
      expect(count).toBe(1); // the app's own table, nothing of Tollgate's
    } finally {
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await admin.end();
    }
  }, 30_000);

  it('a malformed DATABASE_URL is refused, saying what to fix, without showing its password', async () => {
    const refusals = {
      'postgress://tollgate:pw-not-to-show@127.0.0.1/tollgate': 'DATABASE_URL must be postgres://…, pglite://PATH or memory://, not "postgress://tollgate:***@127.0.0.1/tollgate"',
      // A password with an unencoded # or @ would dial a host named after a part of it.
      'postgres://tollgate:pw-not@to#show@127.0.0.1/tollgate': 'DATABASE_URL is not a valid URL ("postgres://tollgate:***@127.0.0.1/tollgate"): check its port, and percent-encode @ # / : in the user or password (%40 %23 %2F %3A)',
      'postgres://tollgate@127.0.0.1:99999/tollgate': 'DATABASE_URL is not a valid URL ("postgres://tollgate@127.0.0.1:99999/tollgate")',
    };
    const starts = await Promise.all(Object.entries(refusals).map(async ([url, says]) => ({ says, ...(await startFailing({ DATABASE_URL: url })) })));
    for (const { says, code, printed } of starts) {
      expect(code).toBe(1);
      expect(printed).toContain(`Tollgate cannot start: ${says}`);
      expect(printed).not.toMatch(/pw-not|to-show|\n\s+at /);
    }
  }, 30_000);
});

describe.skipIf(!POSTGRES_URL)(`the database going away and coming back${POSTGRES_URL ? '' : ' (SKIPPED: TEST_DATABASE_URL is not set)'}`, () => {
  it('no process dies of it: /healthz and the API say the database is unreachable (503), and both answer again once it is back', async () => {
    const db = await ENGINES.find((e) => e.name === 'postgres')!.open();
    const proxy = await DatabaseProxy.start(db.url!);
    // Trust authentication takes any password: this one must show nowhere.
    const url = new URL(proxy.through(db.url!));
    url.password = 'pw-not-to-show';
    const server = await ServerProcess.start({ DATABASE_URL: url.toString(), WEB_CONCURRENCY: '2' });
    expect(server.banner).toContain(`database: postgres://${url.username}:***@127.0.0.1:${proxy.port}/`);
    let printed = '';
    server.child.stdout!.on('data', (chunk: Buffer) => (printed += chunk.toString()));
    try {
      await server.ready(2);
      // Every worker's pool holds connections: a few calls each.
      for (let i = 0; i < 20; i++) expect((await server.call('GET', '/v1/admin/settings')).status).toBe(200);
      // An owner logged in to the panel, and a customer's billing link.
      const admin = new AdminClient({ request: (path: string, init?: RequestInit) => fetch(`http://127.0.0.1:${server.port}${path}`, { ...init, redirect: 'manual' }) } as unknown as Hono);
      expect((await admin.login(SERVER_ADMIN_PASSWORD)).status).toBe(303);
      expect((await server.call('PUT', '/v1/accounts/acme', { kind: 'team' })).status).toBe(200);
      const link = await server.call('POST', '/v1/accounts/acme/billing-sessions', { returnUrl: 'https://app.example/' });
      const billingLink = new URL(link.body.url as string);

      await proxy.cut();
      // A worker that starts now, in place of one killed, waits for the database.
      process.kill(server.workers()[0]!, 'SIGKILL');
      await new Promise((r) => setTimeout(r, 2_500)); // the jobs' runs fail too, each second
      const health = await fetch(`http://127.0.0.1:${server.port}/healthz`);
      expect(health.status).toBe(503);
      expect((await health.json()).error.code).toBe('database_unreachable');
      const call = await server.call('GET', '/v1/admin/settings');
      expect(call.status).toBe(503);
      expect(call.body.error.code).toBe('database_unreachable');
      // The panel and the billing page say so too, in a page of their own.
      const panel = await admin.page('/admin/accounts');
      expect([panel.status, panel.html]).toEqual([503, expect.stringContaining('The database does not answer just now; try again in a moment.')]);
      const billingPage = await fetch(`http://127.0.0.1:${server.port}${billingLink.pathname}`, { redirect: 'manual' });
      expect([billingPage.status, await billingPage.text()]).toEqual([503, expect.stringContaining('Billing cannot be reached just now; nothing was changed.')]);

      await proxy.restore();
      for (let i = 0; i < 20; i++) expect((await server.call('GET', '/v1/admin/settings')).status).toBe(200);
      await server.ready(2);

      // The outage in the log: a line per failed request and one per job and worker, no stack.
      await new Promise((r) => setTimeout(r, 500)); // the log's flush
      const lines = printed.split('\n').filter(Boolean).map((line) => JSON.parse(line) as { msg: string; pid: number; err?: unknown });
      expect(lines.filter((l) => l.msg.startsWith('worker died'))).toHaveLength(1); // the one killed
      expect(lines.filter((l) => l.msg === 'worker start: the database does not answer, retrying').length).toBeGreaterThanOrEqual(1);
      expect(lines.filter((l) => l.msg === 'database unreachable')).toHaveLength(3); // the API's, the panel's and the billing page's
      const jobLines = lines.filter((l) => / failed: the database does not answer, retrying$/.test(l.msg)).map((l) => `${l.pid} ${l.msg}`);
      expect(jobLines.length).toBeGreaterThanOrEqual(2); // each job of the worker not killed
      expect(new Set(jobLines).size).toBe(jobLines.length); // once per process and job, not each second
      expect(lines.filter((l) => 'err' in l)).toEqual([]);
      expect(printed).not.toContain('pw-not-to-show');

      // A stop while the database is away again ends every process, in time.
      await proxy.cut();
      const { code, ms } = await server.stop();
      expect(code).toBe(0);
      expect(ms).toBeLessThan(10_000);
    } finally {
      server.kill();
      await proxy.cut().catch(() => {});
      await db.drop();
    }
  }, 60_000);

  it('/healthz says the database is unreachable when it takes connections but answers nothing, within seconds', async () => {
    const db = await ENGINES.find((e) => e.name === 'postgres')!.open();
    const proxy = await DatabaseProxy.start(db.url!);
    const server = await ServerProcess.start({ DATABASE_URL: proxy.through(db.url!) });
    try {
      expect((await fetch(`http://127.0.0.1:${server.port}/healthz`)).status).toBe(200);
      proxy.stall();
      const started = performance.now();
      const health = await fetch(`http://127.0.0.1:${server.port}/healthz`, { signal: AbortSignal.timeout(10_000) });
      expect(health.status).toBe(503);
      expect((await health.json()).error.code).toBe('database_unreachable');
      expect(performance.now() - started).toBeLessThan(5_000);
    } finally {
      server.kill();
      await proxy.cut().catch(() => {});
      await db.drop();
    }
  }, 60_000);
});

it('a start on a PGlite directory another process holds stops saying which process, with no stack trace', async () => {
  const dir = migratedDirectory();
  const holder = spawn(process.execPath, [compiled('hold-pglite'), dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const [first] = (await once(holder.stdout, 'data')) as [Buffer];
    expect(first.toString()).toBe('open\n');
    const { code, printed } = await startFailing({ DATABASE_URL: `pglite://${dir}` });
    expect(code).toBe(1);
    expect(printed).toContain(`Tollgate cannot start: The PGlite database in ${dir} is already open in process ${holder.pid}`);
    expect(printed).not.toMatch(/\n\s+at /);
  } finally {
    holder.kill('SIGKILL');
    await once(holder, 'exit').catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);

it('a webhook that comes while the database does not answer is a 503 for the processor to retry, not an event said to be recorded', async () => {
  const lost = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
  const logged: string[] = [];
  const logger = { info: () => {}, warn: (_: unknown, msg: string) => void logged.push(msg), error: (_: unknown, msg: string) => void logged.push(`error: ${msg}`) };
  const app = new Hono();
  app.route('/webhooks', createWebhooks({ receiveWebhook: () => Promise.reject(lost) }, logger as never));
  app.onError((error, c) => answerError(error, c, () => {}));
  const reply = await app.request('/webhooks/stripe', { method: 'POST', body: '{}' });
  expect(reply.status).toBe(503);
  expect(await reply.json()).toEqual({ error: { type: 'api_error', code: 'database_unreachable', message: 'The database does not answer; the event will be applied on a retry' } });
  expect(logged).toEqual(['webhook not applied (503, to be retried): the database does not answer']);
});
