/**
 * The chat over HTTP against the real server (`npm start`) with two workers on PostgreSQL:
 * three members of a team chat on its pool at once, a third of the answers stopped half way.
 * Every answer is charged once, to the member who asked, the stopped ones for what was streamed;
 * no hold is left open, the pool's drop is the sum of the charges, and the ledger reconciles.
 * Skipped, with a note, without TEST_DATABASE_URL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Hono } from 'hono';
import { chatRoutes } from '../app/chat/routes.tsx';
import { chatModels } from '../app/models/models.ts';
import { httpTollgate } from '../app/tollgate/over-http.ts';
import type { Sql } from '../src/db/sql.ts';
import { serveApp } from './support/browser.ts';
import { ENGINES, POSTGRES_URL } from './support/harness.ts';
import { SECRET_KEY, ServerProcess } from './support/server-process.ts';

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

describe.skipIf(!POSTGRES_URL)(`the chat against the server's two workers${POSTGRES_URL ? '' : ' (SKIPPED: TEST_DATABASE_URL is not set)'}`, () => {
  let db: { sql: Sql; url?: string; drop(): Promise<void> };
  let server: ServerProcess;
  let chat: { base: string; close(): Promise<void> };

  beforeAll(async () => {
    db = await ENGINES.find((e) => e.name === 'postgres')!.open();
    server = await ServerProcess.start({ DATABASE_URL: db.url, WEB_CONCURRENCY: '2' });
    await server.ready(2);
    const tollgate = httpTollgate({ url: `http://127.0.0.1:${server.port}`, apiKey: SECRET_KEY });
    const app = new Hono().route('/chat', chatRoutes({
      tollgate, models: await chatModels({ env: {}, wordDelayMs: 15 }),
      currentAccount: (c) => ({ account: { id: 'team_pool', kind: 'team', name: 'Pool' }, userId: c.req.header('x-user')! }),
    }));
    chat = await serveApp(app);
  }, 60_000);

  afterAll(async () => {
    await chat?.close();
    server?.kill();
    await server?.exited;
    await db?.drop();
  });

  /** One question from `user`; stopped after `stopAfterWords` words when given. The answer's metadata, or null when stopped. */
  async function ask(user: string, question: string, stopAfterWords?: number): Promise<{ cost: { micros: number } } | null> {
    const controller = new AbortController();
    const response = await fetch(`${chat.base}/chat/answers`, {
      method: 'POST', signal: controller.signal, headers: { 'content-type': 'application/json', 'x-user': user },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ id: 'q', role: 'user', parts: [{ type: 'text', text: question }] }] }),
    });
    expect(response.status).toBe(200);
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let words = 0;
    let text = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
      words = (text.match(/"type":"text-delta"/g) ?? []).length;
      if (stopAfterWords !== undefined && words >= stopAfterWords) {
        controller.abort();
        return null;
      }
    }
    const finish = [...text.matchAll(/data: (\{.*\})\n/g)].map(([, json]) => JSON.parse(json!) as Json).find((part) => part.type === 'finish');
    expect(finish?.messageMetadata?.cost, text.slice(-500)).toBeDefined();
    return finish.messageMetadata;
  }

  it('charges each answer once to the member who asked, a stopped one for what was streamed, and leaves no hold', async () => {
    expect((await server.call('PUT', '/v1/accounts/team_pool', { kind: 'team', name: 'Pool' })).status).toBeLessThan(300);
    const before = (await server.call('GET', '/v1/accounts/team_pool/balance')).body;

    const users = ['u_ann', 'u_bob', 'u_cy'];
    const asks = users.flatMap((user) => [0, 1, 2, 3].map((i) => ({ user, question: `Question ${i} from ${user}`, stop: i === 3 ? 4 + users.indexOf(user) : undefined })));
    const answers = await Promise.all(asks.map((a) => ask(a.user, a.question, a.stop)));
    expect(answers.filter((a) => a === null)).toHaveLength(3);

    // The stopped answers are settled as the server notices each cut connection.
    const usage = async () => (await server.call('GET', '/v1/accounts/team_pool/usage?from=2020-01-01&to=2100-01-01&groupBy=user')).body;
    let report = await usage();
    for (let i = 0; i < 100 && report.total.events < asks.length; i++) {
      await new Promise((r) => setTimeout(r, 50));
      report = await usage();
    }
    expect(report.total.events).toBe(asks.length);
    expect(report.rows.map((r: Json) => [r.key, r.events])).toEqual(users.map((u) => [u, 4]));
    for (const user of users) {
      const answered = asks.flatMap((a, i) => (a.user === user && answers[i] ? [answers[i]!.cost.micros] : []));
      const row = report.rows.find((r: Json) => r.key === user);
      // Its three whole answers as they were told, and its stopped one, for less than a whole one.
      const stopped = row.valueMicros - answered.reduce((sum, micros) => sum + micros, 0);
      expect(stopped).toBeGreaterThan(0);
      expect(stopped).toBeLessThan(Math.min(...answered));
    }

    const after = (await server.call('GET', '/v1/accounts/team_pool/balance')).body;
    expect(after.heldMicros).toBe(0);
    expect(before.availableMicros - after.availableMicros).toBe(report.total.valueMicros);
    expect((await server.call('GET', '/v1/accounts/team_pool/reconciliation')).body).toMatchObject({ ok: true, problems: [] });
  });
});
