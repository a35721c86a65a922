/**
 * A hold's id carries what its settle needs: the account, the model and provider, the user,
 * and the moment it was priced. Holds are committed without waiting for the disk, so a
 * database crash can lose one; its settle then charges the usage from the id itself rather
 * than leave it unbilled. An id is not a credential: whoever may settle may also record usage
 * on any account.
 *
 * The database knows a hold by its key, the id up to the description: `hold_` and a ULID, so
 * keys are short and ordered by the time the hold was placed, and the holds index grows at one
 * end instead of taking each new key on a random page.
 */
import { randomFillSync } from 'node:crypto';
import { ulid } from 'ulid';

export interface HeldCall {
  accountId: string;
  model: string;
  provider: string;
  userId: string | null;
  createdAt: Date;
}

const PREFIX = 'hold_';

/** What an id describes, as JSON; at most this many bytes, so that an id stays a token an app can pass around. */
const MAX_DESCRIBED_BYTES = 1_500;

const described = (call: HeldCall) => JSON.stringify([call.accountId, call.model, call.provider, call.userId, call.createdAt.getTime()]);

/** Whether a call's names are short enough for its hold id; a provider not named yet (the price's) counts as 100 characters. */
export function fitsHoldId(call: { accountId: string; model: string; provider?: string; userId: string | null }): boolean {
  const longest = { ...call, provider: call.provider ?? 'x'.repeat(100), createdAt: new Date(8.64e15) };
  return Buffer.byteLength(described(longest)) <= MAX_DESCRIBED_BYTES;
}

/**
 * Random fractions for the ULID's random part, from the system's secure source drawn 4 KB at a
 * time: left to itself, the library asks it for one byte per character, a system call each, and
 * that was a twelfth of this process's time under load. A byte / 256 picks one of the 32
 * characters uniformly.
 */
const pool = Buffer.alloc(4096);
let drawn = pool.length;
function randomFraction(): number {
  if (drawn === pool.length) {
    randomFillSync(pool);
    drawn = 0;
  }
  return pool[drawn++]! / 256;
}

export function newHoldId(call: HeldCall): string {
  return `${PREFIX}${ulid(call.createdAt.getTime(), randomFraction)}.${Buffer.from(described(call)).toString('base64url')}`;
}

/** What the database knows a hold by: its id up to the description (an id without one is all key). */
export function holdKey(id: string): string {
  const dot = id.indexOf('.');
  return dot === -1 ? id : id.slice(0, dot);
}

/** The call a hold id describes, or undefined if it is not an id Tollgate issued. */
export function heldCallOf(id: string): HeldCall | undefined {
  const dot = id.indexOf('.');
  if (!id.startsWith(PREFIX) || dot <= PREFIX.length) return undefined;
  let fields: unknown;
  try {
    fields = JSON.parse(Buffer.from(id.slice(dot + 1), 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  if (!Array.isArray(fields) || fields.length !== 5) return undefined;
  const [accountId, model, provider, userId, createdAt] = fields as unknown[];
  const text = (v: unknown): v is string => typeof v === 'string' && v.length > 0;
  if (!text(accountId) || !text(model) || !text(provider) || !(userId === null || text(userId))) return undefined;
  const at = new Date(typeof createdAt === 'number' ? createdAt : NaN);
  if (Number.isNaN(at.getTime())) return undefined;
  return { accountId, model, provider, userId, createdAt: at };
}
