/**
 * `npm start` as a child process, for what only a real server shows: its sockets, its worker
 * processes (found through /proc, so a test can kill them) and how it stops.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { compiled } from './compiled.ts';
import { killNow, killOnExit } from './kill-on-exit.ts';

const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));

export const SECRET_KEY = 'tg_sk_connections_0123456789abcdef';

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The pids of `pid`'s child processes (Linux). */
export function childPids(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // pid (comm) state ppid …: comm may hold spaces, so read after its closing parenthesis.
      const stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) children.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return children;
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The admin panel's password of every server started here. */
export const SERVER_ADMIN_PASSWORD = 'connections-password';

export class ServerProcess {
  readonly exited: Promise<number | null>;

  /** `banner`: what it printed as it started. */
  private constructor(readonly child: ChildProcess, readonly port: number, readonly banner: string) {
    this.exited = new Promise((resolve) => {
      if (child.exitCode !== null) resolve(child.exitCode);
      else child.once('exit', (code) => resolve(code));
    });
  }

  /**
   * Spawns the server, compiled for the run, or `fromSource` through tsx as `npm start` runs it;
   * killed with its workers if the test's process exits first (a test that timed out).
   */
  private static spawn(env: NodeJS.ProcessEnv, fromSource: boolean): ChildProcess {
    const child = spawn(process.execPath, fromSource ? ['--import', 'tsx', MAIN] : [compiled('server')], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    child.once('exit', killOnExit(() => killNow([...childPids(child.pid!), child.pid!])));
    return child;
  }

  /** Starts the server on a free port with `env` (over the test's own, with SECRET_KEY), once it printed its banner. */
  static async start(env: NodeJS.ProcessEnv, { fromSource = false } = {}): Promise<ServerProcess> {
    const port = await freePort();
    const child = ServerProcess.spawn({ ...process.env, LOG_LEVEL: 'warn', TOLLGATE_SECRET_KEY: SECRET_KEY, TOLLGATE_ADMIN_PASSWORD: SERVER_ADMIN_PASSWORD, PORT: String(port), ...env }, fromSource);
    let printed = '';
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (chunk: Buffer) => {
        printed += chunk.toString();
        if (printed.includes('health:')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`npm start exited with ${code}:\n${printed}`)));
    });
    return new ServerProcess(child, port, printed);
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Its worker processes: its children that run node (not the esbuild service tsx may start). */
  workers(): number[] {
    return childPids(this.pid).filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0')[0] === process.execPath;
      } catch {
        return false; // Ended while we looked.
      }
    });
  }

  /** Waits until it has `count` workers and answers. */
  async ready(count: number, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.workers().length < count || !(await fetch(`http://127.0.0.1:${this.port}/healthz`).then((r) => r.ok, () => false))) {
      if (Date.now() > deadline) throw new Error(`the server did not have ${count} workers answering within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Sends `signal` and waits for the exit: its code, and how long it took. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null; ms: number }> {
    const started = performance.now();
    this.child.kill(signal);
    const code = await this.exited;
    return { code, ms: performance.now() - started };
  }

  /** A request to its API with the secret key (and an Idempotency-Key, when given): the status and the JSON answer. */
  async call(method: string, path: string, body?: unknown, key?: string): Promise<{ status: number; body: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
    const headers = { authorization: `Bearer ${SECRET_KEY}`, 'content-type': 'application/json', ...(key ? { 'idempotency-key': key } : {}) };
    const response = await fetch(`http://127.0.0.1:${this.port}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: response.status, body: await response.json() };
  }

  /** Whatever is left of it, for a test's cleanup. */
  kill(): void {
    killNow([...this.workers(), this.pid]);
  }
}
