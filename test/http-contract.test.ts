/**
 * Every route of /v1, one by one: it answers a good request as the OpenAPI document says; it
 * refuses bad input of every kind with a 4xx that has a code and a message, and changes
 * nothing (every account's balance and reconciliation, every row); a POST honours
 * Idempotency-Key (the same key and body: the first answer again; another body: a 409). And
 * the document: valid OpenAPI 3.1, every $ref resolved, every route exercised here.
 */
import { Validator } from '@seriousme/openapi-schema-validator';
import { describe, expect, it } from 'vitest';
import { ENGINES } from './support/harness.ts';
import { apiWorld, chargedEvent, openHold, TEST_MODEL } from './support/api-world.ts';
import { exercised, useApi, type Api, type CallHeaders, type OpenApiDocument } from './support/http.ts';

interface Request {
  method: string;
  path: string;
  body?: unknown;
  headers?: CallHeaders;
}

interface RouteCase {
  /** `METHOD /template`, as in the document. */
  route: string;
  /** State the request needs, made through the library; what it returns goes to the requests. */
  setup?: (api: Api) => Promise<Record<string, string | number>>;
  /** A good request, and the status it gets. */
  good: (ctx: Record<string, string | number>) => Request;
  status: number;
  /** For a POST: another request under the same Idempotency-Key, which must be a 409. */
  other?: (ctx: Record<string, string | number>) => Request;
  /**
   * Money moved once by the request's own key (a charge, a refund, a credit, a checkout): the key
   * is required, a replay is the first result marked `replayed`, a conflict the library's `idempotency_conflict`.
   */
  effectByKey?: true;
  /** Requests naming what does not exist, with the status and code each gets. */
  unknown?: (ctx: Record<string, string | number>) => [Request, number, string][];
  /** Query parameters the route requires. */
  requiredQuery?: string[];
  /** Body fields that take values of more than one JSON type (metadata, rates): no wrong-type variant. */
  lenient?: RegExp;
  public?: boolean;
}

let keys = 0;
const key = (name: string) => ({ 'Idempotency-Key': `${name}-${++keys}` });
const usage = { inputTokens: 1_000, outputTokens: 200 };
const batchItem = (n: number) => ({ accountId: 'acme', ...TEST_MODEL, usage, idempotencyKey: `batch-${n}`, metadata: { chat: `c${n}` } });

const ROUTES: RouteCase[] = [
  { route: 'GET /pricing', public: true, good: () => ({ method: 'GET', path: '/v1/pricing' }), status: 200 },
  {
    route: 'PUT /accounts/{accountId}',
    good: () => ({ method: 'PUT', path: '/v1/accounts/newco', body: { kind: 'team', name: 'NewCo', timeZone: 'Europe/Paris' } }),
    status: 200,
    unknown: () => [[{ method: 'PUT', path: '/v1/accounts/newco', body: { kind: 'team', timeZone: 'Mars/Olympus_Mons' } }, 400, 'invalid_input']],
  },
  {
    route: 'GET /accounts/{accountId}',
    good: () => ({ method: 'GET', path: '/v1/accounts/acme' }),
    status: 200,
    unknown: () => [[{ method: 'GET', path: '/v1/accounts/ghost' }, 404, 'account_not_found']],
  },
  {
    route: 'GET /accounts/{accountId}/balance',
    setup: async (api) => {
      await api.billing.admin.setMemberLimits('acme', 'u_7', [{ window: 'month', unit: 'tokens', amount: 1_000_000 }]);
      return { hold: await openHold(api.billing) };
    },
    good: () => ({ method: 'GET', path: '/v1/accounts/acme/balance' }),
    status: 200,
    unknown: () => [[{ method: 'GET', path: '/v1/accounts/ghost/balance' }, 404, 'account_not_found']],
  },
  {
    route: 'PUT /accounts/{accountId}/auto-recharge',
    setup: async (api) => {
      await api.billing.subscribe('acme', 'plus', { idempotencyKey: 'recharge-plan' });
      return {};
    },
    good: () => ({ method: 'PUT', path: '/v1/accounts/acme/auto-recharge', body: { enabled: true, pack: 'extra-10', thresholdMicros: 1_000_000, monthlyMaxCount: 3, monthlyMaxMicros: null } }),
    status: 200,
    unknown: () => [
      [{ method: 'PUT', path: '/v1/accounts/ghost/auto-recharge', body: { enabled: true, pack: 'extra-10', thresholdMicros: 1 } }, 404, 'account_not_found'],
      [{ method: 'PUT', path: '/v1/accounts/acme/auto-recharge', body: { enabled: true, pack: 'nope', thresholdMicros: 1 } }, 404, 'pack_not_found'],
      [{ method: 'PUT', path: '/v1/accounts/acme/auto-recharge', body: { enabled: true, pack: 'extra-10', thresholdMicros: 0 } }, 400, 'invalid_input'],
    ],
  },
  {
    route: 'PUT /accounts/{accountId}/members/{userId}/limits',
    good: () => ({ method: 'PUT', path: '/v1/accounts/acme/members/u_7/limits', body: { limits: [{ window: 'day', unit: 'usd', amount: 500_000 }], name: 'Ada Lovelace' } }),
    status: 200,
    unknown: () => [
      [{ method: 'PUT', path: '/v1/accounts/ghost/members/u_7/limits', body: { limits: [] } }, 404, 'account_not_found'],
      [{ method: 'PUT', path: '/v1/accounts/acme/members/u_7/limits', body: { limits: [{ window: 'week', unit: 'usd', amount: 1 }] } }, 400, 'invalid_input'],
      ...['', ' ', 'x'.repeat(101), 'Ada\tLovelace', null].map((name): [Request, number, string] => [
        { method: 'PUT', path: '/v1/accounts/acme/members/u_7/limits', body: { limits: [], name } }, 400, 'invalid_input',
      ]),
    ],
  },
  {
    route: 'GET /accounts/{accountId}/reconciliation',
    good: () => ({ method: 'GET', path: '/v1/accounts/acme/reconciliation' }),
    status: 200,
    unknown: () => [[{ method: 'GET', path: '/v1/accounts/ghost/reconciliation' }, 404, 'account_not_found']],
  },
  {
    route: 'GET /accounts/{accountId}/usage',
    setup: async (api) => ({ event: await chargedEvent(api.billing) }),
    good: () => ({ method: 'GET', path: '/v1/accounts/acme/usage?from=2026-03-01&to=2026-04-01T00:00:00Z&groupBy=day' }),
    status: 200,
    requiredQuery: ['from', 'to'],
    unknown: () => [
      [{ method: 'GET', path: '/v1/accounts/ghost/usage?from=2026-03-01&to=2026-04-01' }, 404, 'account_not_found'],
      [{ method: 'GET', path: '/v1/accounts/acme/usage?from=2026-03-01&to=2026-04-01&groupBy=week' }, 400, 'invalid_input'],
      [{ method: 'GET', path: '/v1/accounts/acme/usage?from=2026-04-01&to=2026-03-01' }, 400, 'invalid_input'],
      [{ method: 'GET', path: '/v1/accounts/acme/usage?from=1999-01-01&to=2026-03-01' }, 400, 'invalid_input'],
      [{ method: 'GET', path: '/v1/accounts/acme/usage?from=yesterday&to=2026-03-01' }, 400, 'invalid_input'],
    ],
  },
  {
    route: 'GET /accounts/{accountId}/payments',
    setup: async (api) => {
      await api.billing.subscribe('acme', 'plus', { idempotencyKey: 'pay-plan' });
      await api.billing.purchase('acme', 'extra-10', { idempotencyKey: 'pay-pack' });
      return {};
    },
    good: () => ({ method: 'GET', path: '/v1/accounts/acme/payments' }),
    status: 200,
    unknown: () => [[{ method: 'GET', path: '/v1/accounts/ghost/payments' }, 404, 'account_not_found']],
  },
  {
    route: 'POST /accounts/{accountId}/credits',
    effectByKey: true,
    good: () => ({ method: 'POST', path: '/v1/accounts/acme/credits', body: { source: 'bonus', amountMicros: 1_000_000, reference: 'gift-1', expiresAt: '2026-06-01T00:00:00Z' }, headers: key('credit') }),
    status: 201,
    other: () => ({ method: 'POST', path: '/v1/accounts/acme/credits', body: { source: 'bonus', amountMicros: 2_000_000, reference: 'gift-1' } }),
    unknown: () => [
      [{ method: 'POST', path: '/v1/accounts/ghost/credits', body: { source: 'bonus', amountMicros: 1, reference: 'g' } }, 404, 'account_not_found'],
      [{ method: 'POST', path: '/v1/accounts/acme/credits', body: { source: 'bonus', amountMicros: 0, reference: 'g' } }, 400, 'invalid_input'],
      [{ method: 'POST', path: '/v1/accounts/acme/credits', body: { source: 'adjustment', amountMicros: 5_000_000, reference: 'welcome' } }, 409, 'idempotency_conflict'],
    ],
  },
  {
    route: 'POST /accounts/{accountId}/payments/{paymentId}/refund',
    effectByKey: true,
    setup: async (api) => {
      const { paymentRef } = (await api.billing.purchase('acme', 'extra-10', { idempotencyKey: 'refund-pack' })) as { paymentRef: string };
      return { payment: (await api.billing.payments('acme')).find((p) => p.reference === paymentRef)!.id };
    },
    good: (ctx) => ({ method: 'POST', path: `/v1/accounts/acme/payments/${ctx.payment}/refund`, body: { amountCents: 4_00 }, headers: key('payment-refund') }),
    status: 201,
    other: (ctx) => ({ method: 'POST', path: `/v1/accounts/acme/payments/${ctx.payment}/refund`, body: { amountCents: 5_00 } }),
    unknown: (ctx) => [
      [{ method: 'POST', path: '/v1/accounts/acme/payments/999999/refund', body: {}, headers: key('refund-ghost') }, 404, 'payment_not_found'],
      [{ method: 'POST', path: '/v1/accounts/ghost/payments/1/refund', body: {}, headers: key('refund-ghost-account') }, 404, 'account_not_found'],
      [{ method: 'POST', path: `/v1/accounts/acme/payments/${ctx.payment}/refund`, body: { amountCents: 10_01 }, headers: key('refund-much') }, 400, 'refund_exceeds_payment'],
      [{ method: 'POST', path: `/v1/accounts/acme/payments/${ctx.payment}/refund`, body: { amountCents: 0 }, headers: key('refund-zero') }, 400, 'invalid_input'],
      [{ method: 'POST', path: '/v1/accounts/acme/payments/abc/refund', body: {}, headers: key('refund-abc') }, 400, 'invalid_input'],
    ],
  },
  {
    route: 'POST /accounts/{accountId}/buckets/{bucketId}/take-back',
    effectByKey: true,
    setup: async (api) => ({ bonus: (await api.billing.balance('acme')).buckets.find((b) => b.source === 'bonus')!.id!, allowance: (await api.billing.balance('acme')).buckets.find((b) => b.source === 'allowance')!.id ?? 0 }),
    good: (ctx) => ({ method: 'POST', path: `/v1/accounts/acme/buckets/${ctx.bonus}/take-back`, body: { amountMicros: 500_000 }, headers: key('take-back') }),
    status: 201,
    other: (ctx) => ({ method: 'POST', path: `/v1/accounts/acme/buckets/${ctx.bonus}/take-back`, body: { amountMicros: 600_000 } }),
    unknown: (ctx) => [
      [{ method: 'POST', path: '/v1/accounts/acme/buckets/999999/take-back', body: {}, headers: key('take-back-ghost') }, 404, 'bucket_not_found'],
      [{ method: 'POST', path: `/v1/accounts/ghost/buckets/${ctx.bonus}/take-back`, body: {}, headers: key('take-back-ghost-account') }, 404, 'account_not_found'],
      [{ method: 'POST', path: `/v1/accounts/acme/buckets/${ctx.bonus}/take-back`, body: { amountMicros: 5_000_001 }, headers: key('take-back-much') }, 400, 'take_back_exceeds_remaining'],
      [{ method: 'POST', path: `/v1/accounts/acme/buckets/${ctx.allowance}/take-back`, body: {}, headers: key('take-back-paid') }, 409, 'take_back_not_allowed'],
      [{ method: 'POST', path: `/v1/accounts/acme/buckets/${ctx.bonus}/take-back`, body: { amountMicros: 0 }, headers: key('take-back-zero') }, 400, 'invalid_input'],
      [{ method: 'POST', path: '/v1/accounts/acme/buckets/abc/take-back', body: {}, headers: key('take-back-abc') }, 400, 'invalid_input'],
    ],
  },
  {
    route: 'POST /admin/expire-credit',
    good: () => ({ method: 'POST', path: '/v1/admin/expire-credit', headers: key('expire') }),
    status: 200,
    other: () => ({ method: 'POST', path: '/v1/admin/presets/tiers/apply' }),
  },
  {
    route: 'POST /accounts/{accountId}/subscription',
    effectByKey: true,
    good: () => ({ method: 'POST', path: '/v1/accounts/solo/subscription', body: { plan: 'plus' }, headers: key('subscribe') }),
    status: 200,
    other: () => ({ method: 'POST', path: '/v1/accounts/solo/subscription', body: { plan: 'free' } }),
    unknown: () => [
      [{ method: 'POST', path: '/v1/accounts/ghost/subscription', body: { plan: 'plus' } }, 404, 'account_not_found'],
      [{ method: 'POST', path: '/v1/accounts/solo/subscription', body: { plan: 'nope' } }, 404, 'plan_not_found'],
    ],
  },
  {
    route: 'POST /accounts/{accountId}/subscription/cancel',
    effectByKey: true,
    good: () => ({ method: 'POST', path: '/v1/accounts/acme/subscription/cancel', body: { immediately: false }, headers: key('cancel') }),
    status: 200,
    other: () => ({ method: 'POST', path: '/v1/accounts/acme/subscription/cancel', body: { immediately: true } }),
    unknown: () => [
      [{ method: 'POST', path: '/v1/accounts/ghost/subscription/cancel', body: {} }, 404, 'account_not_found'],
      [{ method: 'POST', path: '/v1/accounts/solo/subscription/cancel', body: {} }, 409, 'no_subscription'],
    ],
  },
  {
    route: 'POST /accounts/{accountId}/portal',
    good: () => ({ method: 'POST', path: '/v1/accounts/acme/portal', body: { returnUrl: 'https://app.example/billing' }, headers: key('portal') }),
    status: 200,
    other: () => ({ method: 'POST', path: '/v1/accounts/acme/portal', body: { returnUrl: 'https://app.example/account' } }),
    unknown: () => [
      [{ method: 'POST', path: '/v1/accounts/ghost/portal', body: { returnUrl: 'https://app.example/billing' } }, 404, 'account_not_found'],
      [{ method: 'POST', path: '/v1/accounts/acme/portal', body: { returnUrl: 'javascript:alert(1)' } }, 400, 'invalid_input'],
    ],
  },
  {
    route: 'POST /accounts/{accountId}/billing-sessions',
    good: () => ({ method: 'POST', path: '/v1/accounts/acme/billing-sessions', body: { returnUrl: 'https://app.example/', userId: 'u_7', role: 'owner' }, headers: key('billing-session') }),
    status: 201,
    other: () => ({ method: 'POST', path: '/v1/accounts/acme/billing-sessions', body: { returnUrl: 'https://app.example/', role: 'member' } }),
    unknown: () => [
      [{ method: 'POST', path: '/v1/accounts/ghost/billing-sessions', body: { returnUrl: 'https://app.example/' } }, 404, 'account_not_found'],
      [{ method: 'POST', path: '/v1/accounts/acme/billing-sessions', body: { returnUrl: 'javascript:alert(1)' } }, 400, 'invalid_input'],
    ],
  },
  {
    route: 'POST /accounts/{accountId}/purchases',
    effectByKey: true,
    good: () => ({ method: 'POST', path: '/v1/accounts/acme/purchases', body: { pack: 'extra-10' }, headers: key('purchase') }),
    status: 201,
    other: () => ({ method: 'POST', path: '/v1/accounts/solo/purchases', body: { pack: 'extra-10' } }),
    unknown: () => [
      [{ method: 'POST', path: '/v1/accounts/ghost/purchases', body: { pack: 'extra-10' } }, 404, 'account_not_found'],
      [{ method: 'POST', path: '/v1/accounts/acme/purchases', body: { pack: 'nope' } }, 404, 'pack_not_found'],
      [{ method: 'POST', path: '/v1/accounts/solo/purchases', body: { pack: 'extra-10' } }, 409, 'pack_requires_plan'],
    ],
  },
  {
    route: 'POST /accounts/{accountId}/authorize',
    good: () => ({ method: 'POST', path: '/v1/accounts/acme/authorize', body: { ...TEST_MODEL, inputTokens: 1_000, maxOutputTokens: 500, userId: 'u_7' }, headers: key('authorize') }),
    status: 201,
    other: () => ({ method: 'POST', path: '/v1/accounts/acme/authorize', body: { ...TEST_MODEL, inputTokens: 2_000 } }),
    unknown: () => [
      [{ method: 'POST', path: '/v1/accounts/ghost/authorize', body: TEST_MODEL }, 404, 'account_not_found'],
      [{ method: 'POST', path: '/v1/accounts/acme/authorize', body: { ...TEST_MODEL, inputTokens: 1_000_000_001 } }, 400, 'invalid_input'],
      [{ method: 'POST', path: '/v1/accounts/acme/authorize', body: { ...TEST_MODEL, inputTokens: -1 } }, 400, 'invalid_input'],
      [{ method: 'POST', path: '/v1/accounts/acme/authorize', body: { ...TEST_MODEL, inputTokens: 1.5 } }, 400, 'invalid_input'],
    ],
  },
  {
    route: 'POST /holds/{holdId}/settle',
    effectByKey: true,
    setup: async (api) => ({ hold: await openHold(api.billing), other: await openHold(api.billing) }),
    good: (ctx) => ({ method: 'POST', path: `/v1/holds/${ctx.hold}/settle`, body: { usage, metadata: { chat: 'c1', turn: 3 } }, headers: key('settle') }),
    status: 200,
    lenient: /^metadata\./,
    other: (ctx) => ({ method: 'POST', path: `/v1/holds/${ctx.hold}/settle`, body: { usage: { ...usage, outputTokens: 300 } } }),
    unknown: (ctx) => [
      [{ method: 'POST', path: '/v1/holds/hold_not_one_of_ours/settle', body: { usage }, headers: key('settle') }, 404, 'hold_not_found'],
      [{ method: 'POST', path: `/v1/holds/${String(ctx.hold).slice(0, -2)}xx/settle`, body: { usage }, headers: key('settle') }, 404, 'hold_not_found'],
      [{ method: 'POST', path: `/v1/holds/${ctx.hold}/settle`, body: { usage }, headers: { 'Idempotency-Key': null } }, 400, 'invalid_input'],
      [{ method: 'POST', path: `/v1/holds/${ctx.hold}/settle`, body: { usage: { inputTokens: 10, outputTokens: 0, cacheReadTokens: 11 } }, headers: key('settle') }, 400, 'invalid_input'],
    ],
  },
  {
    route: 'POST /holds/{holdId}/release',
    setup: async (api) => ({ hold: await openHold(api.billing), other: await openHold(api.billing) }),
    good: (ctx) => ({ method: 'POST', path: `/v1/holds/${ctx.hold}/release`, headers: key('release') }),
    status: 200,
    other: (ctx) => ({ method: 'POST', path: `/v1/holds/${ctx.other}/release` }),
    unknown: () => [[{ method: 'POST', path: '/v1/holds/hold_not_one_of_ours/release' }, 404, 'hold_not_found']],
  },
  {
    route: 'POST /accounts/{accountId}/usage-records',
    effectByKey: true,
    good: () => ({ method: 'POST', path: '/v1/accounts/acme/usage-records', body: { ...TEST_MODEL, usage, userId: 'u_7', metadata: { chat: 'c1' } }, headers: key('record') }),
    status: 200,
    lenient: /^metadata\./,
    other: () => ({ method: 'POST', path: '/v1/accounts/acme/usage-records', body: { ...TEST_MODEL, usage: { ...usage, inputTokens: 5 } } }),
    unknown: () => [
      [{ method: 'POST', path: '/v1/accounts/ghost/usage-records', body: { ...TEST_MODEL, usage }, headers: key('record') }, 404, 'account_not_found'],
      [{ method: 'POST', path: '/v1/accounts/acme/usage-records', body: { model: 'no-such-model', usage }, headers: key('record') }, 400, 'unknown_model'],
      [{ method: 'POST', path: '/v1/accounts/acme/usage-records', body: { ...TEST_MODEL, usage }, headers: { 'Idempotency-Key': null } }, 400, 'invalid_input'],
      [{ method: 'POST', path: '/v1/accounts/acme/usage-records', body: { ...TEST_MODEL, usage }, headers: { 'Idempotency-Key': 'k'.repeat(201) } }, 400, 'invalid_input'],
      [{ method: 'POST', path: '/v1/accounts/acme/usage-records', body: { ...TEST_MODEL, usage, metadata: { big: 'x'.repeat(8_001) } }, headers: key('record') }, 400, 'invalid_input'],
      [{ method: 'POST', path: '/v1/accounts/acme/usage-records', body: { ...TEST_MODEL, usage: { ...usage, cacheReadTokens: usage.inputTokens + 1 } }, headers: key('record') }, 400, 'invalid_input'],
    ],
  },
  {
    route: 'POST /usage-records/batch',
    good: () => ({ method: 'POST', path: '/v1/usage-records/batch', body: { items: [batchItem(1), batchItem(2)] }, headers: key('batch') }),
    status: 200,
    lenient: /\.metadata\./,
    other: () => ({ method: 'POST', path: '/v1/usage-records/batch', body: { items: [batchItem(3)] } }),
    unknown: () => [
      [{ method: 'POST', path: '/v1/usage-records/batch', body: { items: [batchItem(1), { ...batchItem(2), accountId: 'ghost' }] } }, 404, 'account_not_found'],
      [{ method: 'POST', path: '/v1/usage-records/batch', body: { items: [batchItem(1), { ...batchItem(2), model: 'no-such-model' }] } }, 400, 'unknown_model'],
      [{ method: 'POST', path: '/v1/usage-records/batch', body: { items: [batchItem(1), { ...batchItem(1), usage: { inputTokens: 1, outputTokens: 0 } }] } }, 409, 'idempotency_conflict'],
      [{ method: 'POST', path: '/v1/usage-records/batch', body: { items: Array.from({ length: 1_001 }, (_, i) => batchItem(i)) } }, 400, 'invalid_input'],
    ],
  },
  {
    route: 'POST /refunds',
    effectByKey: true,
    setup: async (api) => ({ event: await chargedEvent(api.billing) }),
    good: (ctx) => ({ method: 'POST', path: '/v1/refunds', body: { usageEventId: ctx.event, amountMicros: 500_000 }, headers: key('refund') }),
    status: 201,
    other: (ctx) => ({ method: 'POST', path: '/v1/refunds', body: { usageEventId: ctx.event, amountMicros: 600_000 } }),
    unknown: (ctx) => [
      [{ method: 'POST', path: '/v1/refunds', body: { usageEventId: 999_999 } }, 404, 'usage_event_not_found'],
      [{ method: 'POST', path: '/v1/refunds', body: { usageEventId: ctx.event, amountMicros: 2_000_001 } }, 400, 'refund_exceeds_charge'],
      [{ method: 'POST', path: '/v1/refunds', body: { usageEventId: 0 } }, 400, 'invalid_input'],
    ],
  },
  {
    route: 'GET /admin/plans',
    good: () => ({ method: 'GET', path: '/v1/admin/plans?status=active' }),
    status: 200,
    unknown: () => [[{ method: 'GET', path: '/v1/admin/plans?status=gone' }, 400, 'invalid_input']],
  },
  {
    route: 'POST /admin/plans',
    good: () => ({
      method: 'POST', path: '/v1/admin/plans',
      body: {
        slug: 'team', name: 'Team', priceCents: 50_00, surchargeCents: 10_00, limits: [{ window: 'day', unit: 'tokens', amount: 1_000_000 }],
        overage: 'credits', models: ['gpt-4o*', 'claude-*'], processorPrices: { stripe: 'price_123' }, public: true, sort: 2,
      },
      headers: key('plan'),
    }),
    status: 201,
    other: () => ({ method: 'POST', path: '/v1/admin/plans', body: { slug: 'team', name: 'Team', priceCents: 60_00 } }),
    unknown: () => [
      [{ method: 'POST', path: '/v1/admin/plans', body: { slug: 'plus', name: 'Plus again', priceCents: 1 } }, 409, 'slug_taken'],
      [{ method: 'POST', path: '/v1/admin/plans', body: { slug: 'Bad Slug', name: 'x', priceCents: 1 } }, 400, 'invalid_input'],
      [{ method: 'POST', path: '/v1/admin/plans', body: { slug: 'cheap', name: 'x', priceCents: 100, surchargeCents: 200 } }, 400, 'invalid_input'],
    ],
  },
  {
    route: 'GET /admin/plans/{slug}',
    good: () => ({ method: 'GET', path: '/v1/admin/plans/plus' }),
    status: 200,
    unknown: () => [[{ method: 'GET', path: '/v1/admin/plans/nope' }, 404, 'plan_not_found']],
  },
  {
    route: 'PATCH /admin/plans/{slug}',
    good: () => ({ method: 'PATCH', path: '/v1/admin/plans/plus', body: { name: 'Plus 2', includedMicros: 15_000_000, limits: [{ window: 'month', unit: 'usd', amount: 30_000_000 }] } }),
    status: 200,
    unknown: () => [
      [{ method: 'PATCH', path: '/v1/admin/plans/nope', body: { name: 'x' } }, 404, 'plan_not_found'],
      [{ method: 'PATCH', path: '/v1/admin/plans/plus', body: { surchargeCents: 100_00 } }, 400, 'invalid_input'],
    ],
  },
  {
    route: 'GET /admin/packs',
    good: () => ({ method: 'GET', path: '/v1/admin/packs' }),
    status: 200,
    unknown: () => [[{ method: 'GET', path: '/v1/admin/packs?status=legacy' }, 400, 'invalid_input']],
  },
  {
    route: 'POST /admin/packs',
    good: () => ({
      method: 'POST', path: '/v1/admin/packs',
      body: { slug: 'big', name: 'Big pack', priceCents: 50_00, valueMicros: 60_000_000, expiresAfterDays: 365, requiresPlan: false, processorPrices: { stripe: 'price_9' }, public: true, sort: 3 },
      headers: key('pack'),
    }),
    status: 201,
    other: () => ({ method: 'POST', path: '/v1/admin/packs', body: { slug: 'big', name: 'Big pack', priceCents: 40_00 } }),
    unknown: () => [
      [{ method: 'POST', path: '/v1/admin/packs', body: { slug: 'extra-10', name: 'x', priceCents: 1 } }, 409, 'slug_taken'],
      [{ method: 'POST', path: '/v1/admin/packs', body: { slug: 'free-pack', name: 'x', priceCents: 0 } }, 400, 'invalid_input'],
      [{ method: 'POST', path: '/v1/admin/packs', body: { slug: 'ten-years', name: 'x', priceCents: 1, expiresAfterDays: 3_651 } }, 400, 'invalid_input'],
    ],
  },
  {
    route: 'GET /admin/packs/{slug}',
    good: () => ({ method: 'GET', path: '/v1/admin/packs/extra-10' }),
    status: 200,
    unknown: () => [[{ method: 'GET', path: '/v1/admin/packs/nope' }, 404, 'pack_not_found']],
  },
  {
    route: 'PATCH /admin/packs/{slug}',
    good: () => ({ method: 'PATCH', path: '/v1/admin/packs/extra-10', body: { valueMicros: 12_000_000, expiresAfterDays: null } }),
    status: 200,
    unknown: () => [
      [{ method: 'PATCH', path: '/v1/admin/packs/nope', body: { name: 'x' } }, 404, 'pack_not_found'],
      [{ method: 'PATCH', path: '/v1/admin/packs/extra-10', body: { expiresAfterDays: 0 } }, 400, 'invalid_input'],
    ],
  },
  { route: 'GET /admin/settings', good: () => ({ method: 'GET', path: '/v1/admin/settings' }), status: 200 },
  {
    route: 'GET /admin/analytics',
    setup: async (api) => ({ event: await chargedEvent(api.billing) }),
    good: () => ({ method: 'GET', path: '/v1/admin/analytics?from=2026-03-01&to=2026-04-01T00:00:00Z' }),
    status: 200,
    requiredQuery: ['from', 'to'],
    unknown: () => [
      [{ method: 'GET', path: '/v1/admin/analytics?from=2026-04-01&to=2026-03-01' }, 400, 'invalid_input'],
      [{ method: 'GET', path: '/v1/admin/analytics?from=2020-01-01&to=2026-03-01' }, 400, 'invalid_input'],
      [{ method: 'GET', path: '/v1/admin/analytics?from=yesterday&to=2026-03-01' }, 400, 'invalid_input'],
    ],
  },
  {
    route: 'GET /admin/checks',
    setup: async (api) => {
      await api.billing.admin.createPack({ slug: 'dear', name: 'Dear', priceCents: 10_00, valueMicros: 1_000_000, public: false });
      return {};
    },
    good: () => ({ method: 'GET', path: '/v1/admin/checks' }),
    status: 200,
  },
  {
    route: 'PATCH /admin/settings',
    good: () => ({
      method: 'PATCH', path: '/v1/admin/settings',
      body: { marginBps: 4000, displayUnit: 'usd', creditValueMicros: 20_000, defaultPlan: 'free', unknownModelPolicy: 'fallback', fallbackRates: { input: '3', output: 15, cacheRead: { base: '0.3', tiers: [{ start: 200_000, price: 0.6 }] } }, minHoldMicros: 5_000, holdTtlSeconds: 600 },
    }),
    status: 200,
    lenient: /^fallbackRates\.(input|output|cacheRead\.base|cacheRead\.tiers\.0\.price)$/,
    unknown: () => [
      [{ method: 'PATCH', path: '/v1/admin/settings', body: { defaultPlan: 'nope' } }, 404, 'plan_not_found'],
      [{ method: 'PATCH', path: '/v1/admin/settings', body: { marginBps: 10_000 } }, 400, 'invalid_input'],
      [{ method: 'PATCH', path: '/v1/admin/settings', body: { unknownModelPolicy: 'fallback' } }, 400, 'invalid_input'],
    ],
  },
  {
    route: 'POST /admin/model-prices',
    good: () => ({ method: 'POST', path: '/v1/admin/model-prices', body: { provider: 'openai', model: 'gpt-4o-mini', effectiveFrom: '2026-03-01T00:00:00Z', rates: { input: '0.1', output: 0.4, requests: '1' } }, headers: key('price') }),
    status: 201,
    lenient: /^rates\.(input|output|requests)$/,
    other: () => ({ method: 'POST', path: '/v1/admin/model-prices', body: { provider: 'openai', model: 'gpt-4o-mini', effectiveFrom: '2026-03-01T00:00:00Z', rates: { input: '0.2', output: 0.4 } } }),
    unknown: () => [
      [{ method: 'POST', path: '/v1/admin/model-prices', body: { model: 'm', effectiveFrom: '2026-03-01', rates: { input: '-1', output: '1' } } }, 400, 'invalid_input'],
      [{ method: 'POST', path: '/v1/admin/model-prices', body: { model: 'm', effectiveFrom: '2026-03-01', rates: { input: { base: '1', tiers: [] }, output: '1' } } }, 400, 'invalid_input'],
    ],
  },
  {
    route: 'POST /admin/model-prices/remove',
    setup: async (api) => {
      await api.billing.admin.setModelPrice({ provider: 'openai', model: 'gpt-4o-mini', effectiveFrom: '2026-03-01T00:00:00Z', rates: { input: '0.1', output: '0.4' } });
      return {};
    },
    good: () => ({ method: 'POST', path: '/v1/admin/model-prices/remove', body: { provider: 'openai', model: 'gpt-4o-mini', effectiveFrom: '2026-03-01T00:00:00Z' }, headers: key('price-remove') }),
    status: 200,
    other: () => ({ method: 'POST', path: '/v1/admin/model-prices/remove', body: { provider: 'openai', model: 'gpt-4o', effectiveFrom: '2026-03-01T00:00:00Z' } }),
    unknown: () => [
      [{ method: 'POST', path: '/v1/admin/model-prices/remove', body: { provider: 'openai', model: 'gpt-4o-mini', effectiveFrom: '2026-02-01T00:00:00Z' } }, 404, 'model_price_not_found'],
      [{ method: 'POST', path: '/v1/admin/model-prices/remove', body: { model: '', effectiveFrom: '2026-03-01' } }, 400, 'invalid_input'],
    ],
  },
  {
    route: 'GET /admin/plans/{slug}/versions',
    setup: async (api) => (await api.billing.admin.updatePlan('plus', { priceCents: 30_00 }), {}),
    good: () => ({ method: 'GET', path: '/v1/admin/plans/plus/versions' }),
    status: 200,
    unknown: () => [[{ method: 'GET', path: '/v1/admin/plans/nope/versions' }, 404, 'plan_not_found']],
  },
  {
    route: 'POST /admin/plans/{slug}/versions/move',
    setup: async (api) => (await api.billing.admin.updatePlan('plus', { priceCents: 30_00 }), {}),
    good: () => ({ method: 'POST', path: '/v1/admin/plans/plus/versions/move', body: { accountId: 'acme', when: 'renewal' }, headers: key('move') }),
    status: 200,
    other: () => ({ method: 'POST', path: '/v1/admin/plans/plus/versions/move', body: { when: 'now' } }),
    unknown: () => [
      [{ method: 'POST', path: '/v1/admin/plans/nope/versions/move', body: { when: 'now' } }, 404, 'plan_not_found'],
      [{ method: 'POST', path: '/v1/admin/plans/plus/versions/move', body: { accountId: 'solo', when: 'now' } }, 400, 'invalid_input'],
    ],
  },
  {
    route: 'POST /admin/plans/{slug}/versions/move/call-off',
    setup: async (api) => {
      await api.billing.admin.updatePlan('plus', { priceCents: 30_00 });
      await api.billing.admin.moveToCurrentVersion('plus', { accountId: 'acme', when: 'renewal' });
      return {};
    },
    good: () => ({ method: 'POST', path: '/v1/admin/plans/plus/versions/move/call-off', body: { accountId: 'acme' }, headers: key('call-off') }),
    status: 200,
    other: () => ({ method: 'POST', path: '/v1/admin/plans/plus/versions/move/call-off', body: { accountId: 'solo' } }),
    unknown: () => [[{ method: 'POST', path: '/v1/admin/plans/plus/versions/move/call-off', body: { accountId: 'solo' } }, 400, 'invalid_input']],
  },
  {
    route: 'POST /admin/presets/{mode}/apply',
    good: () => ({ method: 'POST', path: '/v1/admin/presets/tiers/apply', body: { subscribers: 'renewal' }, headers: key('preset') }),
    status: 200,
    other: () => ({ method: 'POST', path: '/v1/admin/presets/credit-packs/apply' }),
    unknown: () => [[{ method: 'POST', path: '/v1/admin/presets/cheap/apply' }, 400, 'invalid_input']],
  },
  {
    route: 'POST /admin/processors/{processor}/sync',
    good: () => ({ method: 'POST', path: '/v1/admin/processors/fake/sync', headers: key('sync') }),
    status: 200,
    other: () => ({ method: 'POST', path: '/v1/admin/processors/paddle/sync' }),
    unknown: () => [[{ method: 'POST', path: '/v1/admin/processors/stripe/sync' }, 409, 'processor_not_configured']],
  },
];

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Every field of a body, nested ones too (an array by its first item), as paths. */
function fieldPaths(value: Json, path: (string | number)[] = []): { path: (string | number)[]; value: Json }[] {
  if (Array.isArray(value)) return value.length > 0 ? [{ path, value }, ...fieldPaths(value[0]!, [...path, 0])] : [{ path, value }];
  if (value !== null && typeof value === 'object') {
    const own = path.length > 0 ? [{ path, value }] : [];
    return [...own, ...Object.entries(value).flatMap(([k, v]) => fieldPaths(v, [...path, k]))];
  }
  return [{ path, value }];
}

function withField(body: Json, path: (string | number)[], replace: (value: Json) => Json | undefined): Json {
  const copy = structuredClone(body) as Record<string | number, Json>;
  let at: Record<string | number, Json> = copy;
  for (const step of path.slice(0, -1)) at = at[step] as Record<string | number, Json>;
  const last = path.at(-1)!;
  const next = replace(at[last]!);
  if (next === undefined) delete at[last];
  else at[last] = next;
  return copy;
}

/** A value of another JSON type than `value`. */
function wrongType(value: Json): Json {
  if (typeof value === 'string') return 12_345;
  if (typeof value === 'number') return String(value);
  if (typeof value === 'boolean') return 'true';
  if (Array.isArray(value)) return { not: 'a list' };
  return 'not an object';
}

function resolve(doc: OpenApiDocument, schema: { $ref?: string; required?: string[] }): { required?: string[] } {
  if (!schema.$ref) return schema;
  return doc.components.schemas[schema.$ref.replace('#/components/schemas/', '')] as { required?: string[] };
}

/** Bad variants of a good request: every kind of bad input the API must refuse with a 4xx, changing nothing. */
function badVariants(doc: OpenApiDocument, c: RouteCase, good: Request): [string, Request, number, string][] {
  const [method, template] = c.route.split(' ') as [string, string];
  const operation = doc.paths[template]![method.toLowerCase()]!;
  const fresh = (headers: CallHeaders = {}) => ({ ...good.headers, ...(good.headers?.['Idempotency-Key'] ? key('bad') : {}), ...headers });
  const variants: [string, Request, number, string][] = [];
  if (!c.public) {
    variants.push(['no key', { ...good, headers: fresh({ Authorization: null }) }, 401, 'unauthorized']);
    variants.push(['a wrong key', { ...good, headers: fresh({ Authorization: 'Bearer tg_sk_wrong_0123456789abcdefghij' }) }, 401, 'unauthorized']);
    variants.push(['a key not as a Bearer token', { ...good, headers: fresh({ Authorization: 'tg_sk_test_0123456789abcdefghijkl' }) }, 401, 'unauthorized']);
  }
  // Path parameters with a NUL.
  const segments = template.split('/');
  const actual = good.path.split('?')[0]!.replace(/^\/v1/, '').split('/');
  segments.forEach((segment, i) => {
    if (!segment.startsWith('{')) return;
    const query = good.path.includes('?') ? `?${good.path.split('?')[1]}` : '';
    const path = `/v1${actual.map((s, j) => (j === i ? `${s}%00` : s)).join('/')}${query}`;
    variants.push([`${segment} with a NUL`, { ...good, path, headers: fresh() }, 400, 'invalid_input']);
  });
  // Query parameters: each required one missing, an unknown one, a NUL.
  if (good.path.includes('?') || c.requiredQuery) {
    const [base, query = ''] = good.path.split('?') as [string, string?];
    const params = new URLSearchParams(query);
    for (const name of c.requiredQuery ?? []) {
      const without = new URLSearchParams(params);
      without.delete(name);
      variants.push([`no ${name}`, { ...good, path: `${base}?${without}` }, 400, 'invalid_input']);
    }
    const extra = new URLSearchParams(params);
    extra.set('bogus', '1');
    variants.push(['an unknown query parameter', { ...good, path: `${base}?${extra}` }, 400, 'invalid_input']);
    for (const [name, value] of params) {
      const nul = new URLSearchParams(params);
      nul.set(name, `${value}\u0000`);
      variants.push([`${name} with a NUL`, { ...good, path: `${base}?${nul}` }, 400, 'invalid_input']);
    }
  }
  if (good.body !== undefined) {
    const body = good.body as Json;
    variants.push(['a body that is not JSON', { ...good, body: '{"kind": "team",', headers: fresh() }, 400, 'invalid_json']);
    variants.push(['a body not sent as JSON', { ...good, body: JSON.stringify(body), headers: fresh({ 'Content-Type': 'text/plain' }) }, 415, 'unsupported_media_type']);
    variants.push(['a form instead of JSON', { ...good, body: 'kind=team', headers: fresh({ 'Content-Type': 'application/x-www-form-urlencoded' }) }, 415, 'unsupported_media_type']);
    variants.push(['a list instead of an object', { ...good, body: [body], headers: fresh() }, 400, 'invalid_input']);
    variants.push(['null instead of an object', { ...good, body: 'null', headers: fresh() }, 400, 'invalid_input']);
    variants.push(['an unknown field', { ...good, body: { ...(body as object), bogus: 1 }, headers: fresh() }, 400, 'invalid_input']);
    variants.push(['an unknown field named with a NUL and a lone surrogate', { ...good, body: { ...(body as object), 'bo\u0000gus\ud800': 1 }, headers: fresh() }, 400, 'invalid_input']);
    const schema = resolve(doc, (operation.requestBody as { content: Record<string, { schema: { $ref?: string } }> }).content['application/json']!.schema);
    for (const field of schema.required ?? []) {
      variants.push([`no ${field}`, { ...good, body: withField(body, [field], () => undefined), headers: fresh() }, 400, 'invalid_input']);
    }
    for (const { path, value } of fieldPaths(body)) {
      const name = path.join('.');
      if (value === null) continue;
      if (!c.lenient?.test(name)) variants.push([`${name} of a wrong type`, { ...good, body: withField(body, path, wrongType), headers: fresh() }, 400, 'invalid_input']);
      if (typeof value === 'string') {
        variants.push([`${name} with a NUL`, { ...good, body: withField(body, path, (v) => `${v as string}\u0000`), headers: fresh() }, 400, 'invalid_input']);
        variants.push([`${name} with a lone surrogate`, { ...good, body: withField(body, path, (v) => `${v as string}\ud83d`), headers: fresh() }, 400, 'invalid_input']);
      }
    }
  }
  return variants;
}

/** The document every app serves, read once: the bad variants of each route come from it. */
let doc: OpenApiDocument | undefined;

for (const engine of ENGINES) {
  describe(`the /v1 API on ${engine.name}`, () => {
    const api = useApi(engine);

    for (const c of ROUTES) {
      it(`${c.route}: answers a good request, refuses bad input of every kind, changing nothing${c.route.startsWith('POST') ? ', and honours Idempotency-Key' : ''}`, async () => {
        await apiWorld(api.billing);
        const ctx = (await c.setup?.(api)) ?? {};
        const good = c.good(ctx);
        doc ??= (await (await api.app.request('/v1/openapi.json')).json()) as OpenApiDocument;

        const variants = badVariants(doc, c, good);
        const refused = await api.refusals();
        for (const [what, request, status, code] of variants) {
          const reply = await refused(status, code, request.method, request.path, request.body, request.headers);
          expect(reply.body.error.message, what).not.toMatch(/\u0000|[\ud800-\udfff]/);
        }
        if (c.effectByKey) {
          await refused(400, 'invalid_input', good.method, good.path, good.body, { ...good.headers, 'Idempotency-Key': null });
          await refused(400, 'invalid_input', good.method, good.path, good.body, { ...good.headers, 'Idempotency-Key': 'k'.repeat(201) });
        }
        for (const [request, status, code] of c.unknown?.(ctx) ?? []) {
          await refused(status, code, request.method, request.path, request.body, { ...(request.method === 'POST' ? key('unknown') : {}), ...request.headers });
        }

        const first = await api.call(good.method, good.path, good.body, good.headers);
        expect(first.status, JSON.stringify(first.body)).toBe(c.status);
        expect(first.headers.get('Idempotent-Replayed')).toBeNull();

        if (good.method === 'POST') {
          const before = await api.state();
          const again = await api.call(good.method, good.path, good.body, good.headers);
          expect(again.status).toBe(first.status);
          expect(again.body).toEqual(c.effectByKey ? { ...first.body, replayed: true } : first.body);
          expect(again.headers.get('Idempotent-Replayed')).toBe('true');
          const other = c.other!(ctx);
          const conflict = await api.call(other.method, other.path, other.body, { ...other.headers, 'Idempotency-Key': good.headers!['Idempotency-Key']! });
          expect({ status: conflict.status, type: conflict.body.error.type, code: conflict.body.error.code }).toEqual({
            status: 409, type: 'idempotency_error', code: c.effectByKey ? 'idempotency_conflict' : 'idempotency_key_reused',
          });
          expect(await api.state()).toEqual(before);
        }
      });
    }

    it('refuses a member\'s bad name with a 400 that says what is wrong with it, and keeps the name stored', async () => {
      await apiWorld(api.billing);
      const path = '/v1/accounts/acme/members/u_7/limits';
      const limits = [{ window: 'day', unit: 'usd', amount: 500_000 }];
      expect((await api.call('PUT', path, { limits, name: ' Ada Lovelace ' })).body).toMatchObject({ userId: 'u_7', name: 'Ada Lovelace' });
      for (const [name, said] of [['   ', 'name: must not be empty'], ['x'.repeat(101), 'name: must be at most 100 characters'], ['Ada\nLovelace', 'name: must not contain control characters']] as const) {
        const reply = await api.call('PUT', path, { limits, name });
        expect(reply.status, name).toBe(400);
        expect(reply.body.error, name).toMatchObject({ code: 'invalid_input', message: expect.stringContaining(said) });
      }
      expect((await api.call('PUT', path, { limits })).body).toMatchObject({ name: 'Ada Lovelace' });
      expect((await api.call('GET', '/v1/accounts/acme/balance')).body.members).toEqual([expect.objectContaining({ userId: 'u_7', name: 'Ada Lovelace' })]);
    });

    it('serves a valid OpenAPI 3.1 document whose every $ref resolves, and whose every route has been exercised', async () => {
      const reply = await api.call('GET', '/v1/openapi.json', undefined, { Authorization: null });
      expect(reply.status).toBe(200);
      const doc = reply.body as OpenApiDocument;
      expect(doc.openapi).toBe('3.1.0');
      expect(doc.servers).toEqual([{ url: '/v1' }]);
      const validation = await new Validator().validate(doc as never);
      expect(validation.errors ?? []).toEqual([]);
      expect(validation.valid).toBe(true);

      const refs: string[] = [];
      const walk = (node: unknown) => {
        if (Array.isArray(node)) node.forEach(walk);
        else if (node && typeof node === 'object') {
          for (const [k, v] of Object.entries(node)) {
            if (k === '$ref' && typeof v === 'string') refs.push(v);
            else walk(v);
          }
        }
      };
      walk(doc);
      expect(refs.length).toBeGreaterThan(20);
      for (const ref of new Set(refs)) {
        expect(ref, 'a local reference').toMatch(/^#\//);
        const target = ref.slice(2).split('/').reduce<unknown>((at, step) => (at as Record<string, unknown> | undefined)?.[step.replace(/~1/g, '/').replace(/~0/g, '~')], doc);
        expect(target, `${ref} resolves`).toBeDefined();
      }

      const documented: string[] = [];
      for (const [path, operations] of Object.entries(doc.paths)) {
        for (const [method, operation] of Object.entries(operations)) {
          documented.push(`${method.toUpperCase()} ${path}`);
          expect(Object.keys(operation.responses).length, `${method} ${path} has responses`).toBeGreaterThan(0);
          expect(Object.keys(operation.responses).some((s) => s.startsWith('2')), `${method} ${path} documents its success`).toBe(true);
          for (const [status, response] of Object.entries(operation.responses)) {
            expect(response.content?.['application/json']?.schema, `${method} ${path} ${status} has a JSON schema`).toBeDefined();
          }
        }
      }
      expect(documented.sort()).toEqual(ROUTES.map((r) => r.route).sort());
      // The routes above ran before this test, and every response was checked against the document as it came.
      expect([...exercised].sort()).toEqual(documented.sort());
    });
  });
}
