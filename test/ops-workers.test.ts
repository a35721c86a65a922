/**
 * Worker processes (WEB_CONCURRENCY) that die: one that served is replaced at once, as is the
 * first to die at its start in a place; one that keeps dying at its start is then replaced after a
 * wait that doubles each time, said in the log, instead of in a loop that takes the CPU and floods the log.
 */
import { describe, expect, it } from 'vitest';
import { afterDeath } from '../src/server/restarts.ts';
import { ENGINES, POSTGRES_URL } from './support/harness.ts';
import { ServerProcess } from './support/server-process.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('the wait before a worker is replaced', () => {
  it('is none for the first failed start in a place, then doubles at each failed start in a row, from 1 s up to 30 s; none, and from nothing again, once a worker served', () => {
    const waits: number[] = [];
    for (let i = 0, failed = 0; i < 8; i++) {
      const next = afterDeath(false, failed);
      waits.push(next.waitMs);
      failed = next.failedStarts;
    }
    expect(waits).toEqual([0, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000]);
    expect(afterDeath(true, 7)).toEqual({ failedStarts: 0, waitMs: 0 });
    expect(afterDeath(false, afterDeath(true, 7).failedStarts)).toEqual({ failedStarts: 1, waitMs: 0 });
  });
});

describe.skipIf(!POSTGRES_URL)(`npm start with workers${POSTGRES_URL ? '' : ' (SKIPPED: TEST_DATABASE_URL is not set)'}`, () => {
  it('replaces a worker that served at once, and one that keeps dying before it serves at once, then after 1, 2 and 4 s, saying so; a stop while one waits ends at once', async () => {
    const db = await ENGINES.find((e) => e.name === 'postgres')!.open();
    const server = await ServerProcess.start({ DATABASE_URL: db.url, WEB_CONCURRENCY: '2', LOG_LEVEL: 'info' });
    let printed = '';
    server.child.stdout!.on('data', (chunk: Buffer) => (printed += chunk.toString()));
    try {
      await server.ready(2);
      // One place's worker, serving (the primary said so: answering /healthz may be the other one), is killed; then each worker started in its place as soon as it appears, before it serves.
      let victim = server.workers()[0]!;
      const serving = (pid: number) => printed.split('\n').some((line) => line.includes('"worker serving"') && line.includes(`"worker":${pid}`));
      while (!serving(victim)) await sleep(10);
      const gaps: number[] = [];
      const victims = [victim];
      for (let i = 0; i < 5; i++) {
        const others = new Set(server.workers().filter((pid) => pid !== victim));
        process.kill(victim, 'SIGKILL');
        const killedAt = performance.now();
        let next: number | undefined;
        while ((next = server.workers().find((pid) => pid !== victim && !others.has(pid))) === undefined) await sleep(10);
        gaps.push(performance.now() - killedAt);
        victim = next;
        victims.push(victim);
      }
      // The waits are kept (a timer is never early); that the first two were none, the log says below (a start's own time is the machine's).
      expect(gaps[2]).toBeGreaterThan(900);
      expect(gaps[3]).toBeGreaterThan(1_900);
      expect(gaps[4]).toBeGreaterThan(3_900);
      // The other worker served all along.
      expect((await fetch(`http://127.0.0.1:${server.port}/healthz`)).status).toBe(200);

      // Killed once more, its place waits 8 s: a stop now ends every process without it.
      process.kill(victim, 'SIGKILL');
      await sleep(300);
      const { code, ms } = await server.stop();
      expect(code).toBe(0);
      expect(ms).toBeLessThan(5_000);

      const died = printed.split('\n').filter(Boolean).map((line) => JSON.parse(line) as { msg: string; pid: number; worker?: number; signal?: string; restartInSeconds?: number })
        .filter((line) => line.msg.startsWith('worker died'));
      expect(died.map((line) => line.restartInSeconds)).toEqual([0, 0, 1, 2, 4, 8]);
      // Each names the worker that died; `pid` is the primary's, as on every line it writes.
      expect(died.map((line) => line.worker)).toEqual(victims);
      expect(new Set(died.map((line) => line.pid))).toEqual(new Set([server.pid]));
      expect(died[0]!.msg).toMatch(/^worker died \(SIGKILL\) [\d.]+ s after it started: starting another now$/);
      expect(died[1]!.msg).toMatch(/^worker died \(SIGKILL\) [\d.]+ s after it started, before it served: starting another now$/);
      expect(died[2]!.msg).toMatch(/^worker died \(SIGKILL\) [\d.]+ s after it started, before it served: starting another in 1 s$/);
      expect(died[5]!.msg).toMatch(/: starting another in 8 s$/);
    } finally {
      server.kill();
      await db.drop();
    }
  }, 60_000);
});
