/**
 * The processes a test file started, killed when its own process exits: a test that timed out
 * never reaches its cleanup, and a server it left running (with its workers) keeps vitest from
 * exiting. 'exit' handlers run synchronously, hence SIGKILL, sent without waiting. Vitest stops
 * its worker with SIGTERM, whose default ends a process without its 'exit' handlers: here it
 * exits, so that they run.
 */
const living = new Set<() => void>();

process.on('exit', () => {
  for (const kill of living) kill();
});
process.once('SIGTERM', () => process.exit(143));

/** Registers `kill` (synchronous) for the exit; call what it returns once the process is gone. */
export function killOnExit(kill: () => void): () => void {
  living.add(kill);
  return () => living.delete(kill);
}

/** SIGKILL to each pid, skipping those gone already. */
export function killNow(pids: readonly number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
}
