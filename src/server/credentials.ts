/**
 * The server's credentials: the API's secret key, the admin password and the key that signs
 * admin sessions. Each set in the environment is used as given; each unset is generated on the
 * first start, stored hashed in the database's `secrets` (the session key as it is), and
 * returned once so that the start can print it. Every process of one database shares them.
 */
import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import type { Sql } from '../db/sql.ts';
import type { Config } from './config.ts';

const scryptAsync = promisify(scrypt) as (password: string, salt: Buffer, length: number, options: { N: number; r: number; p: number }) => Promise<Buffer>;
const SCRYPT = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };

export interface Credentials {
  /** Whether `key` is the API's secret key: compared as SHA-256 digests, in constant time. */
  checkApiKey(key: string): boolean;
  /** Whether `password` is the admin password (scrypt, constant-time compare). */
  checkAdminPassword(password: string): Promise<boolean>;
  /** The key admin sessions and CSRF tokens are signed with. */
  sessionKey: Buffer;
  /** What was generated on this start, to print once. */
  generated: { apiKey?: string; adminPassword?: string };
}

const sha256 = (text: string) => createHash('sha256').update(text).digest();

async function scryptHash(password: string, salt: Buffer): Promise<Buffer> {
  return scryptAsync(password, salt, 32, SCRYPT);
}

/** Store `value` under `name` unless one is there; the one stored wins (another process may have been first). */
async function storeOnce(sql: Sql, name: string, value: Buffer): Promise<{ value: Buffer; stored: boolean }> {
  const inserted = await sql.query<{ value: Uint8Array }>('INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING RETURNING value', [name, value]);
  if (inserted.length > 0) return { value, stored: true };
  const [row] = await sql.query<{ value: Uint8Array }>('SELECT value FROM secrets WHERE name = $1', [name]);
  return { value: Buffer.from(row!.value), stored: false };
}

export async function loadCredentials(sql: Sql, config: Pick<Config, 'secretKey' | 'adminPassword'>): Promise<Credentials> {
  const generated: Credentials['generated'] = {};

  let apiKeyDigest: Buffer;
  if (config.secretKey) apiKeyDigest = sha256(config.secretKey);
  else {
    const candidate = `tg_sk_${randomBytes(24).toString('base64url')}`;
    const { value, stored } = await storeOnce(sql, 'api_key_sha256', sha256(candidate));
    apiKeyDigest = value;
    if (stored) generated.apiKey = candidate;
  }

  let adminHash: { salt: Buffer; hash: Buffer };
  if (config.adminPassword) {
    const salt = randomBytes(16);
    adminHash = { salt, hash: await scryptHash(config.adminPassword, salt) };
  } else {
    const candidate = randomBytes(12).toString('base64url');
    const salt = randomBytes(16);
    const { value, stored } = await storeOnce(sql, 'admin_password_scrypt', Buffer.concat([salt, await scryptHash(candidate, salt)]));
    adminHash = { salt: value.subarray(0, 16), hash: value.subarray(16) };
    if (stored) generated.adminPassword = candidate;
  }

  const { value: sessionKey } = await storeOnce(sql, 'session_key', randomBytes(32));

  return {
    checkApiKey: (key) => timingSafeEqual(sha256(key), apiKeyDigest),
    checkAdminPassword: async (password) => timingSafeEqual(await scryptHash(password, adminHash.salt), adminHash.hash),
    sessionKey,
    generated,
  };
}
