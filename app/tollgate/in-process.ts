/**
 * Tollgate in this process: the library's facade on the app's own database, and Tollgate's
 * server app (the /v1 API, the admin panel, the billing page, the webhooks) answering beside the
 * app's pages. The default: one process, one database, nothing else to run.
 */
import type { Billing } from 'tollgate';
import { memberName, type Tollgate, type Wire } from './tollgate.ts';

/** A value as Tollgate's HTTP API would send it, so that both ways answer alike. */
const wire = <T>(value: T): Wire<T> => JSON.parse(JSON.stringify(value)) as Wire<T>;

export interface InProcessOptions {
  billing: Billing;
  /** Tollgate's server app, served by the app in this process (tollgate/server createApp). */
  server: { fetch(request: Request): Response | Promise<Response> };
  /** Makes a billing-page link in this process (tollgate/server). */
  billingLink: Tollgate['billingLink'];
}

export function inProcessTollgate({ billing, server, billingLink }: InProcessOptions): Tollgate {
  return {
    mode: 'in-process',
    // The gate, straight to the facade: `wrap` meters through these.
    authorize: (accountId, input) => billing.authorize(accountId, input),
    settle: (holdId, usage, options) => billing.settle(holdId, usage, options),
    release: (holdId) => billing.release(holdId),

    ensureAccount: async ({ id, kind, name }) => {
      await billing.upsertAccount({ id, kind, name });
    },
    balance: async (accountId) => wire(await billing.balance(accountId)),
    // The pricing table is the public route's answer, asked of the server app without a network.
    pricing: async () => (await server.fetch(new Request('http://in-process/v1/pricing'))).json(),
    setMemberLimits: async (teamId, userId, limits, name) => {
      await billing.admin.setMemberLimits(teamId, userId, limits, { name: memberName(name) });
    },
    billingLink,
    close: () => billing.close(),
  };
}
