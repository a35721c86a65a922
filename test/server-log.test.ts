/**
 * The server's log lines (server/log.ts) when several worker processes write to one stdout and
 * its reader falls behind: each line comes out whole, never cut by another process's.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { expect, it } from 'vitest';

const [WORKERS, LINES] = [3, 5_000];

it('several workers logging into one pipe its reader is behind on: every line whole, none lost', async () => {
  // Into a pipe, as under a container or a service manager (a child's own stdout is a socket),
  // read 512 bytes at a time so that a full pipe frees little at once; a group of its own to end at once.
  const workers = `'${process.execPath}' --import tsx '${import.meta.dirname}/support/log-workers.ts' ${WORKERS} ${LINES}`;
  const child = spawn('sh', ['-c', `${workers} | dd bs=512 status=none`], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const exited = once(child, 'exit');
  try {
    // Nothing is read until every line is logged: the pipe fills, and the workers' writes wait on it.
    await new Promise<void>((resolve, reject) => {
      child.stderr!.on('data', (chunk: Buffer) => String(chunk).includes('logged') && resolve());
      child.once('exit', (code) => reject(new Error(`the workers' primary exited with ${code}`)));
    });
    let [printed, ends] = ['', 0];
    await new Promise<void>((resolve) =>
      child.stdout!.on('data', (chunk: Buffer) => {
        printed += chunk.toString();
        ends += chunk.filter((byte) => byte === 0x0a).length;
        if (ends === WORKERS * LINES + 1) resolve(); // the primary's line, and every worker's
      }),
    );
    const lines = printed.split('\n').filter((line) => line !== '' && line !== 'started');
    const cut = lines.filter((line) => !line.endsWith('"msg":"request"}') || !line.startsWith('{"level":30,') || line.indexOf('{', 1) !== -1);
    expect(cut).toEqual([]);
    const logged = lines.map((line) => JSON.parse(line) as { worker: number; i: number });
    for (let worker = 1; worker <= WORKERS; worker++) {
      expect(logged.filter((line) => line.worker === worker).map((line) => line.i)).toEqual(Array.from({ length: LINES }, (_, i) => i));
    }
  } finally {
    process.kill(-child.pid!, 'SIGTERM');
    await exited;
  }
}, 60_000);
