/**
 * The HTTP API under test: the app built on the harness's billing (createApp, loadCredentials,
 * a silent logger), a `call` that sends the secret key, and the contract: every response a
 * test receives is checked against the OpenAPI document's schema for its route and status,
 * and the routes exercised are counted (openapi.test.ts fails on any never exercised).
 */
import Ajv2020Module from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { Hono } from 'hono';
import pino from 'pino';
import { beforeEach, expect } from 'vitest';
import { createApp } from '../../src/server/app.ts';
import { loadCredentials, type Credentials } from '../../src/hono/credentials.ts';
import { useBilling, type Engine } from './harness.ts';

export const API_KEY = 'tg_sk_test_0123456789abcdefghijkl';

/** An OpenAPI document, as much of it as the contract reads. */
export interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: object }> }>; requestBody?: unknown; parameters?: unknown[] }>>;
  components: { schemas: Record<string, object> };
  [key: string]: unknown;
}

export interface Reply {
  status: number;
  // The parsed JSON body (undefined when it is not JSON).
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  headers: Headers;
}

type Ajv = { addSchema(schema: object): void; compile(schema: object): ((data: unknown) => boolean) & { errors?: unknown } };
const Ajv2020 = ((Ajv2020Module as unknown as { default?: unknown }).default ?? Ajv2020Module) as new (options: object) => Ajv;
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv) => void;

/** The document and its compiled response schemas: one per process, as every app serves the same. */
let contract: { doc: OpenApiDocument; ajv: Ajv; validators: Map<string, ReturnType<Ajv['compile']>>; routes: { method: string; template: string; pattern: RegExp }[] } | undefined;

/** `METHOD /template` of every route a test has called, in this process. */
export const exercised = new Set<string>();

async function loadContract(app: Hono) {
  if (contract) return contract;
  const doc = (await (await app.request('/v1/openapi.json')).json()) as OpenApiDocument;
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  // The components, compiled once for every response schema that refers to them (a copy in each cost 0.7 s a process).
  ajv.addSchema({ $id: 'openapi', components: doc.components });
  const routes = Object.entries(doc.paths).flatMap(([template, operations]) =>
    Object.keys(operations).map((method) => ({
      method: method.toUpperCase(), template,
      pattern: new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`),
    })),
  );
  // Literal segments before parameters: /admin/plans before /admin/plans/{slug}.
  routes.sort((a, b) => (a.template.match(/\{/g)?.length ?? 0) - (b.template.match(/\{/g)?.length ?? 0));
  contract = { doc, ajv, validators: new Map(), routes };
  return contract;
}

/** The route a request went to, by the document's templates: undefined for a path it does not name. */
export function routeOf(routes: { method: string; template: string; pattern: RegExp }[], method: string, path: string) {
  const bare = path.split('?')[0]!.replace(/^\/v1/, '');
  return routes.find((r) => r.method === method && r.pattern.test(bare));
}

/** Check a response against its route's schema for its status (or the route's default); throws when it does not match. */
async function checkContract(app: Hono, method: string, path: string, reply: Reply) {
  if (!path.startsWith('/v1/') || path.startsWith('/v1/docs') || path === '/v1/openapi.json') return;
  const c = await loadContract(app);
  const route = routeOf(c.routes, method, path);
  if (!route) return; // no such route: the app's 404 (or the key's 401 before it)
  exercised.add(`${route.method} ${route.template}`);
  const responses = c.doc.paths[route.template]![method.toLowerCase()]!.responses;
  const status = String(reply.status) in responses ? String(reply.status) : 'default';
  const documented = responses[status];
  expect(documented, `${method} ${path} answered ${reply.status}, which its route does not document`).toBeDefined();
  const schema = documented!.content?.['application/json']?.schema;
  expect(schema, `${method} ${route.template} ${status} has no JSON schema`).toBeDefined();
  expect(reply.headers.get('content-type') ?? '').toMatch(/^application\/json/);
  const key = `${route.method} ${route.template} ${status}`;
  let validate = c.validators.get(key);
  if (!validate) {
    // Its references, #/components/…, pointed at the components added above.
    validate = c.ajv.compile(JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', '"openapi#/components/')) as object);
    c.validators.set(key, validate);
  }
  if (!validate(reply.body)) {
    throw new Error(`${method} ${path} → ${reply.status}: the body does not match the document: ${JSON.stringify(validate.errors)}\n${JSON.stringify(reply.body).slice(0, 2000)}`);
  }
}

/** Headers for a call: the secret key and JSON by default; `null` leaves one out. */
export type CallHeaders = Record<string, string | null>;

/**
 * The harness's billing (a fresh database each test, paying through the processors `options`
 * names) and the app on it. `call(method, path, body?, headers?)` sends the secret key as a
 * Bearer token and a body as JSON (a string is sent as it is), and checks the answer against the
 * OpenAPI document.
 */
export function useApi(engine: Engine, options: Parameters<typeof useBilling>[1] = {}) {
  const t = useBilling(engine, options);
  let credentials: Credentials | undefined;
  let app: Hono;
  beforeEach(async () => {
    credentials ??= await loadCredentials(t.sql, { secretKey: API_KEY, adminPassword: 'admin-password-for-tests' });
    app = createApp({ billing: t.billing, credentials, logger: pino({ level: 'silent' }) });
  });

  async function call(method: string, path: string, body?: unknown, headers: CallHeaders = {}): Promise<Reply> {
    const merged: CallHeaders = {
      Authorization: `Bearer ${API_KEY}`,
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      ...headers,
    };
    const sent = Object.fromEntries(Object.entries(merged).filter((entry): entry is [string, string] => entry[1] !== null));
    const response = await app.request(path, { method, headers: sent, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    const reply: Reply = { status: response.status, body: parsed, headers: response.headers };
    await checkContract(app, method, path, reply);
    return reply;
  }

  /**
   * Each account's last reconciliation, and the rows it was made on: reconcile() reads the
   * database alone, and only tables read here, so on the same rows it says the same again.
   */
  const reconciled = new Map<string, { on: string; problems: string[] }>();

  /**
   * What the requests a test makes must not change when they are refused: every account's
   * balance and reconciliation, and the rows of every table but the API's stored responses.
   * The rows are read in one statement, each as its text (every column, exactly), sorted.
   */
  async function state() {
    const tables = ['accounts', 'account_balances', 'buckets', 'ledger_entries', 'usage_events', 'holds', 'payments', 'subscriptions', 'plans', 'packs', 'model_prices', 'settings', 'effect_keys'];
    // payment_refunds, which reconcile() reads, only to know whether the rows changed.
    const [read] = await t.sql.query<Record<string, string[] | null>>(
      `SELECT ${[...tables, 'payment_refunds'].map((table) => `(SELECT array_agg(r::text ORDER BY r::text) FROM ${table} r) AS ${table}`).join(', ')}, (SELECT array_agg(id ORDER BY id) FROM accounts) AS account_ids`,
    );
    const { account_ids: accounts, payment_refunds: refunds, ...rows } = read!;
    const on = JSON.stringify([rows, refunds]);
    const balances = await Promise.all((accounts ?? []).map(async (id) => {
      const last = reconciled.get(id);
      const [problems, balance] = await Promise.all([last?.on === on ? last.problems : t.billing.reconcile(id).then((r) => r.problems), t.billing.balance(id)]);
      reconciled.set(id, { on, problems });
      expect(problems, `account ${id} reconciles`).toEqual([]);
      return [id, balance] as const;
    }));
    return { rows, balances: Object.fromEntries(balances) as Record<string, unknown> };
  }

  /**
   * `refused` for requests sent one after another with nothing else between them: the state read
   * after one refusal is the state before the next, so each is read once.
   */
  async function refusals() {
    let before = await state();
    return async (status: number, code: string, method: string, path: string, body?: unknown, headers?: CallHeaders): Promise<Reply> => {
      const reply = await call(method, path, body, headers);
      expect({ status: reply.status, code: reply.body?.error?.code }, `${method} ${path} ${typeof body === 'string' ? body : JSON.stringify(body)}: ${reply.body?.error?.message}`).toEqual({ status, code });
      expect(reply.body.error.message.length).toBeGreaterThan(10);
      const after = await state();
      expect(after).toEqual(before);
      before = after;
      return reply;
    };
  }

  return {
    get billing() {
      return t.billing;
    },
    get clock() {
      return t.clock;
    },
    get sql() {
      return t.sql;
    },
    get app() {
      return app;
    },
    call,
    state,
    /** Send a request that must be refused with `status` and `code`, and check that it changed nothing. */
    async refused(status: number, code: string, method: string, path: string, body?: unknown, headers?: CallHeaders): Promise<Reply> {
      return (await refusals())(status, code, method, path, body, headers);
    },
    refusals,
  };
}

export type Api = ReturnType<typeof useApi>;
