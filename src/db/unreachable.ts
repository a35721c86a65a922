/**
 * Whether an error says the database cannot be reached now (down, restarting, failing over, out
 * of connections), rather than that a statement is wrong: a passing state, which every surface
 * answers with a 503 and a line in its log, not a bug's 500 and stack trace.
 */

/** Node's errors for a connection that could not be made or was lost. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);
/** PostgreSQL's: a connection exception (08…), the server shutting down or starting (57P01–57P03), too many connections (53300). */
const POSTGRES_CODES = /^(08...|57P0[123]|53300)$/;
/** pg's own, which carry no code. */
const LOST = /^Connection terminated|^Client was closed|^Client has encountered a connection error/;

/** Whether `error` says the database cannot be reached now. */
export function databaseUnreachable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && (NETWORK_CODES.has(code) || POSTGRES_CODES.test(code))) return true;
  // A connection refused on every address of a host comes as one AggregateError.
  if (error instanceof AggregateError) return error.errors.some(databaseUnreachable);
  return LOST.test(error.message);
}
