/**
 * The server's configuration, from the environment (and a `.env` file, which main.ts loads).
 * Everything has an embedded default except what a real deployment must choose; a value that
 * is malformed, or a configuration only half set, stops the start with a message naming the
 * variable to fix.
 */
import { DEFAULT_DATABASE_URL } from '../db/connect.ts';
import { shownUrl } from './database-errors.ts';

export interface Config {
  databaseUrl: string;
  port: number;
  host: string;
  /** The API's secret key; unset: one is generated on first start and stored hashed. */
  secretKey?: string;
  /** The admin panel's password; unset: one is generated on first start and stored hashed. */
  adminPassword?: string;
  /** Server processes (node:cluster); more than one needs PostgreSQL. */
  workers: number;
  logLevel: string;
  /** Where browsers reach this server (PUBLIC_URL), when not the address the API is called at: billing page links are made on it. */
  publicUrl?: string;
  /** How often each process measures the database's clock again (TOLLGATE_CLOCK_RESYNC_SECONDS, a minute unless set): it bills at that clock, and follows a step of it within this. */
  clockResyncSeconds: number;
  /** How long a stop (SIGTERM, SIGINT) lets requests in flight finish before it closes their connections. */
  stopTimeoutSeconds: number;
  /** The processor new accounts pay through (TOLLGATE_PROCESSOR): the fake one unless a real one is configured and chosen. */
  processor: 'fake' | 'stripe' | 'paddle';
  /** Stripe, when its keys are set. */
  stripe?: { secretKey: string; webhookSecret: string; apiBase?: string };
  /** Paddle Billing, when its keys are set: its API at apiBase (a local fake), else in `environment`. */
  paddle?: { apiKey: string; webhookSecret: string; apiBase?: string; environment: 'sandbox' | 'production' };
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function wholeNumber(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) throw new ConfigError(`${name} must be a whole number from ${min} to ${max}, not "${raw}"`);
  return value;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const databaseUrl = env.DATABASE_URL || DEFAULT_DATABASE_URL;
  if (!/^(memory:\/\/|pglite:\/\/|postgres(ql)?:\/\/)/.test(databaseUrl)) {
    throw new ConfigError(`DATABASE_URL must be postgres://…, pglite://PATH or memory://, not "${shownUrl(databaseUrl)}"`);
  }
  // A password with @, # or / in it, unencoded, reads as part of the host or a fragment: the start would dial a host that is not there.
  if (/^postgres/.test(databaseUrl) && (!URL.canParse(databaseUrl) || new URL(databaseUrl).hash)) {
    throw new ConfigError(`DATABASE_URL is not a valid URL ("${shownUrl(databaseUrl)}"): check its port, and percent-encode @ # / : in the user or password (%40 %23 %2F %3A)`);
  }
  const secretKey = env.TOLLGATE_SECRET_KEY || undefined;
  const adminPassword = env.TOLLGATE_ADMIN_PASSWORD || undefined;
  if (secretKey !== undefined && secretKey.length < 24) throw new ConfigError('TOLLGATE_SECRET_KEY must be at least 24 characters (a random string; unset it to have one generated)');
  if (adminPassword !== undefined && adminPassword.length < 12) throw new ConfigError('TOLLGATE_ADMIN_PASSWORD must be at least 12 characters');
  // One set without the other is a deployment half done: say which is missing.
  if (secretKey !== undefined && adminPassword === undefined) throw new ConfigError('TOLLGATE_SECRET_KEY is set but TOLLGATE_ADMIN_PASSWORD is not: set both, or neither to have both generated');
  if (adminPassword !== undefined && secretKey === undefined) throw new ConfigError('TOLLGATE_ADMIN_PASSWORD is set but TOLLGATE_SECRET_KEY is not: set both, or neither to have both generated');
  const workers = wholeNumber(env, 'WEB_CONCURRENCY', 1, 1, 64);
  if (workers > 1 && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError(`WEB_CONCURRENCY=${workers} needs a PostgreSQL DATABASE_URL: the embedded database takes one process`);
  }
  const logLevel = env.LOG_LEVEL || 'info';
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, not "${logLevel}"`);
  const publicUrl = env.PUBLIC_URL || undefined;
  if (publicUrl !== undefined && !/^https?:\/\/[^/?#\s]+\/?$/.test(publicUrl)) throw new ConfigError(`PUBLIC_URL must be the http or https address browsers reach this server at, with no path (https://billing.example.com), not "${publicUrl}"`);
  const stripe = vendorKeys(env, 'STRIPE_SECRET_KEY', 'STRIPE_WEBHOOK_SECRET', 'STRIPE_API_BASE');
  if (stripe) stripeKeysShape(stripe);
  const paddleKeys = vendorKeys(env, 'PADDLE_API_KEY', 'PADDLE_WEBHOOK_SECRET', 'PADDLE_API_BASE');
  const environment: string = env.PADDLE_ENVIRONMENT || 'production';
  if (environment !== 'sandbox' && environment !== 'production') throw new ConfigError(`PADDLE_ENVIRONMENT must be sandbox or production, not "${environment}"`);
  if (paddleKeys) paddleKeysShape(paddleKeys, environment, env.PADDLE_ENVIRONMENT ? '' : ' (the default)');
  const paddle: Config['paddle'] = paddleKeys && { apiKey: paddleKeys.secretKey, webhookSecret: paddleKeys.webhookSecret, ...(paddleKeys.apiBase ? { apiBase: paddleKeys.apiBase } : {}), environment };
  const processor = env.TOLLGATE_PROCESSOR || 'fake';
  if (processor !== 'fake' && processor !== 'stripe' && processor !== 'paddle') throw new ConfigError(`TOLLGATE_PROCESSOR must be fake, stripe or paddle, not "${processor}"`);
  if (processor === 'stripe' && !stripe) throw new ConfigError('TOLLGATE_PROCESSOR=stripe needs STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET');
  if (processor === 'paddle' && !paddle) throw new ConfigError('TOLLGATE_PROCESSOR=paddle needs PADDLE_API_KEY and PADDLE_WEBHOOK_SECRET');
  return {
    databaseUrl, port: wholeNumber(env, 'PORT', 3000, 0, 65_535), host: env.HOST || '127.0.0.1', secretKey, adminPassword, workers, logLevel,
    stopTimeoutSeconds: wholeNumber(env, 'TOLLGATE_STOP_TIMEOUT_SECONDS', 10, 1, 600),
    clockResyncSeconds: wholeNumber(env, 'TOLLGATE_CLOCK_RESYNC_SECONDS', 60, 1, 3_600), processor, stripe, paddle,
    ...(publicUrl === undefined ? {} : { publicUrl: publicUrl.replace(/\/$/, '') }),
  };
}

/** A processor's keys: both or neither (half a processor stops the start, naming what is missing), and where its API is. */
function vendorKeys(env: NodeJS.ProcessEnv, keyName: string, secretName: string, baseName: string) {
  // Spaces around a key pasted are not part of it; a key of spaces only is unset, as an empty one is.
  const secretKey = env[keyName]?.trim() || undefined;
  const webhookSecret = env[secretName]?.trim() || undefined;
  const apiBase = env[baseName] || undefined;
  if (secretKey === undefined && webhookSecret === undefined) {
    if (apiBase !== undefined) throw new ConfigError(`${baseName} is set but ${keyName} and ${secretName} are not: set all of them, or none`);
    return undefined;
  }
  if (secretKey === undefined) throw new ConfigError(`${secretName} is set but ${keyName} is not: set both, or neither`);
  if (webhookSecret === undefined) throw new ConfigError(`${keyName} is set but ${secretName} is not: set both, or neither`);
  if (apiBase !== undefined && !/^https?:\/\/[^/]+\/?$/.test(apiBase)) throw new ConfigError(`${baseName} must be a URL with no path (http://127.0.0.1:12111), not "${apiBase}"`);
  return { secretKey, webhookSecret, ...(apiBase === undefined ? {} : { apiBase }) };
}

/** The first characters of a key, enough to tell its kind without printing the secret. */
const prefixOf = (key: string) => `${key.slice(0, 8)}…`;

/**
 * Stripe's keys say what they are: the API takes a secret (sk_) or restricted (rk_) key, and a
 * webhook endpoint signs with a whsec_ secret. A publishable key (pk_), or the two swapped, would
 * start a server whose first checkout, or every webhook, fails.
 */
function stripeKeysShape({ secretKey, webhookSecret }: { secretKey: string; webhookSecret: string }): void {
  if (!/^(sk|rk)_(test|live)_/.test(secretKey)) {
    const what = secretKey.startsWith('pk_') ? 'a publishable key, which the browser uses' : secretKey.startsWith('whsec_') ? 'a webhook signing secret' : `not a Stripe API key (${prefixOf(secretKey)})`;
    throw new ConfigError(`STRIPE_SECRET_KEY is ${what}: set the secret key (sk_test_… or sk_live_…) or a restricted key (rk_…), from Stripe's dashboard, Developers → API keys`);
  }
  if (!webhookSecret.startsWith('whsec_')) {
    const what = /^(sk|rk|pk)_/.test(webhookSecret) ? 'an API key' : `not a webhook signing secret (${prefixOf(webhookSecret)})`;
    throw new ConfigError(`STRIPE_WEBHOOK_SECRET is ${what}: set the signing secret (whsec_…) of the webhook endpoint for /webhooks/stripe, shown on that endpoint in Stripe's dashboard (or printed by stripe listen)`);
  }
}

/**
 * Paddle's API keys made since May 2025 say their environment (pdl_live_apikey_…,
 * pdl_sdbx_apikey_…; older ones say nothing), and each works only there: a sandbox key against
 * production would start a server whose every call Paddle refuses. A local API (PADDLE_API_BASE)
 * takes any key.
 */
function paddleKeysShape({ secretKey, webhookSecret, apiBase }: { secretKey: string; webhookSecret: string; apiBase?: string }, environment: string, defaulted: string): void {
  if (/^pdl_ntfset_/.test(secretKey)) throw new ConfigError("PADDLE_API_KEY is a notification destination's secret key: set an API key (Developer tools → Authentication), and that secret as PADDLE_WEBHOOK_SECRET");
  if (/^pdl_(live|sdbx)_apikey_/.test(webhookSecret)) throw new ConfigError("PADDLE_WEBHOOK_SECRET is an API key: set the secret key of the notification destination for /webhooks/paddle (Developer tools → Notifications)");
  const keyEnvironment = /^pdl_sdbx_/.test(secretKey) ? 'sandbox' : /^pdl_live_/.test(secretKey) ? 'production' : undefined;
  if (apiBase === undefined && keyEnvironment !== undefined && keyEnvironment !== environment) {
    throw new ConfigError(
      `PADDLE_API_KEY is a ${keyEnvironment} key (${prefixOf(secretKey)}) but PADDLE_ENVIRONMENT is ${environment}${defaulted}: set PADDLE_ENVIRONMENT=${keyEnvironment}, or use a key made in Paddle's ${environment} dashboard`,
    );
  }
}
