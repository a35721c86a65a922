/**
 * The API's schemas are the library's: for every route with a body, fast-check draws request
 * bodies from the route's own OpenAPI schema (valid ones, and ones with a field mutated: left
 * out, of another type, out of range, empty, with a NUL or half an emoji, an unknown field…) and
 * sends each over HTTP to one world while the library gets the same input in a twin world,
 * kept in step. Each time:
 *
 * - the HTTP answer is the library's: both succeed, or both fail with the same code (a 4xx
 *   invalid_input exactly when the library refuses the input), and an HTTP refusal names every
 *   problem the library named;
 * - the document agrees: what the library's parse accepts, the document accepts, and what the
 *   document accepts and the library's parse refuses is refused only for a rule the document
 *   states in words (a NUL, a cross-field bound, a date's range, a rate's digits).
 *
 * Parsing does not depend on the engine: this runs on PGlite only.
 */
import Ajv2020Module from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BillingError, type Billing } from '../src/index.ts';
import { createBillingSession } from '../src/server/index.ts';
import { apiWorld, chargedEvent, openHold } from './support/api-world.ts';
import { ENGINES, useBilling } from './support/harness.ts';
import { useApi, type OpenApiDocument } from './support/http.ts';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Schema = Record<string, unknown>;

/** How many bodies each route gets: more with SCHEMA_CONTRACT_RUNS. */
const RUNS = Number(process.env.SCHEMA_CONTRACT_RUNS ?? 40);

// ---------------------------------------------------------------------------------------------
// Bodies from a route's schema

/** A value the JSON schema `schema` takes (with `$ref`s into the document's components). */
function arbitraryOf(schema: Schema, doc: OpenApiDocument): fc.Arbitrary<Json> {
  if (typeof schema.$ref === 'string') return arbitraryOf(resolve(doc, schema), doc);
  if (Array.isArray(schema.allOf)) return arbitraryOf(schema.allOf[0] as Schema, doc);
  if (Array.isArray(schema.enum)) return fc.constantFrom(...(schema.enum as Json[]));
  const { anyOf, type, ...rest } = schema;
  if (Array.isArray(type)) return fc.oneof(...type.map((t) => arbitraryOf({ ...rest, ...(anyOf ? { anyOf } : {}), type: t }, doc)));
  if (Array.isArray(anyOf)) return fc.oneof(...(anyOf as Schema[]).map((branch) => arbitraryOf({ ...(type ? { type } : {}), ...rest, ...branch }, doc)));
  const example = schema.example as Json | undefined;
  const orExample = (arbitrary: fc.Arbitrary<Json>) => (example === undefined ? arbitrary : fc.oneof(fc.constant(example), arbitrary));
  switch (type) {
    case 'null':
      return fc.constant(null);
    case 'boolean':
      return fc.boolean();
    case 'integer': {
      const min = schema.exclusiveMinimum !== undefined ? (schema.exclusiveMinimum as number) + 1 : ((schema.minimum as number | undefined) ?? -1_000);
      const max = (schema.maximum as number | undefined) ?? 1_000_000;
      const any = fc.bigInt({ min: BigInt(min), max: BigInt(max) }).map(Number);
      return orExample(fc.oneof(fc.integer({ min, max: Math.min(max, min + 2_000) }), fc.constantFrom(min, max), any));
    }
    case 'number':
      return fc.oneof(fc.integer({ min: 0, max: 1_000 }), fc.constantFrom(0.1, 2.5, 0.075));
    case 'string':
      return orExample(stringOf(schema));
    case 'array': {
      const items = arbitraryOf(schema.items as Schema, doc);
      const minLength = (schema.minItems as number | undefined) ?? 0;
      return fc.array(items, { minLength, maxLength: Math.max(minLength, Math.min((schema.maxItems as number | undefined) ?? 3, 3)) });
    }
    case 'object': {
      const properties = (schema.properties ?? {}) as Record<string, Schema>;
      if (Object.keys(properties).length === 0 && schema.additionalProperties !== false) {
        const value = schema.additionalProperties && Object.keys(schema.additionalProperties).length > 0 ? arbitraryOf(schema.additionalProperties as Schema, doc) : jsonLeaf;
        return fc.dictionary(fc.string({ unit: fc.constantFrom(...'abcdefgh_'), minLength: 1, maxLength: 8 }), value, { maxKeys: 3 });
      }
      const record: Record<string, fc.Arbitrary<Json>> = {};
      for (const [name, property] of Object.entries(properties)) record[name] = arbitraryOf(property, doc);
      return fc.record(record, { requiredKeys: (schema.required as string[] | undefined) ?? [] }) as fc.Arbitrary<Json>;
    }
    default:
      return jsonLeaf; // {}: any JSON value
  }
}

const jsonLeaf: fc.Arbitrary<Json> = fc.oneof(fc.string({ maxLength: 12 }), fc.integer(), fc.boolean(), fc.constant(null));

function stringOf(schema: Schema): fc.Arbitrary<Json> {
  const moment = fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2199-12-31T00:00:00Z'), noInvalidDate: true });
  if (schema.format === 'date') return moment.map((d) => d.toISOString().slice(0, 10));
  if (schema.format === 'date-time') return moment.map((d) => d.toISOString());
  if (schema.format === 'uri') return fc.constantFrom('https://example.com/paid', 'http://localhost:3000/back?from=checkout');
  if (typeof schema.pattern === 'string') return fc.stringMatching(new RegExp(schema.pattern));
  const minLength = (schema.minLength as number | undefined) ?? 0;
  const maxLength = Math.min((schema.maxLength as number | undefined) ?? 40, 24);
  return fc.string({ unit: fc.constantFrom(...'abcxyz019-_./ é'), minLength, maxLength: Math.max(minLength, maxLength) });
}

function resolve(doc: OpenApiDocument, schema: Schema): Schema {
  return typeof schema.$ref === 'string' ? (doc.components.schemas[schema.$ref.replace('#/components/schemas/', '')] as Schema) : schema;
}

/** What a mutation puts in place of a value (undefined: the field is left out). */
type Mutation = { kind: 'leave out' } | { kind: 'unknown field' } | { kind: 'replace'; by: (value: Json) => Json };

const replaced = (by: (value: Json) => Json): Mutation => ({ kind: 'replace', by });
const MUTATIONS: fc.Arbitrary<Mutation> = fc.oneof(
  fc.constant<Mutation>({ kind: 'leave out' }),
  fc.constant<Mutation>({ kind: 'unknown field' }),
  fc.constant(replaced(() => null)),
  fc.constant(
    replaced((value) =>
      typeof value === 'string' ? 12_345 : typeof value === 'number' ? String(value) : typeof value === 'boolean' ? 'true' : Array.isArray(value) ? { not: 'a list' } : 'not an object',
    ),
  ),
  fc.constantFrom(-1, 0, 1.5, 3_651, 10_000, 1_000_000_001, 2 ** 31, 2 ** 53, 1e11).map((n) => replaced(() => n)),
  fc
    .constantFrom('', '   ', 'a\u0000b', 'ab\ud800', 'x'.repeat(201), 'Bad Slug', '1999-12-31', '2200-01-01', '2026-02-30', 'ftp://example.com', '-1', '0.1234567890123456789', 'Mars/Olympus')
    .map((s) => replaced(() => s)),
  fc.constant(replaced((value) => (typeof value === 'string' ? `${value}\u0000` : value))),
  fc.constant(replaced((value) => (typeof value === 'string' ? `${value}\ud83d` : value))),
);

/** Every place in a body a mutation can go: each field, nested ones too, and the body itself. */
function placesOf(value: Json, path: (string | number)[] = []): (string | number)[][] {
  const here = [path];
  if (Array.isArray(value)) return [...here, ...value.flatMap((item, i) => placesOf(item, [...path, i]))];
  if (value !== null && typeof value === 'object') return [...here, ...Object.entries(value).flatMap(([k, v]) => placesOf(v, [...path, k]))];
  return here;
}

function mutate(body: Json, path: (string | number)[], mutation: Mutation): Json {
  const copy = structuredClone(body);
  if (mutation.kind === 'unknown field' || path.length === 0) {
    const at = path.reduce<Json>((node, step) => (node as Record<string | number, Json>)[step]!, copy);
    if (at !== null && typeof at === 'object' && !Array.isArray(at)) at.bogus = 1;
    return copy;
  }
  const parent = path.slice(0, -1).reduce<Json>((node, step) => (node as Record<string | number, Json>)[step]!, copy) as Record<string | number, Json>;
  const last = path.at(-1)!;
  if (mutation.kind === 'leave out') {
    if (Array.isArray(parent)) parent.splice(last as number, 1);
    else delete parent[last];
  } else {
    parent[last] = mutation.by(parent[last]!);
  }
  return copy;
}

/** A body the schema takes, or one with a place mutated (twice as likely). */
function bodiesOf(schema: Schema, doc: OpenApiDocument): fc.Arbitrary<Json> {
  const valid = arbitraryOf(schema, doc);
  const mutated = fc.tuple(valid, fc.nat(), MUTATIONS).map(([body, i, mutation]) => {
    const places = placesOf(body);
    return mutate(body, places[i % places.length]!, mutation);
  });
  return fc.oneof({ arbitrary: valid, weight: 1 }, { arbitrary: mutated, weight: 2 });
}

// ---------------------------------------------------------------------------------------------
// The routes, and the same input given to the library

interface Call {
  /** The route's path, with what the world's setup made. */
  path: string;
  /** The library's call on the same input. */
  library(billing: Billing, body: Record<string, Json>, key: string): Promise<unknown>;
}

interface RouteCase {
  route: string;
  /** Money moved by the request's own key: it sends one, the library gets the same. */
  keyed?: true;
  /** What each call needs, made in one world through its library (each world makes its own). */
  setup?: (billing: Billing) => Promise<string>;
  /** The path and the library's call, given what setup made in the HTTP world and in the library's. */
  call: (made: { http: string; library: string }) => Call;
  /**
   * The body's fields that become the library's arguments, where it takes them apart: a field
   * outside them has no place in the library's call, which is then as good as refused.
   */
  fields?: string[];
}

const has = (body: Record<string, Json>, key: string) => Object.hasOwn(body, key);
/** The fields of `body` among `keys`, and the rest. */
function split(body: Record<string, Json>, keys: string[]): [Record<string, Json>, Record<string, Json>] {
  const picked = Object.fromEntries(keys.filter((k) => has(body, k)).map((k) => [k, body[k]!]));
  const rest = Object.fromEntries(Object.entries(body).filter(([k]) => !keys.includes(k)));
  return [picked, rest];
}

let topUps = 0;
let packsBought = 0;
let bonusesGranted = 0;

const ROUTES: RouteCase[] = [
  {
    route: 'PUT /accounts/{accountId}',
    call: () => ({ path: '/v1/accounts/newco', library: (b, body) => b.upsertAccount({ id: 'newco', ...body } as never) }),
  },
  {
    route: 'PUT /accounts/{accountId}/members/{userId}/limits',
    fields: ['limits', 'name'],
    call: () => ({
      path: '/v1/accounts/acme/members/u_7/limits',
      library: (b, body) => b.admin.setMemberLimits('acme', 'u_7', body.limits as never, has(body, 'name') ? ({ name: body.name } as never) : undefined),
    }),
  },
  {
    route: 'PUT /accounts/{accountId}/auto-recharge',
    call: () => ({ path: '/v1/accounts/acme/auto-recharge', library: (b, body) => b.setAutoRecharge('acme', body as never) }),
  },
  {
    route: 'POST /accounts/{accountId}/credits',
    keyed: true,
    call: () => ({ path: '/v1/accounts/acme/credits', library: (b, body, key) => b.credit('acme', body as never, { idempotencyKey: key }) }),
  },
  {
    route: 'POST /accounts/{accountId}/buckets/{bucketId}/take-back',
    keyed: true,
    // A bonus granted for each draw, taken back in part or whole.
    setup: async (billing) => String((await billing.credit('acme', { source: 'bonus', amountMicros: 2_000_000, reference: `mistake-${++bonusesGranted}` })).bucketId),
    call: (bucket) => ({
      path: `/v1/accounts/acme/buckets/${bucket.http}/take-back`,
      library: (b, body, key) => b.takeBack('acme', Number(bucket.library), body as never, { idempotencyKey: key }),
    }),
  },
  {
    route: 'POST /accounts/{accountId}/subscription',
    keyed: true,
    call: () => ({ path: '/v1/accounts/solo/subscription', library: (b, { plan, ...options }, key) => b.subscribe('solo', plan as never, { idempotencyKey: key, ...options }) }),
  },
  {
    route: 'POST /accounts/{accountId}/subscription/cancel',
    keyed: true,
    call: () => ({ path: '/v1/accounts/acme/subscription/cancel', library: (b, body, key) => b.cancel('acme', body as never, { idempotencyKey: key }) }),
  },
  {
    route: 'POST /accounts/{accountId}/portal',
    call: () => ({ path: '/v1/accounts/acme/portal', library: (b, body) => b.portal('acme', body as never) }),
  },
  {
    route: 'POST /accounts/{accountId}/billing-sessions',
    call: () => ({ path: '/v1/accounts/acme/billing-sessions', library: (b, body) => createBillingSession(b, 'acme', body as never, { baseUrl: 'http://localhost' }) }),
  },
  {
    route: 'POST /accounts/{accountId}/purchases',
    keyed: true,
    call: () => ({ path: '/v1/accounts/acme/purchases', library: (b, { pack, ...options }, key) => b.purchase('acme', pack as never, { idempotencyKey: key, ...options }) }),
  },
  {
    route: 'POST /accounts/{accountId}/payments/{paymentId}/refund',
    keyed: true,
    // A pack bought through the fake processor for each draw: its payment, whole, to refund.
    setup: async (billing) => {
      const { paymentRef } = (await billing.purchase('acme', 'extra-10', { idempotencyKey: `pack-${++packsBought}` })) as { paymentRef: string };
      return String((await billing.payments('acme')).find((p) => p.reference === paymentRef)!.id);
    },
    call: (payment) => ({
      path: `/v1/accounts/acme/payments/${payment.http}/refund`,
      library: (b, body, key) => b.refundPayment('acme', Number(payment.library), body as never, { idempotencyKey: key }),
    }),
  },
  {
    route: 'POST /accounts/{accountId}/authorize',
    call: () => ({ path: '/v1/accounts/acme/authorize', library: (b, body) => b.authorize('acme', body as never) }),
  },
  {
    route: 'POST /holds/{holdId}/settle',
    keyed: true,
    // Value enough for any usage drawn (a billion tokens of the dearest kind is $4,000), so that every hold is placed.
    setup: async (billing) => {
      await billing.credit('acme', { source: 'adjustment', amountMicros: 10_000_000_000, reference: `top-up-${++topUps}` });
      return openHold(billing);
    },
    call: (hold) => ({
      path: `/v1/holds/${hold.http}/settle`,
      library: (b, { usage, ...options }, key) => b.settle(hold.library, usage as never, { idempotencyKey: key, ...options }),
    }),
  },
  {
    route: 'POST /accounts/{accountId}/usage-records',
    keyed: true,
    call: () => ({
      path: '/v1/accounts/acme/usage-records',
      library: (b, body, key) => {
        const [input, options] = split(body, ['model', 'provider', 'usage', 'userId']);
        return b.record('acme', input as never, { idempotencyKey: key, ...options });
      },
    }),
  },
  {
    route: 'POST /usage-records/batch',
    fields: ['items'],
    call: () => ({ path: '/v1/usage-records/batch', library: (b, body) => b.recordBatch(body.items as never) }),
  },
  {
    route: 'POST /refunds',
    keyed: true,
    call: () => ({
      path: '/v1/refunds',
      library: (b, { usageEventId, ...input }, key) => b.refund(usageEventId as never, input, { idempotencyKey: key }),
    }),
  },
  { route: 'POST /admin/plans', call: () => ({ path: '/v1/admin/plans', library: (b, body) => b.admin.createPlan(body as never) }) },
  { route: 'PATCH /admin/plans/{slug}', call: () => ({ path: '/v1/admin/plans/plus', library: (b, body) => b.admin.updatePlan('plus', body) }) },
  { route: 'POST /admin/plans/{slug}/versions/move', call: () => ({ path: '/v1/admin/plans/plus/versions/move', library: (b, body) => b.admin.moveToCurrentVersion('plus', body as never) }) },
  {
    route: 'POST /admin/plans/{slug}/versions/move/call-off',
    fields: ['accountId'],
    call: () => ({ path: '/v1/admin/plans/plus/versions/move/call-off', library: (b, body) => b.admin.callOffVersionMove('plus', body.accountId as never) }),
  },
  { route: 'POST /admin/presets/{mode}/apply', call: () => ({ path: '/v1/admin/presets/credit-packs/apply', library: (b, body) => b.admin.applyPreset('credit-packs', body as never) }) },
  { route: 'POST /admin/packs', call: () => ({ path: '/v1/admin/packs', library: (b, body) => b.admin.createPack(body as never) }) },
  { route: 'PATCH /admin/packs/{slug}', call: () => ({ path: '/v1/admin/packs/extra-10', library: (b, body) => b.admin.updatePack('extra-10', body) }) },
  { route: 'PATCH /admin/settings', call: () => ({ path: '/v1/admin/settings', library: (b, body) => b.admin.updateSettings(body as never) }) },
  { route: 'POST /admin/model-prices', call: () => ({ path: '/v1/admin/model-prices', library: (b, body) => b.admin.setModelPrice(body as never) }) },
  { route: 'POST /admin/model-prices/remove', call: () => ({ path: '/v1/admin/model-prices/remove', library: (b, body) => b.admin.removeModelPrice(body as never) }) },
];

/**
 * Rules the document states in words only, which a JSON Schema cannot say: strings PostgreSQL
 * can store, a trimmed name, a bound between fields, a moment's range, a rate's digits, what
 * metadata holds, return pages over http(s), how many processors.
 */
const IN_WORDS = [
  /NUL character|well-formed Unicode/,
  /must not be empty|must name a model|must name a provider/,
  /must not exceed/,
  /must be from 2000-01-01 and before 2200-01-01|must be a valid date/,
  /strictly ascending|decimal|must not be negative, got|dollars per million tokens/,
  /http or https URL/,
  /metadata|serialize|nested too deep|JSON values|finite number/,
  /at most 20 processors/,
  /is required to turn auto-recharge on|is required with the rest of the setting/,
  /is not in the future/,
];

// ---------------------------------------------------------------------------------------------

/** What a call came to: 'ok', or the code it failed (or was refused) with. */
interface Outcome {
  code: string;
  message?: string;
  issues?: string[];
}

async function libraryOutcome(run: () => Promise<unknown>): Promise<Outcome> {
  try {
    const result = (await run()) as { ok?: boolean; code?: string };
    return result?.ok === false ? { code: result.code! } : { code: 'ok' };
  } catch (error) {
    if (!(error instanceof BillingError)) throw error;
    return { code: error.code, message: error.message, issues: error.details?.issues as string[] | undefined };
  }
}

/** A refusal of the library's parse: its message names what it parsed ("Invalid plan: …"). */
const parseRefusal = (o: Outcome) => o.code === 'invalid_input' && /^Invalid [a-z ]+: /.test(o.message ?? '');
/** What an issue says, without the field it names. */
const said = (issue: string) => issue.slice(issue.indexOf(': ') + 2);

type Ajv = { compile(schema: object): ((data: unknown) => boolean) & { errors?: unknown } };
const Ajv2020 = ((Ajv2020Module as unknown as { default?: unknown }).default ?? Ajv2020Module) as new (options: object) => Ajv;
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv) => void;

const engine = ENGINES[0]!;

describe(`every route's schema is the library's, on ${engine.name}`, () => {
  const api = useApi(engine);
  const twin = useBilling(engine);

  it('every route with a body is here', async () => {
    const doc = (await (await api.app.request('/v1/openapi.json')).json()) as OpenApiDocument;
    const withBody = Object.entries(doc.paths).flatMap(([path, operations]) =>
      Object.entries(operations).filter(([, operation]) => operation.requestBody).map(([method]) => `${method.toUpperCase()} ${path}`),
    );
    expect(withBody.sort()).toEqual(ROUTES.map((r) => r.route).sort());
  });

  for (const c of ROUTES) {
    it(`${c.route}: answers as the library does, and documents what it takes`, async () => {
      for (const billing of [api.billing, twin.billing]) {
        await apiWorld(billing);
        await billing.upsertAccount({ id: 'team_42', kind: 'team' }); // the document's example account
        await chargedEvent(billing);
      }
      const doc = (await (await api.app.request('/v1/openapi.json')).json()) as OpenApiDocument;
      const [method, template] = c.route.split(' ') as [string, string];
      const operation = doc.paths[template]![method.toLowerCase()]! as { requestBody: { content: Record<string, { schema: Schema }> } };
      const schema = operation.requestBody.content['application/json']!.schema;
      const ajv = new Ajv2020({ strict: false, allErrors: true });
      addFormats(ajv);
      const documented = ajv.compile({ ...schema, components: doc.components });
      let keys = 0;

      await fc.assert(
        fc.asyncProperty(bodiesOf(schema, doc), async (drawn) => {
          const body = JSON.parse(JSON.stringify(drawn)) as Record<string, Json>;
          const made = c.setup ? { http: await c.setup(api.billing), library: await c.setup(twin.billing) } : { http: '', library: '' };
          const { path, library } = c.call(made);
          const key = `contract-${++keys}`;
          const reply = await api.call(method, path, body, c.keyed ? { 'Idempotency-Key': key } : {});
          const http: Outcome = reply.status < 300 ? { code: 'ok' } : { code: reply.body.error.code, message: reply.body.error.message, issues: reply.body.error.issues };
          const outside = c.fields && Object.keys(body).some((k) => !c.fields!.includes(k));
          const lib: Outcome = outside ? { code: 'invalid_input' } : await libraryOutcome(() => library(twin.billing, body, key));
          const what = `${c.route} ${JSON.stringify(body)}: HTTP ${reply.status} ${http.message ?? ''} | library ${lib.code} ${lib.message ?? ''}`;

          expect(http.code, what).toBe(lib.code);
          if (lib.issues && http.issues) {
            for (const issue of lib.issues) expect(http.issues.map(said), what).toContain(said(issue));
          }
          if (outside) return;
          const accepted = documented(body);
          if (!parseRefusal(lib)) expect(accepted, `${what}\nthe library takes it, the document refuses it: ${JSON.stringify(documented.errors)}`).toBe(true);
          else if (accepted) {
            for (const issue of lib.issues ?? [lib.message!]) {
              expect(IN_WORDS.some((rule) => rule.test(issue)), `${what}\nthe document takes it, the library refuses it for a rule the document does not state: ${issue}`).toBe(true);
            }
          }
        }),
        { numRuns: RUNS, endOnFailure: true },
      );
    });
  }
});
