/**
 * The server's connections, seen from raw sockets against `npm start`: a body the server never
 * reads costs no later request on its connection; a worker killed with -9 leaves no connection
 * hanging; a stop under load closes idle connections, answers what is in flight with
 * `Connection: close` and ends within its bound, and every request it acknowledged is done.
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/server/config.ts';
import { ENGINES, migratedDirectory, POSTGRES_URL } from './support/harness.ts';
import { RawConnection, request, type Next, type RawResponse } from './support/raw-http.ts';
import { alive, SECRET_KEY, ServerProcess } from './support/server-process.ts';

const AUTH = { Authorization: `Bearer ${SECRET_KEY}` };
const HEALTH = request('GET', '/healthz');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const isResponse = (next: Next): next is RawResponse => 'status' in next;

/** Routes that answer before reading the body they were sent. */
const REFUSALS = [
  { status: 400, what: 'a charge without its Idempotency-Key', method: 'POST', path: '/v1/holds/hold_x/settle', type: 'application/json' },
  { status: 404, what: 'a POST to a GET route', method: 'POST', path: '/v1/accounts/acme/balance', type: 'application/json' },
  { status: 415, what: 'a body not sent as JSON', method: 'PUT', path: '/v1/accounts/acme', type: 'text/plain' },
];

/** A body small enough for the server to read past (it keeps the connection), and one it will not read. */
const SMALL = 300 * 1024;
const LARGE = 4 * 1024 * 1024;

/** A JSON-ish body of `size` bytes. */
const filler = (size: number) => Buffer.alloc(size, 'a');

/** A chunked body: `total` bytes in 64 KiB chunks, then its last chunk. */
function chunked(total: number): Buffer {
  const chunk = Buffer.alloc(64 * 1024, ' ');
  const parts: Buffer[] = [];
  for (let sent = 0; sent < total; sent += chunk.length) parts.push(Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n'));
  parts.push(Buffer.from('0\r\n\r\n'));
  return Buffer.concat(parts);
}

/**
 * Sends `first`, then a health check on the same connection (after the first answer, or at
 * once, pipelined): the first answer, and what became of the second request — answered, or the
 * connection closed as the first answer said it would be.
 */
async function thenHealth(port: number, first: Buffer, pipelined: boolean): Promise<{ first: Next; second: Next | 'closed as announced' }> {
  const conn = await RawConnection.open(port);
  try {
    conn.write(pipelined ? Buffer.concat([first, HEALTH]) : first);
    const answer = await conn.next(5_000);
    if (!isResponse(answer)) return { first: answer, second: answer };
    if (!answer.keepAlive) return { first: answer, second: (await conn.end(3_000)) === 'open' ? { timeout: true } : 'closed as announced' };
    if (!pipelined) conn.write(HEALTH);
    return { first: answer, second: await conn.next(3_000) };
  } finally {
    conn.destroy();
  }
}

/** The statuses of `next`s, for messages that say what happened. */
const show = (next: Next | string) => (typeof next === 'string' ? next : isResponse(next) ? `${next.status} ${next.keepAlive ? 'keep-alive' : 'close'}` : JSON.stringify(next));

interface Load {
  /** Ids whose PUT was answered 2xx. */
  acknowledged: string[];
  /** Ids whose PUT was sent and never answered (its connection closed under it). */
  unanswered: string[];
  /** Answers that said `Connection: close`. */
  closing: number;
  /** Connections on which a wait for an answer or a close timed out. */
  hung: number;
  /** When each connection ended, in performance.now() time. */
  endedAt: number[];
}

/**
 * `connections` keep-alive connections, each sending PUT /v1/accounts/{prefix}_{c}_{n} one
 * after another until the server closes it. `busy` resolves once each connection has had an
 * answer, and so sends request after request; `done` when every connection has ended.
 */
function load(port: number, prefix: string, connections: number): { done: Promise<Load>; busy: Promise<void> } {
  const result: Load = { acknowledged: [], unanswered: [], closing: 0, hung: 0, endedAt: [] };
  let answered = 0;
  let markBusy: () => void;
  const busy = new Promise<void>((resolve) => (markBusy = resolve));
  const one = async (c: number) => {
    const conn = await RawConnection.open(port);
    for (let n = 0; ; n++) {
      const id = `${prefix}_${c}_${n}`;
      conn.write(request('PUT', `/v1/accounts/${id}`, { ...AUTH, 'Content-Type': 'application/json' }, '{"kind":"personal"}'));
      const answer = await conn.next(15_000);
      if (n === 0 && ++answered === connections) markBusy();
      if (!isResponse(answer)) {
        result.unanswered.push(id);
        if ('timeout' in answer) result.hung++;
        break;
      }
      if (answer.status >= 200 && answer.status < 300) result.acknowledged.push(id);
      if (!answer.keepAlive) {
        result.closing++;
        if ((await conn.end(15_000)) === 'open') result.hung++;
        break;
      }
    }
    conn.destroy();
    result.endedAt.push(performance.now());
  };
  const done = Promise.all(Array.from({ length: connections }, (_, c) => one(c))).then(() => result);
  return { done, busy };
}

describe('the stop\'s bound', () => {
  it('is TOLLGATE_STOP_TIMEOUT_SECONDS, 10 s unless set; a malformed value stops the start, naming it', () => {
    expect(loadConfig({}).stopTimeoutSeconds).toBe(10);
    expect(loadConfig({ TOLLGATE_STOP_TIMEOUT_SECONDS: '30' }).stopTimeoutSeconds).toBe(30);
    for (const value of ['0', '-1', '2.5', 'ten', '601']) {
      expect(() => loadConfig({ TOLLGATE_STOP_TIMEOUT_SECONDS: value })).toThrow(/^TOLLGATE_STOP_TIMEOUT_SECONDS must be a whole number from 1 to 600/);
    }
  });
});

describe('a body the server does not read', () => {
  let dir: string;
  let server: ServerProcess;
  beforeAll(async () => {
    dir = migratedDirectory();
    server = await ServerProcess.start({ DATABASE_URL: `pglite://${dir}`, WEB_CONCURRENCY: '1' });
  }, 60_000);
  afterAll(() => {
    server?.kill();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  for (const refusal of REFUSALS) {
    for (const pipelined of [false, true]) {
      const how = pipelined ? 'pipelined behind it' : 'sent after its answer';
      it(`${refusal.what} (${refusal.status}): a small unread body costs nothing, a large one closes the connection; the next request ${how} is never lost`, async () => {
        const send = (size: number) => request(refusal.method, refusal.path, { ...AUTH, 'Content-Type': refusal.type }, filler(size));

        const small = await thenHealth(server.port, send(SMALL), pipelined);
        expect(show(small.first)).toBe(`${refusal.status} keep-alive`);
        expect(show(small.second)).toBe('200 keep-alive');

        const large = await thenHealth(server.port, send(LARGE), pipelined);
        expect(show(large.first)).toBe(`${refusal.status} close`);
        expect(show(large.second)).toBe('closed as announced');
      });
    }
  }

  it('a body declared over the limit is refused at once (413) and its connection closed', async () => {
    // The client declares 17 MiB and sends 1 MiB of it: the server must not wait for the rest.
    const head = request('PUT', '/v1/accounts/acme', { ...AUTH, 'Content-Type': 'application/json', 'Content-Length': String(17 * 1024 * 1024) });
    const result = await thenHealth(server.port, Buffer.concat([head, filler(1024 * 1024)]), false);
    expect(show(result.first)).toBe('413 close');
    expect(show(result.second)).toBe('closed as announced');
  });

  it('a chunked body read up to the limit and refused there (413) closes its connection, never hangs it', async () => {
    const head = request('PUT', '/v1/accounts/acme', { ...AUTH, 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    for (const pipelined of [false, true]) {
      const result = await thenHealth(server.port, Buffer.concat([head, chunked(20 * 1024 * 1024)]), pipelined);
      expect(show(result.first)).toBe('413 close');
      expect(show(result.second)).toBe('closed as announced');
    }
  });

  it('a complete small chunked body refused unread keeps its connection', async () => {
    const head = request('POST', '/v1/accounts/acme/balance', { ...AUTH, 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    const result = await thenHealth(server.port, Buffer.concat([head, chunked(64 * 1024)]), true);
    expect(show(result.first)).toMatch(/^404 /);
    // Answered before the last chunk arrived, it closes; after, it is kept: the next request is answered or announced closed.
    expect(show(result.second)).toMatch(/^(200 keep-alive|closed as announced)$/);
  });

  it('SIGTERM with a request in flight on each of 40 connections: each answered with Connection: close, idle ones closed at once, out within the bound', async () => {
    const put = (id: string) => request('PUT', `/v1/accounts/${id}`, { ...AUTH, 'Content-Type': 'application/json' }, '{"kind":"personal"}');
    const open = (count: number) => Promise.all(Array.from({ length: count }, () => RawConnection.open(server.port)));
    const [busy, idle, silent] = await Promise.all([open(40), open(3), open(3)]);
    // Each busy or idle connection has served a request already; a silent one never sends a byte.
    await Promise.all([...busy, ...idle].map(async (conn, i) => {
      conn.write(put(`warm_${i}`));
      expect(show(await conn.next(10_000))).toBe('200 keep-alive');
    }));
    // A request in flight at the signal, for certain: its body arrives in two halves, around it.
    const halves = busy.map((_, i) => {
      const bytes = put(`busy_${i}`);
      return [bytes.subarray(0, bytes.length - 8), bytes.subarray(bytes.length - 8)] as const;
    });
    busy.forEach((conn, i) => conn.write(halves[i]![0]));
    await sleep(100);
    const stopping = server.stop('SIGTERM');
    await sleep(300);
    busy.forEach((conn, i) => conn.write(halves[i]![1]));
    const answers = await Promise.all(busy.map((conn) => conn.next(10_000)));
    const { code, ms } = await stopping;
    console.info(`one process, SIGTERM with 40 requests in flight: out in ${Math.round(ms)} ms; answers: ${[...new Set(answers.map(show))].join(', ')}`);
    expect(answers.map(show)).toEqual(Array(40).fill('200 close'));
    expect(code).toBe(0);
    expect(ms).toBeLessThan(5_000);
    for (const conn of [...busy, ...idle, ...silent]) expect(await conn.end(1_000)).not.toBe('open');
  });
});

describe.skipIf(!POSTGRES_URL)(`several workers on PostgreSQL${POSTGRES_URL ? '' : ' (SKIPPED: TEST_DATABASE_URL is not set)'}`, () => {
  const postgres = ENGINES.find((e) => e.name === 'postgres')!;
  let db: Awaited<ReturnType<typeof postgres.open>>;
  beforeAll(async () => {
    db = await postgres.open();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('kill -9 of a worker, again and again, leaves no new connection unanswered and unclosed', async () => {
    const server = await ServerProcess.start({ DATABASE_URL: db.url, WEB_CONCURRENCY: '3', TOLLGATE_STOP_TIMEOUT_SECONDS: '1' });
    try {
      await killing(server);
    } finally {
      server.kill();
    }
  }, 60_000);

  async function killing(server: ServerProcess) {
    await server.ready(3);
    const counts = { answered: 0, closed: 0, refused: 0, hung: 0, kills: 0 };
    const until = performance.now() + 5_000;
    const killer = (async () => {
      while (performance.now() < until) {
        await sleep(500);
        const workers = server.workers();
        const victim = workers[Math.floor(Math.random() * workers.length)];
        if (victim === undefined) continue;
        process.kill(victim, 'SIGKILL');
        counts.kills++;
      }
    })();
    const client = async () => {
      while (performance.now() < until) {
        let conn: RawConnection;
        try {
          conn = await RawConnection.open(server.port);
        } catch {
          counts.refused++;
          await sleep(20);
          continue;
        }
        conn.write(request('GET', '/healthz', { Connection: 'close' }));
        const answer = await conn.next(4_000);
        conn.destroy();
        if (isResponse(answer)) counts.answered++;
        else if ('closed' in answer) counts.closed++;
        else counts.hung++;
      }
    };
    await Promise.all([killer, ...Array.from({ length: 6 }, client)]);
    console.info(`kill -9 of a worker every 0.5 s for 5 s (3 workers): ${JSON.stringify(counts)}`);
    expect(counts.kills).toBeGreaterThan(5);
    expect(counts.hung).toBe(0);
    expect(counts.answered).toBeGreaterThan(100);
    // The primary replaced every worker it lost: the server answers as before.
    await server.ready(3);
    // A worker that does not stop (frozen here) is killed once the bound and the primary's grace are past.
    const workers = server.workers();
    process.kill(workers[0]!, 'SIGSTOP');
    const { code, ms } = await server.stop('SIGTERM');
    console.info(`stop with a frozen worker (bound 1 s): out in ${Math.round(ms)} ms, code ${code}`);
    expect(code).toBe(1);
    expect(ms).toBeLessThan(8_000);
    expect(workers.filter(alive)).toEqual([]);
  }

  it('SIGTERM under load stops every process within the bound, and each acknowledged request is done', async () => {
    const bound = 2;
    const server = await ServerProcess.start({ DATABASE_URL: db.url, WEB_CONCURRENCY: '2', TOLLGATE_STOP_TIMEOUT_SECONDS: String(bound) });
    try {
      await stoppingUnderLoad(server, bound);
    } finally {
      server.kill();
    }
  }, 60_000);

  async function stoppingUnderLoad(server: ServerProcess, bound: number) {
    await server.ready(2);
    const workers = server.workers();
    // An upload that stalls half-way: its request never completes, and only the bound ends it.
    const stalled = await RawConnection.open(server.port);
    stalled.write(request('PUT', '/v1/accounts/stalled', { ...AUTH, 'Content-Type': 'application/json', 'Content-Length': '100' }));
    stalled.write('{"kind":');
    const traffic = load(server.port, 'many', 40);
    await traffic.busy;
    const signalled = performance.now();
    const { code, ms } = await server.stop('SIGTERM');
    const result = await traffic.done;
    const lastClosed = Math.max(...result.endedAt) - signalled;
    console.info(`2 workers, stop under 40 busy connections and a stalled upload (bound ${bound} s): out in ${Math.round(ms)} ms, the busy connections all closed ${Math.round(lastClosed)} ms after the signal; ${result.acknowledged.length} acknowledged, ${result.closing} answered with Connection: close, ${result.unanswered.length} sent on a connection closed while idle`);
    expect(code).toBe(0);
    expect(ms).toBeLessThan((bound + 3) * 1_000);
    expect(workers.filter(alive)).toEqual([]);
    expect(await stalled.end(1_000)).not.toBe('open');
    expect(result.hung).toBe(0);
    expect(lastClosed).toBeLessThan(bound * 1_000);
    // Every acknowledged request was done; none that went unanswered was.
    const stored = new Set((await db.sql.query<{ id: string }>(`SELECT id FROM accounts WHERE id LIKE 'many_%'`)).map((r) => r.id));
    expect(result.acknowledged.length).toBeGreaterThan(40);
    expect(result.acknowledged.filter((id) => !stored.has(id))).toEqual([]);
    expect(result.unanswered.filter((id) => stored.has(id))).toEqual([]);
  }
});
