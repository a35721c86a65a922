/**
 * Several Tollgate processes on one PostgreSQL database, for the guarantees that must hold
 * across processes: each a child process (billing-process.ts) with its own memory, pools and
 * batches, driven by the test over IPC.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { compiled } from './compiled.ts';
import { killNow, killOnExit } from './kill-on-exit.ts';

export type Outcome = { ok: true; value: any } | { ok: false; error: { name?: string; code?: string; message?: string } };

export class BillingProcess {
  #next = 0;
  #waiting = new Map<number, (outcome: Outcome) => void>();

  private constructor(private readonly child: ChildProcess) {
    child.on('message', (m: { id: number } & Outcome) => {
      this.#waiting.get(m.id)?.(m);
      this.#waiting.delete(m.id);
    });
  }

  /** Its process id, which its connections name in pg_stat_activity (`tollgate <pid>`). */
  get pid(): number {
    return this.child.pid!;
  }

  /** `stripe`: Stripe's processor too, at the local fake of its API these options name. */
  static async start(databaseUrl: string, options: { clockOffsetMs?: number; stripe?: { secretKey: string; webhookSecret: string; apiBase: string } } = {}): Promise<BillingProcess> {
    const child = fork(compiled('billing-process'), [], {
      execArgv: [],
      env: {
        ...process.env, TOLLGATE_TEST_DATABASE: databaseUrl,
        ...(options.clockOffsetMs === undefined ? {} : { TOLLGATE_TEST_CLOCK_OFFSET_MS: String(options.clockOffsetMs) }),
        ...(options.stripe === undefined ? {} : { TOLLGATE_TEST_STRIPE: JSON.stringify(options.stripe) }),
      },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    // Its pool holds it open after the test's process is gone: a test that timed out must not leave it running.
    child.once('exit', killOnExit(() => killNow([child.pid!])));
    await new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve());
      child.once('exit', (code) => reject(new Error(`billing process exited with ${code} before it was ready`)));
    });
    return new BillingProcess(child);
  }

  /** One facade call, e.g. `call('admin.updatePlan', 'pro', { … })`: its outcome, never a throw. */
  call(path: string, ...args: unknown[]): Promise<Outcome> {
    const id = this.#next++;
    return new Promise((resolve) => {
      this.#waiting.set(id, resolve);
      this.child.send({ id, path: path.split('.'), args });
    });
  }

  /** Like call, but the test expects it to succeed: its value. */
  async must(path: string, ...args: unknown[]): Promise<any> {
    const outcome = await this.call(path, ...args);
    if (!outcome.ok) throw new Error(`${path} failed: ${outcome.error.code ?? outcome.error.name}: ${outcome.error.message}`);
    return outcome.value;
  }

  /** Many calls of one facade method sent at once: they run concurrently in the process. */
  burst(path: string, argsList: readonly unknown[][]): Promise<Outcome[]> {
    return Promise.all(argsList.map((args) => this.call(path, ...args)));
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.send('close');
    await exited;
  }
}
