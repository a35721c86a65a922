/**
 * The server's credentials: the API's secret key, the admin password and the key that signs
 * the admin panel's tokens. Each set in the environment is used as given; each unset is
 * generated on the first start, stored hashed in the database's `secrets` (the session key as
 * it is), and returned once so that the start can print it. Every process of one database
 * shares them. A generated key or password is forgotten at the first start that sets its own:
 * it is no longer the one, and if the variable is unset later a new one is generated and
 * printed, rather than the old, long out of mind, counting again unsaid.
 *
 * The admin password's hash is always read from `secrets` when a login is checked, so every
 * process checks against the same one: a configured password is stored there too, replaced
 * when a process starts with another. Admin sessions are bound to that hash's digest (its
 * fingerprint), so a new password ends them all.
 */
import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import type { Sql } from '../db/sql.ts';

const scryptAsync = promisify(scrypt) as (password: string, salt: Buffer, length: number, options: { N: number; r: number; p: number }) => Promise<Buffer>;
const SCRYPT = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };
const SALT_BYTES = 16;
/** Where the admin password's salt and scrypt hash live: a generated one, or the one TOLLGATE_ADMIN_PASSWORD sets. */
const GENERATED_PASSWORD = 'admin_password_scrypt';
const CONFIGURED_PASSWORD = 'admin_password_configured_scrypt';
/** Where a generated API key's SHA-256 lives (a configured one is never stored). */
const GENERATED_API_KEY = 'api_key_sha256';

export interface Credentials {
  /** Whether `key` is the API's secret key: compared as SHA-256 digests, in constant time. */
  checkApiKey(key: string): boolean;
  /** Whether `password` is the admin password (scrypt, constant-time compare). */
  checkAdminPassword(password: string): Promise<boolean>;
  /**
   * When `password` is the admin password: the fingerprint (SHA-256) of the stored hash it
   * matched, which a session is bound to; else undefined. The hash is read from the database
   * and computed with the asynchronous scrypt, in libuv's thread pool, never on the event loop.
   */
  verifyAdminPassword(password: string): Promise<Buffer | undefined>;
  /** The `secrets` row holding the admin password's hash: a session counts only while `sha256(value)` is its fingerprint. */
  adminPasswordSecret: string;
  /** The key the admin panel's CSRF and login tokens are signed with. */
  sessionKey: Buffer;
  /** What was generated on this start, to print once. */
  generated: { apiKey?: string; adminPassword?: string };
}

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest();

async function scryptHash(password: string, salt: Buffer): Promise<Buffer> {
  return scryptAsync(password, salt, 32, SCRYPT);
}

/** A new salt and the password's hash under it, as stored: salt then hash. */
async function saltedHash(password: string): Promise<Buffer> {
  const salt = randomBytes(SALT_BYTES);
  return Buffer.concat([salt, await scryptHash(password, salt)]);
}

async function matches(password: string, stored: Buffer): Promise<boolean> {
  const hash = stored.subarray(SALT_BYTES);
  const candidate = await scryptHash(password, stored.subarray(0, SALT_BYTES));
  return candidate.length === hash.length && timingSafeEqual(candidate, hash);
}

async function readSecret(sql: Sql, name: string): Promise<Buffer | undefined> {
  const [row] = await sql.query<{ value: Uint8Array }>('SELECT value FROM secrets WHERE name = $1', [name]);
  return row ? Buffer.from(row.value) : undefined;
}

/** Store `value` under `name` unless one is there; the one stored wins (another process may have been first). */
async function storeOnce(sql: Sql, name: string, value: Buffer): Promise<{ value: Buffer; stored: boolean }> {
  const inserted = await sql.query<{ value: Uint8Array }>('INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING RETURNING value', [name, value]);
  if (inserted.length > 0) return { value, stored: true };
  return { value: (await readSecret(sql, name))!, stored: false };
}

/** A generated credential the deployment has since chosen its own for: no longer the one. */
async function forget(sql: Sql, name: string): Promise<void> {
  await sql.query('DELETE FROM secrets WHERE name = $1', [name]);
}

/**
 * Store the configured password's hash, unless the one stored is already of this password.
 * Replaced only if it is still the one read (compare and set), so that two processes starting
 * with a new password at once leave one hash of it, not one each in turn.
 */
async function storeConfigured(sql: Sql, password: string): Promise<void> {
  for (let tries = 0; tries < 3; tries++) {
    const current = await readSecret(sql, CONFIGURED_PASSWORD);
    if (current && (await matches(password, current))) return;
    const value = await saltedHash(password);
    const written = current
      ? await sql.query('UPDATE secrets SET value = $2 WHERE name = $1 AND value = $3 RETURNING name', [CONFIGURED_PASSWORD, value, current])
      : await sql.query('INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING RETURNING name', [CONFIGURED_PASSWORD, value]);
    if (written.length > 0) return;
  }
}

/** What a deployment chose (server/config.ts); what it left out is generated once and stored. */
export interface ChosenCredentials {
  secretKey?: string;
  adminPassword?: string;
}

export async function loadCredentials(sql: Sql, config: ChosenCredentials): Promise<Credentials> {
  const generated: Credentials['generated'] = {};

  let apiKeyDigest: Buffer;
  if (config.secretKey) {
    apiKeyDigest = sha256(config.secretKey);
    await forget(sql, GENERATED_API_KEY);
  } else {
    const candidate = `tg_sk_${randomBytes(24).toString('base64url')}`;
    const { value, stored } = await storeOnce(sql, GENERATED_API_KEY, sha256(candidate));
    apiKeyDigest = value;
    if (stored) generated.apiKey = candidate;
  }

  const adminPasswordSecret = config.adminPassword ? CONFIGURED_PASSWORD : GENERATED_PASSWORD;
  if (config.adminPassword) {
    await storeConfigured(sql, config.adminPassword);
    await forget(sql, GENERATED_PASSWORD);
  } else if (!(await readSecret(sql, GENERATED_PASSWORD))) {
    const candidate = randomBytes(12).toString('base64url');
    if ((await storeOnce(sql, GENERATED_PASSWORD, await saltedHash(candidate))).stored) generated.adminPassword = candidate;
  }

  const { value: sessionKey } = await storeOnce(sql, 'session_key', randomBytes(32));

  const verifyAdminPassword = async (password: string) => {
    const stored = await readSecret(sql, adminPasswordSecret);
    return stored && (await matches(password, stored)) ? sha256(stored) : undefined;
  };
  return {
    checkApiKey: (key) => timingSafeEqual(sha256(key), apiKeyDigest),
    checkAdminPassword: async (password) => (await verifyAdminPassword(password)) !== undefined,
    verifyAdminPassword,
    adminPasswordSecret,
    sessionKey,
    generated,
  };
}
