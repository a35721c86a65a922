/**
 * Sign-up, log-in and teams: better-auth with its organization plugin (an organization is a
 * team: members with the roles owner, admin and member, invited by a link). Its tables live in
 * Tollgate's database under names of their own (auth_*), beside Tollgate's.
 */
import { betterAuth } from 'better-auth';
import { getMigrations } from 'better-auth/db/migration';
import { organization } from 'better-auth/plugins';
import { tollgateDialect, type Sql } from './database.ts';

export interface AuthOptions {
  sql: Sql;
  /** Where the app is reached, e.g. http://127.0.0.1:3100. */
  baseURL: string;
  /** Signs the session cookies: at least 32 random characters, the same in every process. */
  secret: string;
}

function authOptions({ sql, baseURL, secret }: AuthOptions) {
  return {
    baseURL,
    secret,
    database: { dialect: tollgateDialect(sql), type: 'postgres' as const, transaction: true },
    emailAndPassword: { enabled: true, autoSignIn: true, minPasswordLength: 8 },
    user: { modelName: 'auth_users' },
    session: { modelName: 'auth_sessions' },
    account: { modelName: 'auth_logins' },
    verification: { modelName: 'auth_verifications' },
    // No mail server: an invitation is a link the inviter passes on; it is sent nowhere.
    plugins: [
      organization({
        schema: { organization: { modelName: 'auth_teams' }, member: { modelName: 'auth_members' }, invitation: { modelName: 'auth_invitations' } },
      }),
    ],
    telemetry: { enabled: false },
    logger: { level: 'error' as const },
  };
}

export function createAuth(options: AuthOptions) {
  return betterAuth(authOptions(options));
}

export type Auth = ReturnType<typeof createAuth>;

/** Creates or completes better-auth's tables (what it lacks only; never drops anything). */
export async function migrateAuth(options: AuthOptions): Promise<void> {
  const { runMigrations } = await getMigrations(authOptions(options));
  await runMigrations();
}
