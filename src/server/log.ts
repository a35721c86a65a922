/**
 * The server's logger: pino, its lines written to stdout 3 to 4 KB at a time and at least every
 * 200 ms, instead of one write per line (an access line per request: a twentieth of the server's
 * time under load went to those writes). Every exit Node runs itself writes what is held back
 * (pino flushes on `exit`: the stop's `process.exit`, an uncaught error), though not a block
 * already waiting on a full pipe, which sonic-boom's flushSync leaves out; a process killed
 * outright (SIGKILL, the machine going down) loses the lines of its last 200 ms, as it loses the
 * answers it was writing then.
 *
 * Worker processes (WEB_CONCURRENCY) share one stdout, most often a pipe. A write to a pipe of at
 * most PIPE_BUF bytes goes in whole; a longer one may be cut, when the pipe is full, with another
 * worker's lines written into the cut: so each write holds whole lines and at most PIPE_BUF.
 */
import pino, { type Logger } from 'pino';

/** Linux's PIPE_BUF. A line longer than it goes alone, and may still be cut. */
const PIPE_BUF = 4096;
/** Held back until this much waits: below PIPE_BUF, which sonic-boom asks of it. */
const BUFFER_BYTES = 3072;
const FLUSH_MS = 200;

export function serverLogger(level: string): Logger {
  const destination = pino.destination({ dest: 1, minLength: BUFFER_BYTES, maxWrite: PIPE_BUF, sync: false });
  setInterval(() => destination.flush(), FLUSH_MS).unref();
  return pino({ level }, destination);
}
