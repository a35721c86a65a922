/**
 * `npm run example:chat` runs beside the server: it takes its own port (3001 by default;
 * EXAMPLE_PORT, else PORT), so a PORT the server holds does not stop it when EXAMPLE_PORT is set.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { freePort } from './support/server-process.ts';

const EXAMPLE = fileURLToPath(new URL('../examples/chat-server.ts', import.meta.url));

it('serves on EXAMPLE_PORT while another server holds PORT, and answers there', async () => {
  const busy = createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  const held = (busy.address() as { port: number }).port;
  const own = await freePort();
  const child = spawn(process.execPath, ['--conditions=tollgate-source', '--import', 'tsx', EXAMPLE], { env: { ...process.env, PORT: String(held), EXAMPLE_PORT: String(own) }, stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    let printed = '';
    await new Promise<void>((resolve, reject) => {
      const read = (chunk: Buffer) => {
        printed += chunk.toString();
        if (printed.includes('Serving until stopped')) resolve();
      };
      child.stdout!.on('data', read);
      child.stderr!.on('data', read);
      child.once('exit', (code) => reject(new Error(`the example exited with ${code}:\n${printed}`)));
    });
    expect(printed).toContain(`on http://127.0.0.1:${own}`);
    expect(printed).not.toContain('EADDRINUSE');
    const balance = await fetch(`http://127.0.0.1:${own}/balance/demo`);
    expect(balance.status).toBe(200);
    expect(await balance.json()).toMatchObject({ held: '$0.00', debt: '$0.00' });
  } finally {
    const exited = child.exitCode === null ? new Promise((resolve) => child.once('exit', resolve)) : undefined;
    child.kill('SIGTERM');
    await exited;
    busy.close();
  }
}, 60_000);
