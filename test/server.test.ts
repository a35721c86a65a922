/**
 * `npm start` as an operator runs it: the configuration it refuses (naming the variable), the
 * server it starts on embedded defaults with the key it prints, several worker processes on
 * PostgreSQL, and a graceful stop; and the Idempotency-Keys it forgets after a day.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createBilling } from '../src/index.ts';
import type { Sql } from '../src/db/sql.ts';
import { forgetOldKeys } from '../src/hono/idempotency.ts';
import { ConfigError, loadConfig } from '../src/server/config.ts';
import { compiled } from './support/compiled.ts';
import { ENGINES, migratedDirectory, POSTGRES_URL, useBilling } from './support/harness.ts';
import { ServerProcess } from './support/server-process.ts';
import { PaddleFake } from './support/paddle-fake.ts';
import { StripeFake } from './support/stripe-fake.ts';


/**
 * Runs `npm start` (compiled, on memory:// and any free port unless `env` says otherwise) until
 * it exits, or until it has printed its banner, when it is killed: its exit code and all it printed.
 */
async function startOnce(env: NodeJS.ProcessEnv): Promise<{ code: number | null; printed: string }> {
  const child = spawn(process.execPath, [compiled('server')], {
    env: { ...process.env, DATABASE_URL: 'memory://', PORT: '0', TOLLGATE_SECRET_KEY: '', TOLLGATE_ADMIN_PASSWORD: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let printed = '';
  for (const stream of [child.stdout, child.stderr]) {
    stream.on('data', (chunk: Buffer) => {
      printed += chunk.toString();
      if (printed.includes('health:')) child.kill('SIGKILL');
    });
  }
  const [code] = (await once(child, 'close')) as [number | null]; // after the last of what it printed
  return { code, printed };
}
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
    expect(refused({ STRIPE_SECRET_KEY: 'sk_test_x' })).toMatch(/^STRIPE_SECRET_KEY is set but STRIPE_WEBHOOK_SECRET is not/);
    expect(refused({ STRIPE_WEBHOOK_SECRET: 'whsec_x' })).toMatch(/^STRIPE_WEBHOOK_SECRET is set but STRIPE_SECRET_KEY is not/);
    expect(refused({ STRIPE_API_BASE: 'http://127.0.0.1:1' })).toMatch(/^STRIPE_API_BASE is set but/);
    expect(refused({ STRIPE_SECRET_KEY: 'sk_test_x', STRIPE_WEBHOOK_SECRET: 'whsec_x', STRIPE_API_BASE: 'not a url' })).toMatch(/^STRIPE_API_BASE must be a URL/);
    expect(refused({ TOLLGATE_PROCESSOR: 'stripe' })).toMatch(/^TOLLGATE_PROCESSOR=stripe needs STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET/);
    expect(refused({ TOLLGATE_PROCESSOR: 'paypal' })).toMatch(/^TOLLGATE_PROCESSOR must be fake, stripe or paddle/);
    expect(refused({ PADDLE_API_KEY: 'pdl_x' })).toMatch(/^PADDLE_API_KEY is set but PADDLE_WEBHOOK_SECRET is not/);
    expect(refused({ TOLLGATE_PROCESSOR: 'paddle' })).toMatch(/^TOLLGATE_PROCESSOR=paddle needs PADDLE_API_KEY and PADDLE_WEBHOOK_SECRET/);
    expect(refused({ PADDLE_ENVIRONMENT: 'staging' })).toMatch(/^PADDLE_ENVIRONMENT must be sandbox or production/);
    expect(loadConfig({ STRIPE_SECRET_KEY: 'sk_test_x', STRIPE_WEBHOOK_SECRET: 'whsec_x' })).toMatchObject({ processor: 'fake', stripe: { secretKey: 'sk_test_x', webhookSecret: 'whsec_x' } });
  });

  it("refuses a processor's key that is the wrong kind, or for the wrong Paddle environment, saying what to set", () => {
    const stripe = (key: string, secret: string) => refused({ TOLLGATE_PROCESSOR: 'stripe', STRIPE_SECRET_KEY: key, STRIPE_WEBHOOK_SECRET: secret });
    expect(stripe('pk_test_51Abc', 'whsec_x')).toMatch(/^STRIPE_SECRET_KEY is a publishable key.*: set the secret key \(sk_test_… or sk_live_…\) or a restricted key \(rk_…\)/);
    expect(stripe('whsec_x', 'sk_test_x')).toMatch(/^STRIPE_SECRET_KEY is a webhook signing secret/);
    expect(stripe('sk_test_x', 'sk_test_x')).toMatch(/^STRIPE_WEBHOOK_SECRET is an API key: set the signing secret \(whsec_…\)/);
    expect(stripe('sk_test_x', 'not-a-secret')).toMatch(/^STRIPE_WEBHOOK_SECRET is not a webhook signing secret \(not-a-se…\)/);
    // Blank is unset: named as missing, not taken and failed on the first webhook.
    expect(stripe('sk_test_x', '   ')).toMatch(/^STRIPE_SECRET_KEY is set but STRIPE_WEBHOOK_SECRET is not/);
    expect(loadConfig({ STRIPE_SECRET_KEY: ' rk_live_x\n', STRIPE_WEBHOOK_SECRET: 'whsec_x ' }).stripe).toEqual({ secretKey: 'rk_live_x', webhookSecret: 'whsec_x' });

    const sandboxKey = 'pdl_sdbx_apikey_01gtgztp8f4kek3yd4g1wrksa3_q6TGTJyvoIz7LDtXT65bX7_AQO';
    const liveKey = 'pdl_live_apikey_01gtgztp8f4kek3yd4g1wrksa3_q6TGTJyvoIz7LDtXT65bX7_AQO';
    const paddle = (env: NodeJS.ProcessEnv) => refused({ TOLLGATE_PROCESSOR: 'paddle', PADDLE_WEBHOOK_SECRET: 'pdl_ntfset_01x_y', ...env });
    expect(paddle({ PADDLE_API_KEY: sandboxKey })).toMatch(/^PADDLE_API_KEY is a sandbox key \(pdl_sdbx…\) but PADDLE_ENVIRONMENT is production \(the default\): set PADDLE_ENVIRONMENT=sandbox/);
    expect(paddle({ PADDLE_API_KEY: liveKey, PADDLE_ENVIRONMENT: 'sandbox' })).toMatch(/^PADDLE_API_KEY is a production key .* but PADDLE_ENVIRONMENT is sandbox: set PADDLE_ENVIRONMENT=production/);
    expect(paddle({ PADDLE_API_KEY: 'pdl_ntfset_01x_y', PADDLE_WEBHOOK_SECRET: sandboxKey, PADDLE_ENVIRONMENT: 'sandbox' })).toMatch(/^PADDLE_API_KEY is a notification destination's secret key/);
    expect(paddle({ PADDLE_API_KEY: sandboxKey, PADDLE_WEBHOOK_SECRET: sandboxKey, PADDLE_ENVIRONMENT: 'sandbox' })).toMatch(/^PADDLE_WEBHOOK_SECRET is an API key/);
    expect(loadConfig({ PADDLE_API_KEY: sandboxKey, PADDLE_WEBHOOK_SECRET: 'pdl_ntfset_01x_y', PADDLE_ENVIRONMENT: 'sandbox' }).paddle).toMatchObject({ environment: 'sandbox' });
    // A key from before Paddle's key format says no environment; a local API takes any key.
    expect(loadConfig({ PADDLE_API_KEY: 'a'.repeat(50), PADDLE_WEBHOOK_SECRET: 'pdl_ntfset_01x_y' }).paddle).toMatchObject({ environment: 'production' });
    expect(loadConfig({ PADDLE_API_KEY: sandboxKey, PADDLE_WEBHOOK_SECRET: 'pdl_ntfset_01x_y', PADDLE_API_BASE: 'http://127.0.0.1:1' }).paddle).toMatchObject({ apiBase: 'http://127.0.0.1:1' });
  });
});

describe('npm start', () => {
  it('serves on embedded defaults with the key and password it prints, and stops gracefully', async () => {
    const server = await ServerProcess.start({ DATABASE_URL: 'memory://', PORT: '0', TOLLGATE_SECRET_KEY: '', TOLLGATE_ADMIN_PASSWORD: '', WEB_CONCURRENCY: '' }, { fromSource: true });
    const { banner } = server;
    try {
      const key = /API secret key \(shown once, stored hashed\): (\S+)/.exec(banner)?.[1];
      const base = /admin panel: (http:\/\/\S+)\/admin/.exec(banner)?.[1];
      expect(banner).toMatch(/admin password \(shown once, stored hashed\): \S+/);
      // What is on sale, as the pricing table shows it: the first start's preset.
      expect(banner).toContain('plans on sale: Free ($0.00/month), Plus ($20.00/month)\npacks on sale: 1,000 extra credits ($10.00, add-on)\n');
      expect(key && base).toBeTruthy();
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
      const put = await fetch(`${base}/v1/accounts/acme`, { method: 'PUT', headers, body: JSON.stringify({ kind: 'team' }) });
      expect(put.status).toBe(200);
      const pricing = (await (await fetch(`${base}/v1/pricing`)).json()) as { plans: unknown[] };
      expect(pricing.plans.length).toBeGreaterThan(0); // the preset applied on first start is what it serves
    } finally {
      expect((await server.stop()).code).toBe(0);
    }
  }, 120_000);

  it('says where new accounts pay, the webhook URL to register (on PUBLIC_URL), and the accounts a switch from the fake processor left on it', async () => {
    const dir = migratedDirectory();
    const stripe = await StripeFake.start();
    try {
      const before = await ServerProcess.start({ DATABASE_URL: `pglite://${dir}` });
      try {
        expect(before.banner).toContain('new accounts pay through: the fake processor (charges nobody)\n');
        expect(before.banner).not.toContain('webhook:');
        for (const id of ['early', 'earlier']) expect((await before.call('PUT', `/v1/accounts/${id}`, { kind: 'team' })).body.processor).toBe('fake');
        const subscribed = await before.call('POST', '/v1/accounts/earlier/subscription', { plan: 'plus' }, 'earlier-plus');
        expect(subscribed.status, JSON.stringify(subscribed.body)).toBeLessThan(300);
        expect(subscribed.body.endsAt).toBeNull(); // it renews, by the clock
      } finally {
        expect((await before.stop()).code).toBe(0);
      }
      const keys = { TOLLGATE_PROCESSOR: 'stripe', STRIPE_SECRET_KEY: stripe.secretKey, STRIPE_WEBHOOK_SECRET: stripe.webhookSecret, STRIPE_API_BASE: stripe.url };
      const after = await ServerProcess.start({ DATABASE_URL: `pglite://${dir}`, ...keys, PUBLIC_URL: 'https://billing.example.com' });
      try {
        expect(after.banner).toContain('new accounts pay through: stripe (test mode)\n');
        expect(after.banner).toContain('2 accounts are still on the fake processor, which sells nothing now (their checkouts are refused, their plans end at their period\'s end): move each to stripe (PUT /v1/accounts/{id} with "processor": "stripe", or its admin page)\n');
        // Nothing for nothing: an account left on the fake is refused a plan, saying how to move it; moved, it pays at Stripe.
        const refused = await after.call('POST', '/v1/accounts/early/subscription', { plan: 'plus' }, 'early-plus');
        expect(refused.status).toBe(409);
        expect(refused.body.error).toMatchObject({ code: 'processor_not_configured', message: expect.stringContaining('move it to stripe first') });
        expect((await after.call('GET', '/v1/accounts/early/balance')).body.plan).toMatchObject({ slug: 'free' });
        expect((await after.call('PUT', '/v1/accounts/early', { kind: 'team', processor: 'stripe' })).body.processor).toBe('stripe');
        expect((await after.call('POST', '/v1/admin/processors/stripe/sync', {}, 'sync-1')).status).toBe(200);
        const moved = await after.call('POST', '/v1/accounts/early/subscription', { plan: 'plus', successUrl: 'https://app.example/ok', cancelUrl: 'https://app.example/no' }, 'early-plus-2');
        expect(moved.status).toBe(202);
        expect(moved.body.checkoutUrl).toMatch(/^http/);
        expect(after.banner).toContain('stripe webhook: https://billing.example.com/webhooks/stripe  (register it at Stripe)\n');

        // A plan through the fake renews no more: the workers end it at its period's end, and it cannot be resumed.
        const deadline = Date.now() + 15_000;
        let earlier = (await after.call('GET', '/v1/accounts/earlier')).body;
        while (earlier.planEndsAt === null && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 200));
          earlier = (await after.call('GET', '/v1/accounts/earlier')).body;
        }
        expect(Date.parse(earlier.planEndsAt) - Date.now()).toBeGreaterThan(27 * 86_400_000); // a month after its checkout
        expect((await after.call('GET', '/v1/accounts/earlier/balance')).body.plan).toMatchObject({ slug: 'plus' }); // kept until then
        const resumed = await after.call('POST', '/v1/accounts/earlier/subscription', { plan: 'plus' }, 'earlier-resume');
        expect(resumed.status).toBe(409);
        expect(resumed.body.error).toMatchObject({ code: 'processor_not_configured', message: expect.stringContaining('its plan ends as scheduled') });
        expect((await after.call('GET', '/v1/accounts/earlier')).body.planEndsAt).toBe(earlier.planEndsAt);
      } finally {
        expect((await after.stop()).code).toBe(0);
      }
    } finally {
      await stripe.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('stops at start, saying what to set, on a port another program holds: before generating the password it could not have shown', async () => {
    const dir = migratedDirectory();
    const holder = createNetServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const { port } = holder.address() as AddressInfo;
    try {
      const env = { DATABASE_URL: `pglite://${dir}` };
      const taken = await startOnce({ ...env, PORT: String(port) });
      expect(taken).toEqual({ code: 1, printed: `Tollgate cannot start: 127.0.0.1:${port} is in use by another program: set PORT to a free port (PORT=3001 npm start)\n` });
      // Started on a free port, it is still the first start: the password and key are generated, and shown.
      const first = await startOnce(env);
      expect(first.printed).toMatch(/admin password \(shown once, stored hashed\): \S+\n/);
      expect(first.printed).toMatch(/API secret key \(shown once, stored hashed\): \S+\n/);
    } finally {
      holder.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it("stops at start, saying what to set, on a key the processor refuses: not on the first checkout", async () => {
    const [stripe, paddle] = await Promise.all([StripeFake.start(), PaddleFake.start()]);
    try {
      const stripeRefused = await startOnce({ TOLLGATE_PROCESSOR: 'stripe', STRIPE_SECRET_KEY: 'sk_live_revoked', STRIPE_WEBHOOK_SECRET: stripe.webhookSecret, STRIPE_API_BASE: stripe.url });
      expect(stripeRefused).toEqual({ code: 1, printed: expect.stringMatching(/^Tollgate cannot start: Stripe refused STRIPE_SECRET_KEY \(.*Invalid API Key provided: sk_live_\*+\): set a key/) });
      const paddleRefused = await startOnce({ TOLLGATE_PROCESSOR: 'paddle', PADDLE_API_KEY: 'pdl_sdbx_apikey_revoked', PADDLE_WEBHOOK_SECRET: paddle.webhookSecret, PADDLE_API_BASE: paddle.url });
      expect(paddleRefused).toEqual({ code: 1, printed: expect.stringMatching(/^Tollgate cannot start: Paddle refused PADDLE_API_KEY at http:.*\(Invalid or revoked API key\.\): set an API key/) });
      expect(stripeRefused.printed + paddleRefused.printed).not.toMatch(/\n\s+at /); // no stack trace
    } finally {
      await Promise.all([stripe.close(), paddle.close()]);
    }
  }, 120_000);

  it('logs a line for every request: while it serves, and those still held back when it stops', async () => {
    const dir = migratedDirectory();
    const server = await ServerProcess.start({ DATABASE_URL: `pglite://${dir}`, LOG_LEVEL: 'info' });
    let printed = '';
    server.child.stdout!.on('data', (chunk: Buffer) => (printed += chunk.toString()));
    const lines = (path: string) => printed.split('\n').filter((line) => line.includes('"msg":"request"') && line.includes(`"path":"${path}"`));
    const base = `http://127.0.0.1:${server.port}`;
    try {
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      // Held back a moment at most, not until the buffer fills or the process ends.
      while (lines('/healthz').length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
      const answers = await Promise.all(Array.from({ length: 5 }, () => fetch(`${base}/v1/pricing`)));
      expect(answers.map((r) => r.status)).toEqual(Array(5).fill(200));
    } finally {
      expect((await server.stop()).code).toBe(0);
      rmSync(dir, { recursive: true, force: true });
    }
    if (!server.child.stdout!.readableEnded) await once(server.child.stdout!, 'end'); // the pipe may still hold its last lines
    expect(lines('/v1/pricing')).toHaveLength(5);
    expect(JSON.parse(lines('/healthz')[0]!)).toMatchObject({ method: 'GET', status: 200, requestId: expect.any(String) });
  }, 120_000);

  it.skipIf(!POSTGRES_URL)(`runs WEB_CONCURRENCY workers on one PostgreSQL database${POSTGRES_URL ? '' : ' (SKIPPED: TEST_DATABASE_URL is not set)'}`, async () => {
    const db = await ENGINES.find((e) => e.name === 'postgres')!.open();
    const secret = 'tg_sk_workers_0123456789abcdefgh';
    const server = await ServerProcess.start({ DATABASE_URL: db.url, WEB_CONCURRENCY: '2', TOLLGATE_SECRET_KEY: secret, TOLLGATE_ADMIN_PASSWORD: 'workers-password' }, { fromSource: true });
    try {
      expect(server.banner).toMatch(/workers: 2/);
      const base = `http://127.0.0.1:${server.port}`;
      const headers = { authorization: `Bearer ${secret}`, 'content-type': 'application/json' };
      await server.ready(2);
      const puts = await Promise.all(Array.from({ length: 20 }, (_, i) => fetch(`${base}/v1/accounts/w${i}`, { method: 'PUT', headers, body: JSON.stringify({ kind: 'personal' }) })));
      expect(puts.map((r) => r.status)).toEqual(Array(20).fill(200));
    } finally {
      expect((await server.stop()).code).toBe(0);
      await db.drop();
    }
  }, 120_000);
});

describe.skipIf(!POSTGRES_URL)(`a first start on a fresh PostgreSQL database${POSTGRES_URL ? '' : ' (SKIPPED: TEST_DATABASE_URL is not set)'}`, () => {
  const planSlugs = async (sql: Sql) => (await sql.query<{ slug: string }>('SELECT slug FROM plans ORDER BY slug')).map((p) => p.slug);

  it('by two servers at once: both serve, and the pricing mode is applied once', async () => {
    const db = await ENGINES.find((e) => e.name === 'postgres')!.open();
    const servers = await Promise.allSettled([1, 2].map(() => ServerProcess.start({ DATABASE_URL: db.url })));
    try {
      expect(servers.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled']);
      for (const s of servers) if (s.status === 'fulfilled') expect(s.value.banner).toContain('plans on sale: Free ($0.00/month), Plus ($20.00/month)');
      expect(await planSlugs(db.sql)).toEqual(['free', 'plus']);
    } finally {
      for (const s of servers) if (s.status === 'fulfilled') await s.value.stop();
      await db.drop();
    }
  }, 120_000);

  it('by two facades applying a pricing mode at once, ten times: each finds what the other made', async () => {
    const db = await ENGINES.find((e) => e.name === 'postgres')!.open();
    const [one, two] = await Promise.all([createBilling({ database: db.url! }), createBilling({ database: db.url! })]);
    try {
      for (let i = 0; i < 10; i++) {
        await db.sql.exec('DELETE FROM packs; UPDATE settings SET default_plan_id = NULL, pricing_mode = NULL; DELETE FROM plans');
        const applied = await Promise.allSettled([one!.admin.applyPreset('subscription-plus-packs'), two!.admin.applyPreset('subscription-plus-packs')]);
        expect(applied.map((a) => a.status)).toEqual(['fulfilled', 'fulfilled']);
        expect(await planSlugs(db.sql)).toEqual(['free', 'plus']);
      }
    } finally {
      await Promise.all([one?.close(), two?.close()]);
      await db.drop();
    }
  }, 60_000);
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
