/**
 * A hold's id carries what its settle needs: the account, the model and provider, the user,
 * and the moment it was priced. Holds are committed without waiting for the disk, so a
 * database crash can lose one; its settle then charges the usage from the id itself rather
 * than leave it unbilled. That description is sealed (AES-256-GCM, with a key every process
 * reads from the database): an id shows nobody which account or user it names, and an id the
 * library did not issue, or one altered, opens to nothing and is `hold_not_found`.
 *
 * The database knows a hold by its key, the id up to the sealed part: `hold_` and a ULID, so
 * keys are short and ordered by the time the hold was placed, and the holds index grows at one
 * end instead of taking each new key on a random page. The key is bound to the sealed part
 * (as its associated data), so a description cannot be moved onto another hold's key.
 */
import { createCipheriv, createDecipheriv, randomFillSync } from 'node:crypto';
import { ulid } from 'ulid';

export interface HeldCall {
  accountId: string;
  model: string;
  provider: string;
  userId: string | null;
  createdAt: Date;
}

const PREFIX = 'hold_';
const KEY_LENGTH = 26;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/** What an id describes, as JSON; at most this many bytes, so that an id stays a token an app can pass around. */
const MAX_DESCRIBED_BYTES = 1_500;

const described = (call: HeldCall) => JSON.stringify([call.accountId, call.model, call.provider, call.userId, call.createdAt.getTime()]);

/** Whether a call's names are short enough for its hold id; a provider not named yet (the price's) counts as 100 characters. */
export function fitsHoldId(call: { accountId: string; model: string; provider?: string; userId: string | null }): boolean {
  const longest = { ...call, provider: call.provider ?? 'x'.repeat(100), createdAt: new Date(8.64e15) };
  return Buffer.byteLength(described(longest)) <= MAX_DESCRIBED_BYTES;
}

/**
 * Random bytes from the system's secure source drawn 4 KB at a time: one system call per
 * draw was a twelfth of this process's time under load (ULIDs ask for a byte per character).
 */
const pool = Buffer.alloc(4096);
let drawn = pool.length;
function randomByte(): number {
  if (drawn === pool.length) {
    randomFillSync(pool);
    drawn = 0;
  }
  return pool[drawn++]!;
}
/** A byte / 256 picks one of the ULID's 32 characters uniformly. */
const randomFraction = () => randomByte() / 256;
const randomBytes = (n: number) => Buffer.from(Array.from({ length: n }, randomByte));

/** What the database knows a hold by: its id up to the sealed description. */
export function holdKey(id: string): string {
  const dot = id.indexOf('.');
  return dot === -1 ? id : id.slice(0, dot);
}

/** Issues and opens hold ids with one database's key. */
export class HoldIds {
  readonly #key: Buffer;

  constructor(key: Uint8Array) {
    if (key.length !== 32) throw new Error('a hold id key is 32 bytes');
    this.#key = Buffer.from(key);
  }

  issue(call: HeldCall): string {
    const key = `${PREFIX}${ulid(call.createdAt.getTime(), randomFraction)}`;
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#key, nonce).setAAD(Buffer.from(key));
    const sealed = Buffer.concat([nonce, cipher.update(described(call), 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return `${key}.${sealed.toString('base64url')}`;
  }

  /** The hold's key and the call its id describes, or undefined if this database's key did not issue it. */
  open(id: string): { key: string; call: HeldCall } | undefined {
    const dot = id.indexOf('.');
    if (dot !== PREFIX.length + KEY_LENGTH || !id.startsWith(PREFIX)) return undefined;
    const key = id.slice(0, dot);
    const sealed = Buffer.from(id.slice(dot + 1), 'base64url');
    // The decoder skips what is not base64url and bits that make no byte: only the form issued opens.
    if (sealed.length <= NONCE_BYTES + TAG_BYTES || sealed.toString('base64url') !== id.slice(dot + 1)) return undefined;
    let fields: unknown;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, sealed.subarray(0, NONCE_BYTES)).setAAD(Buffer.from(key));
      decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
      const plain = Buffer.concat([decipher.update(sealed.subarray(NONCE_BYTES, sealed.length - TAG_BYTES)), decipher.final()]);
      fields = JSON.parse(plain.toString('utf8'));
    } catch {
      return undefined; // not sealed with this key, or altered
    }
    const [accountId, model, provider, userId, createdAt] = fields as [string, string, string, string | null, number];
    return { key, call: { accountId, model, provider, userId, createdAt: new Date(createdAt) } };
  }
}
