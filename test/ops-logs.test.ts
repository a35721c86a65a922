/**
 * What `npm start` writes in its log about a billing link: the request, never the link's token,
 * which opens the customer's billing page for as long as it has not been used.
 */
import { rmSync } from 'node:fs';
import { expect, it } from 'vitest';
import { migratedDirectory } from './support/harness.ts';
import { ServerProcess } from './support/server-process.ts';

it("logs a billing link's requests without its token: a HEAD or a prefetch leaves the link unused", async () => {
  const dir = migratedDirectory();
  const server = await ServerProcess.start({ DATABASE_URL: `pglite://${dir}`, LOG_LEVEL: 'info' });
  let printed = '';
  server.child.stdout!.on('data', (chunk: Buffer) => (printed += chunk.toString()));
  try {
    expect((await server.call('PUT', '/v1/accounts/acct_logs', { kind: 'team', name: 'Logs' })).status).toBe(200);
    const link = await server.call('POST', '/v1/accounts/acct_logs/billing-sessions', { returnUrl: 'https://app.example.com/' }, 'bs_logs');
    expect(link.status).toBe(201);
    const url = new URL(link.body.url);
    const token = url.pathname.split('/').pop()!;
    const at = `http://127.0.0.1:${server.port}${url.pathname}`;
    expect((await fetch(at, { method: 'HEAD' })).status).toBe(200);
    expect((await fetch(at, { headers: { 'Sec-Purpose': 'prefetch' } })).status).toBe(503);
    expect((await fetch(at, { redirect: 'manual' })).status).toBe(303); // still unused: it opens
    expect((await server.stop()).code).toBe(0);
    const opened = printed.split('\n').filter((line) => line.includes('"msg":"request"') && line.includes('/billing/open/'));
    expect(opened.map((line) => JSON.parse(line).path)).toEqual(Array(3).fill('/billing/open/…'));
    expect(printed).not.toContain(token);
  } finally {
    server.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);
