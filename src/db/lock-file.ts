/**
 * One writer per PGlite directory. PGlite runs PostgreSQL inside the process that opened the
 * directory and writes its pages back there; two processes on one directory each work on a
 * copy of their own and overwrite each other's pages, losing commits without an error. So
 * opening a directory takes its lock file: created exclusively, naming the process (and host)
 * that holds it, removed on close. A lock whose process is gone (killed, crashed) is taken
 * over; one whose process is alive, this one included, is refused with `database_in_use`.
 */
import { closeSync, linkSync, mkdirSync, openSync, readFileSync, realpathSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { BillingError } from '../core/errors.ts';

export const LOCK_FILE = 'tollgate.lock';

interface LockOwner {
  pid: number;
  host: string;
  /** When it was taken (ISO). */
  since?: string;
}

/** Directories this thread holds, shared by every copy of this module loaded in it. */
const held: Set<string> = ((globalThis as Record<symbol, unknown>)[Symbol.for('tollgate.pglite.locks')] ??= new Set<string>()) as Set<string>;

function errno(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException).code;
}

function readOwner(path: string): LockOwner | null | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if (errno(error) === 'ENOENT') return undefined; // gone meanwhile
    throw error;
  }
  try {
    const owner = JSON.parse(text) as LockOwner;
    return Number.isSafeInteger(owner.pid) && typeof owner.host === 'string' ? owner : null;
  } catch {
    return null; // not a lock this module wrote: nobody's
  }
}

function remove(path: string): void {
  try {
    unlinkSync(path);
  } catch (error) {
    if (errno(error) !== 'ENOENT') throw error;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errno(error) === 'EPERM'; // alive, another user's
  }
}

/** Is the lock's owner gone? A process on another host cannot be checked, so it counts as alive. */
function stale(owner: LockOwner): boolean {
  if (owner.host !== hostname()) return false;
  // This process's own id: a lock taken before it started is a previous process's with the same id (PID 1 in a
  // restarted container); one taken since is another thread's (this thread's are refused before).
  if (owner.pid === process.pid) return !(Date.parse(owner.since ?? '') >= Date.now() - process.uptime() * 1000);
  return !alive(owner.pid);
}

function inUse(directory: string, path: string, owner: LockOwner): BillingError {
  const who = owner.pid === process.pid && owner.host === hostname() ? 'this process' : `process ${owner.pid} on ${owner.host}`;
  return new BillingError(
    'database_in_use',
    `The PGlite database in ${directory} is already open in ${who}. PGlite allows one process per directory: a second one would lose the ` +
      `first one's writes. Stop the other process (or close the database it opened) first, or use a PostgreSQL server (postgres://…) ` +
      `to run more than one process. If no process has it open, delete ${path}.`,
    { directory, lockFile: path, pid: owner.pid, host: owner.host },
  );
}

/** Create the lock file whole, or not at all: written aside, then linked into place (which fails if it exists). */
function create(path: string, owner: LockOwner): boolean {
  const aside = `${path}.${owner.pid}.tmp`;
  const fd = openSync(aside, 'w');
  try {
    writeSync(fd, JSON.stringify(owner));
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(aside, path);
    return true;
  } catch (error) {
    if (errno(error) === 'EEXIST') return false;
    throw error;
  } finally {
    remove(aside);
  }
}

/**
 * Take a stale lock away: moved aside in one step, so that of two processes taking it over
 * only one gets it; a lock moved aside that turns out not to be the stale one is put back.
 */
function takeOver(path: string, staleOwner: LockOwner | null): void {
  const aside = `${path}.${process.pid}.stale`;
  try {
    renameSync(path, aside);
  } catch (error) {
    if (errno(error) === 'ENOENT') return;
    throw error;
  }
  const moved = readOwner(aside);
  if (moved !== undefined && JSON.stringify(moved) !== JSON.stringify(staleOwner)) {
    try {
      linkSync(aside, path);
    } catch (error) {
      if (errno(error) !== 'EEXIST') throw error;
    }
  }
  remove(aside);
}

/** Take the directory's lock (creating the directory if need be); returns its release. */
export function lockDirectory(dir: string): () => void {
  mkdirSync(dir, { recursive: true });
  const directory = realpathSync(dir);
  const path = join(directory, LOCK_FILE);
  const me: LockOwner = { pid: process.pid, host: hostname(), since: new Date().toISOString() };
  if (held.has(directory)) throw inUse(directory, path, me);
  for (let attempt = 0; attempt < 10; attempt++) {
    if (create(path, me)) {
      held.add(directory);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        held.delete(directory);
        const owner = readOwner(path);
        if (owner && owner.pid === me.pid && owner.host === me.host) remove(path);
      };
    }
    const owner = readOwner(path);
    if (owner === undefined) continue;
    if (owner !== null && !stale(owner)) throw inUse(directory, path, owner);
    takeOver(path, owner);
  }
  throw new BillingError('database_in_use', `Could not take the lock on the PGlite database in ${directory}: other processes keep taking it`, { directory, lockFile: path });
}
