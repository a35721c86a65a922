/**
 * `npm run app` as a child process: the app as a newcomer starts it, seeding and all, so that a
 * test can run two of them on one database.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { compiled } from './compiled.ts';
import { killNow, killOnExit } from './kill-on-exit.ts';
import { freePort } from './server-process.ts';

export class AppProcess {
  private constructor(readonly child: ChildProcess, readonly url: string, readonly banner: string) {}

  /** Starts it on a free port with `env` over the test's own, once it printed where it is. */
  static async start(env: NodeJS.ProcessEnv): Promise<AppProcess> {
    const port = await freePort();
    const child = spawn(process.execPath, [compiled('app')], {
      env: { ...process.env, LOG_LEVEL: 'warn', APP_PORT: String(port), ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    child.once('exit', killOnExit(() => killNow([child.pid!])));
    let printed = '';
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (chunk: Buffer) => {
        printed += chunk.toString();
        if (/or sign up as someone new/.test(printed)) resolve();
      });
      child.once('exit', (code) => reject(new Error(`npm run app exited with ${code}:\n${printed}`)));
    });
    return new AppProcess(child, `http://127.0.0.1:${port}`, printed);
  }

  async stop(): Promise<number | null> {
    if (this.child.exitCode !== null) return this.child.exitCode;
    const exited = new Promise<number | null>((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    return exited;
  }
}
