/**
 * The server's logger: pino, its lines written to stdout 4 KB at a time and at least every
 * 200 ms, instead of one write per line (an access line per request: a twentieth of the server's
 * time under load went to those writes). Every exit Node runs itself writes what is held back
 * (pino flushes on `exit`: the stop's `process.exit`, an uncaught error); only a process killed
 * outright (SIGKILL, the machine going down) loses the lines of its last 200 ms, as it loses the
 * answers it was writing then.
 */
import pino, { type Logger } from 'pino';

const BUFFER_BYTES = 4096;
const FLUSH_MS = 200;

export function serverLogger(level: string): Logger {
  const destination = pino.destination({ dest: 1, minLength: BUFFER_BYTES, sync: false });
  setInterval(() => destination.flush(), FLUSH_MS).unref();
  return pino({ level }, destination);
}
