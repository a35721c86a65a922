/**
 * A small local fake of Stripe's HTTP API: the endpoints Tollgate's processor calls, answering as
 * Stripe does (form-encoded requests with bracketed keys, JSON objects with Stripe's ids and
 * fields, errors in Stripe's shape, one answer per Idempotency-Key), in memory. The real SDK talks
 * to it through STRIPE_API_BASE.
 *
 * What a customer or Stripe's own clock would do is a test control: complete a Checkout Session
 * (which makes its subscription and first invoice, or its payment), renew a subscription, cancel
 * one. Each sends the webhooks Stripe would, POSTed to `webhookUrl` and signed as Stripe signs
 * them at the moment they are sent: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "t.body")>`.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';
import { HeldRequests, type HeldRequest } from './held-requests.ts';

type Json = Record<string, any>;

/** A webhook as sent: the event, the exact body and signature, and what the endpoint answered. */
export interface Delivery {
  event: Json;
  body: string;
  signature: string;
  status: number;
  answer: string;
}

class StripeApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: { type: string; message: string; code?: string; param?: string; [field: string]: unknown },
  ) {
    super(body.message);
  }
}

const invalid = (message: string, extra: { code?: string; param?: string } = {}) => new StripeApiError(400, { type: 'invalid_request_error', message, ...extra });
const missing = (kind: string, id: string, param: string) => new StripeApiError(400, { type: 'invalid_request_error', code: 'resource_missing', message: `No such ${kind}: '${id}'`, param });
/** An object read by its id that is not there: a 404, as Stripe answers one. */
const notFound = (kind: string, id: string) => new StripeApiError(404, { type: 'invalid_request_error', code: 'resource_missing', message: `No such ${kind}: '${id}'`, param: 'id' });
/** The object of this id, or Stripe's 404. */
function found(objects: Map<string, Json>, kind: string, objectId: string): Json {
  const object = objects.get(objectId);
  if (!object) throw notFound(kind, objectId);
  return object;
}

const id = (prefix: string) => `${prefix}_${randomBytes(18).toString('base64url').replace(/[-_]/g, '').slice(0, 24)}`;
/**
 * Stripe's test clock, for the fake's objects (a subscription's periods, an event's created):
 * they run this far ahead of the real clock (advanceClock). Webhooks are still signed at the
 * real time, as Stripe signs them. One fake at a time runs it; start() sets it back.
 */
let clockAheadMs = 0;
const nowSeconds = () => Math.floor((Date.now() + clockAheadMs) / 1000);

/** One interval later, in Unix seconds (calendar months and years, as Stripe bills). */
function after(seconds: number, interval: string): number {
  const date = new Date(seconds * 1000);
  if (interval === 'year') date.setUTCFullYear(date.getUTCFullYear() + 1);
  else if (interval === 'month') date.setUTCMonth(date.getUTCMonth() + 1);
  else if (interval === 'week') date.setUTCDate(date.getUTCDate() + 7);
  else date.setUTCDate(date.getUTCDate() + 1);
  return Math.floor(date.getTime() / 1000);
}

/**
 * A form body as Stripe reads it: `a[b][0][c]=v` is `{ a: { b: [{ c: 'v' }] } }`. Values stay
 * strings, as they arrive; each endpoint reads the numbers and booleans it takes.
 */
export function parseForm(body: string): Json {
  const root: Json = {};
  for (const [key, value] of new URLSearchParams(body)) {
    const path = key.match(/^[^[\]]+|\[[^[\]]*\]/g)?.map((part) => part.replace(/^\[|\]$/g, '')) ?? [key];
    if (path.some((part) => part === '__proto__' || part === 'constructor' || part === 'prototype')) continue;
    let node = root;
    path.forEach((part, i) => {
      if (i === path.length - 1) node[part] = value;
      else node = node[part] ??= {};
    });
  }
  return arrays(root);
}

/** Objects whose keys are 0, 1, 2… are the arrays the SDK sent as `key[0]`, `key[1]`. */
function arrays(value: unknown): any {
  if (typeof value !== 'object' || value === null) return value;
  const entries = Object.entries(value).map(([k, v]) => [k, arrays(v)] as const);
  const indexed = entries.length > 0 && entries.every(([k], i) => k === String(i));
  return indexed ? entries.map(([, v]) => v) : Object.fromEntries(entries);
}

const list = (data: Json[], url: string) => ({ object: 'list', data, has_more: false, url });
const snapshot = <T>(value: T): T => structuredClone(value);

export class StripeFake {
  readonly secretKey = `sk_test_${randomBytes(12).toString('hex')}`;
  readonly webhookSecret = `whsec_${randomBytes(16).toString('hex')}`;
  /** Where the webhooks go; none are sent while it is unset (they are still recorded in `events`). */
  webhookUrl: string | undefined;
  /** The API's base URL: STRIPE_API_BASE. */
  url = '';

  readonly prices = new Map<string, Json>();
  readonly products = new Map<string, Json>();
  readonly customers = new Map<string, Json>();
  readonly sessions = new Map<string, Json>();
  readonly subscriptions = new Map<string, Json>();
  readonly invoices = new Map<string, Json>();
  readonly paymentIntents = new Map<string, Json>();
  readonly portalSessions = new Map<string, Json>();
  readonly refunds = new Map<string, Json>();
  readonly disputes = new Map<string, Json>();
  /** A paid invoice's payment: the invoice and the payment intent that paid it, as Stripe's invoice payments list them. */
  readonly invoicePayments = new Map<string, Json>();
  /** Cards saved to customers (a pack's checkout saves one for off-session use). */
  readonly paymentMethods = new Map<string, Json>();
  /** A test control: how the bank answers an off-session charge on a customer's card, when not with the money. */
  readonly declines = new Map<string, 'card_declined' | 'authentication_required'>();
  /** A test control: send the webhooks a PaymentIntent sets off before answering its request (else at flush). */
  webhooksBeforeAnswer = false;
  /** Every event made, in order. */
  readonly events: Json[] = [];
  /** Every API request, as it arrived: for tests to see what the SDK sent. */
  readonly requests: { method: string; path: string; params: Json; idempotencyKey: string | undefined }[] = [];
  /**
   * Requests whose answer is lost on the way back, as when the caller crashes or the connection
   * is cut: Stripe does what was asked (and keeps the answer for its Idempotency-Key), and the
   * caller hears nothing. A test control.
   */
  loseAnswers: ((method: string, path: string) => boolean) | undefined;
  /** Requests an outage failed (failNext): they never reached the API, and are not in `requests`. */
  readonly failed: { method: string; path: string; idempotencyKey: string | undefined }[] = [];

  /** The first answer to each Idempotency-Key. */
  private readonly answered = new Map<string, { request: string; status: number; answer: string }>();
  /** What a session hands on when completed, which Stripe keeps but does not show on the session. */
  private readonly sessionInputs = new Map<string, { lines: { price: Json; quantity: number }[]; subscriptionData: Json; paymentIntentData: Json }>();
  /** Events made and not yet sent. */
  private unsent: Json[] = [];
  private server: Server | undefined;
  /** How many more requests to each path an outage fails, and how; `kept`: as Stripe's answer to their keys. */
  private readonly outages = new Map<string, { count: number; how: number | 'reset'; kept: boolean }>();
  private readonly held = new HeldRequests();

  /**
   * A test control: the next `count` requests to `path` (such as /v1/checkout/sessions) fail as in
   * an outage, before Stripe does anything (nothing made, no answer kept for their key): answered
   * with `how`, a status in Stripe's shape (500, 503; 429 is its rate limit), or their connection
   * reset. The SDK retries some of them itself: count those too. With `kept`, a 5xx that came
   * from inside the API: Stripe keeps it as the answer to the request's Idempotency-Key for a day,
   * and gives it again (Idempotent-Replayed) to every request under the key; requests without a
   * key (reads) pass.
   */
  failNext(path: string, count: number, how: number | 'reset' = 503, { kept = false } = {}): void {
    this.outages.set(path, { count, how, kept });
  }

  /** A test control: the next request to `path` (named as failNext names it) waits until the test releases it. */
  holdNext(path: string, options?: { answered?: boolean }): HeldRequest {
    return this.held.next(path, options);
  }

  static async start(options: { webhookUrl?: string } = {}): Promise<StripeFake> {
    const fake = new StripeFake();
    fake.webhookUrl = options.webhookUrl;
    clockAheadMs = 0;
    fake.server = createServer((req, res) => {
      fake.handle(req, res).catch((error: unknown) => res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { type: 'api_error', message: String(error) } })));
    });
    await new Promise<void>((resolve) => fake.server!.listen(0, '127.0.0.1', resolve));
    fake.url = `http://127.0.0.1:${(fake.server.address() as AddressInfo).port}`;
    return fake;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** A price, as the catalog sync would make it: recurring with an interval, else one-time. */
  addPrice({ unitAmount, currency = 'usd', interval }: { unitAmount: number; currency?: string; interval?: 'day' | 'week' | 'month' | 'year' }): string {
    const product = this.createProduct({ name: interval ? 'Plan' : 'Credit pack' });
    return this.createPrice({ product: product.id, currency, unit_amount: String(unitAmount), ...(interval ? { recurring: { interval } } : {}) }).id;
  }

  // ---- The API -------------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', this.url);
    const method = req.method ?? 'GET';
    const send = (status: number, answer: string, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', 'request-id': id('req'), ...headers }).end(answer);
    };

    if (url.pathname.startsWith('/c/pay/')) return this.payPage(method, url.pathname.slice('/c/pay/'.length), res);
    if (url.pathname.startsWith('/p/session/')) return this.portalPage(url.pathname.slice('/p/session/'.length), res);
    if (req.headers.authorization !== `Bearer ${this.secretKey}`) {
      const error = { type: 'invalid_request_error', message: `Invalid API Key provided: ${(req.headers.authorization ?? '').replace(/^Bearer /, '').slice(0, 8)}****` };
      return send(401, JSON.stringify({ error }));
    }

    const key = req.headers['idempotency-key'] as string | undefined;
    // What the key was first used for: the same method, path, query and body are the same request.
    const request = `${method} ${url.pathname}${url.search}\n${body}`;
    await this.held.pass(`${method} ${url.pathname}`, url.pathname);
    const outage = this.outages.get(url.pathname);
    // A failure kept for a key is one of a request that has a key: the reads before it pass.
    if (outage && outage.count > 0 && !(outage.kept && key === undefined)) {
      outage.count--;
      this.failed.push({ method, path: url.pathname, idempotencyKey: key });
      if (outage.how === 'reset') return void res.destroy();
      const error = outage.how === 429
        ? { type: 'invalid_request_error', code: 'rate_limit', message: 'Too many requests hit the API too quickly. We recommend an exponential backoff of your requests.' }
        : { type: 'api_error', message: 'An unknown error occurred' };
      if (outage.kept && key !== undefined) this.answered.set(key, { request, status: outage.how, answer: JSON.stringify({ error }) });
      return send(outage.how, JSON.stringify({ error }));
    }
    const params = parseForm(method === 'GET' || method === 'DELETE' ? url.search.slice(1) : body);
    this.requests.push({ method, path: url.pathname, params, idempotencyKey: key });
    const first = key === undefined ? undefined : this.answered.get(key);
    if (first) {
      if (first.request !== request) {
        const message = `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`;
        return send(400, JSON.stringify({ error: { type: 'idempotency_error', message } }));
      }
      if (this.loseAnswers?.(method, url.pathname)) return void res.destroy();
      return send(first.status, first.answer, { 'idempotency-key': key!, 'idempotent-replayed': 'true' });
    }

    let status = 200;
    let answer: string;
    try {
      answer = JSON.stringify(await this.route(method, url.pathname, params), null, 2);
    } catch (error) {
      if (!(error instanceof StripeApiError)) throw error;
      status = error.status;
      answer = JSON.stringify({ error: error.body }, null, 2);
    }
    if (key !== undefined) this.answered.set(key, { request, status, answer });
    await this.held.passAnswer(`${method} ${url.pathname}`, url.pathname);
    if (this.loseAnswers?.(method, url.pathname)) return void res.destroy();
    send(status, answer, key === undefined ? {} : { 'idempotency-key': key });
  }

  private async route(method: string, path: string, params: Json): Promise<Json> {
    const [, version, resource, sub, ref] = path.split('/');
    if (version === 'v1') {
      if (method === 'POST' && resource === 'customers' && sub === undefined) return this.createCustomer(params);
      if (method === 'GET' && resource === 'customers' && sub !== undefined && ref === undefined) return found(this.customers, 'customer', sub);
      if (method === 'GET' && resource === 'payment_methods' && sub === undefined) return this.listPaymentMethods(params);
      if (method === 'POST' && resource === 'payment_intents' && sub === undefined) return this.createPaymentIntent(params);
      if (method === 'GET' && resource === 'payment_intents' && sub === undefined) {
        const intents = [...this.paymentIntents.values()].filter((pi) => params.customer === undefined || pi.customer === params.customer);
        return list(intents.reverse().slice(0, Number(params.limit ?? 10)), '/v1/payment_intents');
      }
      if (method === 'GET' && resource === 'payment_intents' && sub !== undefined && ref === undefined) return found(this.paymentIntents, 'payment_intent', sub);
      if (method === 'POST' && resource === 'checkout' && sub === 'sessions' && ref === undefined) return this.createSession(params);
      if (method === 'POST' && resource === 'subscriptions' && sub !== undefined) return this.updateSubscription(sub, params);
      if (method === 'GET' && resource === 'subscriptions' && sub !== undefined) return this.subscriptionOf(sub);
      if (method === 'POST' && resource === 'billing_portal' && sub === 'sessions' && ref === undefined) return this.createPortalSession(params);
      if (method === 'DELETE' && resource === 'subscriptions' && sub !== undefined) return this.cancel(sub);
      if (method === 'POST' && resource === 'refunds' && sub === undefined) return this.createRefund(params);
      if (method === 'GET' && resource === 'invoice_payments' && sub === undefined) return this.listInvoicePayments(params);
      if (resource === 'products' && method === 'POST') return sub === undefined ? this.createProduct(params) : this.updateProduct(sub, params);
      if (resource === 'products' && method === 'GET' && sub !== undefined) return found(this.products, 'product', sub);
      if (resource === 'prices' && method === 'POST') return sub === undefined ? this.createPrice(params) : this.updatePrice(sub, params);
      if (resource === 'prices' && method === 'GET') return sub === undefined ? this.listPrices(params) : found(this.prices, 'price', sub);
    }
    throw new StripeApiError(404, { type: 'invalid_request_error', message: `Unrecognized request URL (${method}: ${path}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.` });
  }

  // ---- Saved cards, and off-session PaymentIntents on them -------------------------------------

  /** A card the customer paid with: saved to `customer` (for later off-session charges) when given. */
  private card(customer: string | null): Json {
    const card = {
      id: id('pm'),
      object: 'payment_method',
      allow_redisplay: 'unspecified',
      billing_details: { address: null, email: null, name: null, phone: null },
      card: { brand: 'visa', country: 'US', exp_month: 12, exp_year: 2034, funding: 'credit', last4: '4242' },
      created: nowSeconds(),
      customer,
      livemode: false,
      metadata: {},
      type: 'card',
    };
    this.paymentMethods.set(card.id, card);
    return card;
  }

  /** A customer's saved cards, newest first, as Stripe lists them. */
  private listPaymentMethods(params: Json): Json {
    if (params.customer !== undefined && !this.customers.has(params.customer)) throw missing('customer', params.customer, 'customer');
    const cards = [...this.paymentMethods.values()]
      .filter((pm) => pm.customer !== null && (params.customer === undefined || pm.customer === params.customer) && (params.type === undefined || pm.type === params.type))
      .reverse()
      .slice(0, Number(params.limit ?? 10));
    return list(cards, '/v1/payment_methods');
  }

  /**
   * A PaymentIntent, confirmed at once when asked (off-session on a saved card): succeeded, with
   * payment_intent.succeeded; or, when the test set the customer's card to decline, a 402 card
   * error carrying the PaymentIntent (requires_payment_method), with payment_intent.payment_failed.
   */
  private async createPaymentIntent(params: Json): Promise<Json> {
    const amount = Number(params.amount);
    if (!Number.isSafeInteger(amount) || amount < 50) throw invalid('Amount must be at least $0.50 usd', { code: 'amount_too_small', param: 'amount' });
    if (!params.currency) throw invalid('Missing required param: currency.', { param: 'currency' });
    if (params.customer !== undefined && !this.customers.has(params.customer)) throw missing('customer', params.customer, 'customer');
    const card = params.payment_method === undefined ? undefined : this.paymentMethods.get(params.payment_method);
    if (params.payment_method !== undefined && !card) throw missing('payment_method', params.payment_method, 'payment_method');
    if (card && card.customer !== params.customer) {
      throw invalid(`The provided PaymentMethod was previously used with a PaymentIntent without Customer attachment, shared with a connected account without Customer attachment, or was detached from a Customer.`, { param: 'payment_method' });
    }
    const confirm = params.confirm === 'true';
    if (confirm && !card) throw invalid('You cannot confirm this PaymentIntent because it\'s missing a payment method.', { code: 'payment_intent_unexpected_state' });
    const intent: Json = {
      id: id('pi'),
      object: 'payment_intent',
      amount,
      amount_received: 0,
      created: nowSeconds(),
      currency: params.currency,
      customer: params.customer ?? null,
      description: params.description ?? null,
      last_payment_error: null,
      latest_charge: null,
      livemode: false,
      metadata: params.metadata ?? {},
      payment_method: card?.id ?? null,
      status: confirm ? 'succeeded' : 'requires_confirmation',
    };
    this.paymentIntents.set(intent.id, intent);
    const declined = confirm ? this.declines.get(params.customer) : undefined;
    if (declined) {
      const message = declined === 'authentication_required' ? 'Your card was declined. This transaction requires authentication.' : 'Your card was declined.';
      const failure = { type: 'card_error', code: declined, decline_code: declined === 'authentication_required' ? 'authentication_required' : 'generic_decline', message, payment_method: snapshot(card) };
      Object.assign(intent, { status: 'requires_payment_method', last_payment_error: failure, payment_method: null });
      this.event('payment_intent.payment_failed', intent);
      if (this.webhooksBeforeAnswer) await this.sendPending();
      throw new StripeApiError(402, { ...failure, payment_intent: snapshot(intent), doc_url: `https://docs.stripe.com/error-codes/${declined.replace(/_/g, '-')}` });
    }
    if (confirm) {
      Object.assign(intent, { amount_received: amount, latest_charge: id('ch') });
      this.event('payment_intent.succeeded', intent);
      if (this.webhooksBeforeAnswer) await this.sendPending();
    }
    return intent;
  }

  // ---- The catalog: products, and their prices, whose amounts are never edited ---------------

  private createProduct(params: Json): Json {
    if (!params.name) throw invalid('Missing required param: name.', { param: 'name' });
    if (params.id !== undefined && this.products.has(params.id)) throw invalid('Product already exists.', { code: 'resource_already_exists', param: 'id' });
    const created = nowSeconds();
    const product = {
      id: params.id ?? id('prod'),
      object: 'product',
      active: params.active === undefined ? true : params.active === 'true',
      created,
      default_price: null,
      description: params.description ?? null,
      images: [],
      livemode: false,
      marketing_features: [],
      metadata: params.metadata ?? {},
      name: params.name,
      package_dimensions: null,
      shippable: null,
      statement_descriptor: null,
      tax_code: null,
      type: 'service',
      unit_label: null,
      updated: created,
      url: null,
    };
    this.products.set(product.id, product);
    return product;
  }


  private updateProduct(productId: string, params: Json): Json {
    const product = found(this.products, 'product', productId);
    if (params.name !== undefined) product.name = params.name;
    if (params.active !== undefined) product.active = params.active === 'true';
    if (params.metadata !== undefined) product.metadata = { ...product.metadata, ...params.metadata };
    product.updated = nowSeconds();
    return product;
  }

  private createPrice(params: Json): Json {
    if (!params.currency) throw invalid('Missing required param: currency.', { param: 'currency' });
    if (!params.product) throw invalid('You must specify either `product` or `product_data` when creating a price.', { param: 'product' });
    if (!this.products.has(params.product)) throw missing('product', params.product, 'product');
    const unitAmount = Number(params.unit_amount);
    if (!Number.isSafeInteger(unitAmount) || unitAmount < 0) throw invalid('Invalid integer: unit_amount', { param: 'unit_amount' });
    const interval = params.recurring?.interval;
    if (params.recurring !== undefined && !['day', 'week', 'month', 'year'].includes(interval)) throw invalid('Invalid recurring[interval]', { param: 'recurring[interval]' });
    const price = {
      id: id('price'),
      object: 'price',
      active: true,
      billing_scheme: 'per_unit',
      created: nowSeconds(),
      currency: String(params.currency).toLowerCase(),
      livemode: false,
      lookup_key: params.lookup_key ?? null,
      metadata: params.metadata ?? {},
      nickname: params.nickname ?? null,
      product: params.product,
      recurring: interval ? { interval, interval_count: Number(params.recurring.interval_count ?? 1), usage_type: 'licensed', meter: null, trial_period_days: null } : null,
      tax_behavior: 'unspecified',
      type: interval ? 'recurring' : 'one_time',
      unit_amount: unitAmount,
      unit_amount_decimal: String(unitAmount),
    };
    this.prices.set(price.id, price);
    return price;
  }


  /** Only what Stripe lets change on a price: never its amount, currency or interval. */
  private updatePrice(priceId: string, params: Json): Json {
    const price = found(this.prices, 'price', priceId);
    const unknown = Object.keys(params).find((key) => !['active', 'metadata', 'nickname', 'lookup_key', 'tax_behavior', 'expand'].includes(key));
    if (unknown) throw invalid(`Received unknown parameter: ${unknown}`, { param: unknown });
    if (params.active !== undefined) price.active = params.active === 'true';
    if (params.nickname !== undefined) price.nickname = params.nickname;
    if (params.metadata !== undefined) price.metadata = { ...price.metadata, ...params.metadata };
    return price;
  }

  /** Newest first, a page of `limit` (10 by default) after `starting_after`, as Stripe lists. */
  private listPrices(params: Json): Json {
    const matching = [...this.prices.values()]
      .reverse()
      .filter((p) => (params.active === undefined || p.active === (params.active === 'true')) && (params.product === undefined || p.product === params.product))
      .filter((p) => params.type === undefined || p.type === params.type);
    const limit = Math.min(Number(params.limit ?? 10), 100);
    const from = params.starting_after === undefined ? 0 : matching.findIndex((p) => p.id === params.starting_after) + 1;
    const page = matching.slice(from, from + limit);
    return { ...list(page, '/v1/prices'), has_more: from + limit < matching.length };
  }

  private createCustomer(params: Json): Json {
    const customer = {
      id: id('cus'),
      object: 'customer',
      address: null,
      balance: 0,
      created: nowSeconds(),
      currency: null,
      default_source: null,
      delinquent: false,
      description: params.description ?? null,
      email: params.email ?? null,
      invoice_prefix: randomBytes(4).toString('hex').toUpperCase(),
      invoice_settings: { custom_fields: null, default_payment_method: null, footer: null, rendering_options: null },
      livemode: false,
      metadata: params.metadata ?? {},
      name: params.name ?? null,
      phone: null,
      preferred_locales: [],
      shipping: null,
      tax_exempt: 'none',
      test_clock: null,
    };
    this.customers.set(customer.id, customer);
    return customer;
  }

  private createSession(params: Json): Json {
    const mode = params.mode;
    if (mode !== 'payment' && mode !== 'subscription') throw invalid(`Invalid mode: must be one of payment, setup, or subscription`, { param: 'mode' });
    if (params.customer !== undefined && !this.customers.has(params.customer)) throw missing('customer', params.customer, 'customer');
    const items: Json[] = Array.isArray(params.line_items) ? params.line_items : [];
    if (items.length === 0) throw invalid('You must provide at least one line item.', { param: 'line_items' });
    const lines = items.map((item, i) => {
      const price = this.prices.get(item.price);
      if (!price) throw missing('price', String(item.price), `line_items[${i}][price]`);
      if (mode === 'payment' && price.recurring) {
        throw invalid('You specified `payment` mode but passed a recurring price. Either switch to `subscription` mode or use only one-time prices.', { param: `line_items[${i}][price]` });
      }
      return { price, quantity: Number(item.quantity ?? 1) };
    });
    if (mode === 'subscription' && !lines.some((line) => line.price.recurring)) {
      throw invalid('You must provide at least one recurring price in `subscription` mode when using prices.', { param: 'line_items' });
    }
    const amount = lines.reduce((sum, line) => sum + line.price.unit_amount * line.quantity, 0);
    const created = nowSeconds();
    const sessionId = id('cs_test');
    const session = {
      id: sessionId,
      object: 'checkout.session',
      amount_subtotal: amount,
      amount_total: amount,
      cancel_url: params.cancel_url ?? null,
      client_reference_id: params.client_reference_id ?? null,
      created,
      currency: lines[0]!.price.currency,
      customer: params.customer ?? null,
      expires_at: created + 24 * 3600,
      invoice: null,
      livemode: false,
      metadata: params.metadata ?? {},
      mode,
      payment_intent: null,
      payment_status: 'unpaid',
      status: 'open',
      subscription: null,
      success_url: params.success_url ?? null,
      ui_mode: 'hosted_page',
      url: `${this.url}/c/pay/${sessionId}`,
    };
    this.sessions.set(session.id, session);
    this.sessionInputs.set(session.id, { lines, subscriptionData: params.subscription_data ?? {}, paymentIntentData: params.payment_intent_data ?? {} });
    return session;
  }

  private updateSubscription(subscriptionId: string, params: Json): Json {
    const subscription = this.subscriptionOf(subscriptionId);
    const previous: Json = {};
    const change = params.items === undefined ? undefined : this.priceChange(subscription, params);
    if (change) {
      previous.items = snapshot(subscription.items);
      change.item.price = change.price;
    }
    if (params.cancel_at_period_end !== undefined) {
      const cancelAtPeriodEnd = params.cancel_at_period_end === 'true';
      previous.cancel_at_period_end = subscription.cancel_at_period_end;
      previous.cancel_at = subscription.cancel_at;
      subscription.cancel_at_period_end = cancelAtPeriodEnd;
      subscription.cancel_at = cancelAtPeriodEnd ? subscription.items.data[0].current_period_end : null;
    }
    if (params.metadata !== undefined) {
      previous.metadata = snapshot(subscription.metadata);
      subscription.metadata = { ...subscription.metadata, ...params.metadata };
    }
    this.event('customer.subscription.updated', subscription, previous);
    if (change && params.proration_behavior === 'always_invoice') this.event('invoice.paid', this.prorationInvoice(subscription, change));
    return subscription;
  }

  /**
   * items[0][price] on an update: the item's new price, and what the rest of the period costs
   * more (or less) at it, in proportion to the time left, as Stripe prorates. Checked before
   * anything changes: with payment_behavior error_if_incomplete, a card that declines what is
   * due now is a card_error (402) and the subscription stays as it was.
   */
  private priceChange(subscription: Json, params: Json): { item: Json; from: Json; price: Json; at: number; amount: number } | undefined {
    const [wanted] = params.items as Json[];
    const item = subscription.items.data.find((each: Json) => each.id === wanted?.id);
    if (!item) throw missing('subscription_item', String(wanted?.id), 'items[0][id]');
    const price = this.prices.get(wanted!.price);
    if (!price) throw missing('price', String(wanted!.price), 'items[0][price]');
    if (price.id === item.price.id) return undefined;
    if (!price.active) throw invalid('The price specified is inactive. This field only accepts active prices.', { param: 'items[0][price]' });
    const at = nowSeconds();
    const left = (item.current_period_end - at) / (item.current_period_end - item.current_period_start);
    const amount = Math.round((price.unit_amount - item.price.unit_amount) * item.quantity * left);
    const declined = this.declines.get(subscription.customer);
    if (declined && amount > 0 && params.proration_behavior === 'always_invoice' && params.payment_behavior === 'error_if_incomplete') {
      throw new StripeApiError(402, { type: 'card_error', code: 'card_declined', message: 'Your card was declined.' });
    }
    return { item, from: item.price, price, at, amount };
  }

  /** The proration a price change invoices at once: the unused time at the old price back, the time left at the new one; paid (a credit goes to the customer's balance). */
  private prorationInvoice(subscription: Json, change: { item: Json; from: Json; price: Json; at: number; amount: number }): Json {
    const invoiceId = id('in');
    const end = change.item.current_period_end;
    const line = (price: Json, amount: number, description: string) => ({
      id: id('il'), object: 'line_item', amount, currency: price.currency, description, invoice: invoiceId, livemode: false, metadata: { ...subscription.metadata },
      parent: {
        type: 'subscription_item_details', invoice_item_details: null,
        subscription_item_details: { invoice_item: id('ii'), proration: true, proration_details: { credited_items: null }, subscription: subscription.id, subscription_item: change.item.id },
      },
      period: { start: change.at, end },
      pricing: { type: 'price_details', price_details: { price: price.id, product: price.product }, unit_amount_decimal: String(price.unit_amount) },
      quantity: change.item.quantity, subscription: subscription.id,
    });
    const credit = Math.round(change.from.unit_amount * change.item.quantity * ((end - change.at) / (end - change.item.current_period_start)));
    const lines = [line(change.from, -credit, `Unused time on ${change.from.id}`), line(change.price, change.amount + credit, `Remaining time on ${change.price.id}`)];
    const due = Math.max(0, change.amount);
    const invoice = {
      id: invoiceId, object: 'invoice', amount_due: due, amount_paid: due, amount_remaining: 0, attempt_count: 1, attempted: true, billing_reason: 'subscription_update',
      collection_method: 'charge_automatically', created: change.at, currency: subscription.currency, customer: subscription.customer, lines: list(lines, `/v1/invoices/${invoiceId}/lines`),
      livemode: false, metadata: {},
      parent: { type: 'subscription_details', quote_details: null, subscription_details: { metadata: { ...subscription.metadata }, subscription: subscription.id } },
      period_end: change.at, period_start: change.at, status: 'paid', status_transitions: { finalized_at: change.at, paid_at: change.at, marked_uncollectible_at: null, voided_at: null },
      subtotal: change.amount, total: change.amount,
    };
    this.invoices.set(invoice.id, invoice);
    subscription.latest_invoice = invoice.id;
    return invoice;
  }

  /** POST /v1/billing_portal/sessions: a session of the customer portal, for a customer, back to return_url. */
  private createPortalSession(params: Json): Json {
    if (!params.customer) throw invalid('Missing required param: customer.', { param: 'customer' });
    if (!this.customers.has(params.customer)) throw missing('customer', params.customer, 'customer');
    const sessionId = id('bps');
    const session = {
      id: sessionId, object: 'billing_portal.session', configuration: 'bpc_default', created: nowSeconds(), customer: params.customer, flow: null, livemode: false,
      locale: null, on_behalf_of: null, return_url: params.return_url ?? null, url: `${this.url}/p/session/${sessionId}`,
    };
    this.portalSessions.set(sessionId, session);
    return session;
  }

  /** The portal a session's url opens: the customer's open invoices, and the way back. */
  private portalPage(sessionId: string, res: ServerResponse): void {
    const session = this.portalSessions.get(sessionId);
    if (!session) return void res.writeHead(404).end('No such portal session');
    const open = [...this.invoices.values()].filter((invoice) => invoice.customer === session.customer && invoice.status === 'open').length;
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><title>Stripe fake portal</title><p>${open} open invoice(s)</p><a href="${session.return_url ?? '/'}">Return</a>`);
  }

  private cancel(subscriptionId: string): Json {
    const subscription = this.subscriptionOf(subscriptionId);
    if (subscription.status === 'canceled') throw invalid('A canceled subscription can only update its cancellation_details and metadata.');
    this.end(subscription);
    return subscription;
  }

  private subscriptionOf(subscriptionId: string): Json {
    const subscription = this.subscriptions.get(subscriptionId);
    if (!subscription) throw missing('subscription', subscriptionId, 'id');
    return subscription;
  }

  // ---- What the customer and Stripe's clock do ------------------------------------------------

  /**
   * The customer pays on the session's page. In subscription mode: the subscription, its first
   * invoice, paid, and customer.subscription.created, invoice.paid, checkout.session.completed.
   * In payment mode: the payment intent, succeeded, and payment_intent.succeeded,
   * checkout.session.completed. Resolves once every webhook was answered.
   */
  async completeCheckout(sessionId: string): Promise<Delivery[]> {
    const session = this.sessions.get(sessionId);
    const input = this.sessionInputs.get(sessionId);
    if (!session || !input) throw new Error(`No such checkout session: ${sessionId}`);
    if (session.status !== 'open') throw new Error(`Checkout session ${sessionId} is ${session.status}`);
    const now = nowSeconds();
    if (session.mode === 'subscription') {
      const subscription = this.createSubscription(session, input.lines, input.subscriptionData, now);
      const item = subscription.items.data[0];
      const invoice = this.paidInvoice(subscription, 'subscription_create', item.current_period_start, item.current_period_end, now, now);
      Object.assign(session, { subscription: subscription.id, invoice: invoice.id });
      this.event('customer.subscription.created', subscription);
      this.event('invoice.paid', invoice);
    } else {
      const paymentIntent = {
        id: id('pi'),
        object: 'payment_intent',
        amount: session.amount_total,
        amount_received: session.amount_total,
        created: now,
        currency: session.currency,
        customer: session.customer,
        latest_charge: id('ch'),
        livemode: false,
        metadata: input.paymentIntentData.metadata ?? {},
        payment_method: this.card(input.paymentIntentData.setup_future_usage ? session.customer : null).id,
        setup_future_usage: input.paymentIntentData.setup_future_usage ?? null,
        status: 'succeeded',
      };
      this.paymentIntents.set(paymentIntent.id, paymentIntent);
      session.payment_intent = paymentIntent.id;
      this.event('payment_intent.succeeded', paymentIntent);
    }
    Object.assign(session, { status: 'complete', payment_status: 'paid' });
    this.event('checkout.session.completed', session);
    return this.sendPending();
  }

  /**
   * The subscription's period ends: it renews, with a paid invoice for the next period
   * (invoice.paid; the invoice's own period_start/period_end are the period that ended, as on
   * Stripe), or, when set to cancel at the period's end, it ends (customer.subscription.deleted).
   */
  async renew(subscriptionId: string): Promise<Delivery[]> {
    const subscription = this.subscriptionOf(subscriptionId);
    if (subscription.status !== 'active') throw new Error(`Subscription ${subscriptionId} is ${subscription.status}`);
    const item = subscription.items.data[0];
    if (subscription.cancel_at_period_end) {
      this.end(subscription, item.current_period_end);
      return this.sendPending();
    }
    const [ended, start] = [item.current_period_start, item.current_period_end];
    const end = after(start, item.price.recurring.interval);
    const previous: Json = { items: snapshot(subscription.items) };
    for (const each of subscription.items.data) Object.assign(each, { current_period_start: start, current_period_end: end });
    // A card that declines (declines) leaves the invoice open and the subscription past_due while Stripe retries.
    const declined = this.declines.has(subscription.customer);
    const invoice = this.paidInvoice(subscription, 'subscription_cycle', start, end, ended, start, !declined);
    if (declined) [previous.status, subscription.status] = [subscription.status, 'past_due'];
    this.event('customer.subscription.updated', subscription, previous);
    this.event(declined ? 'invoice.payment_failed' : 'invoice.paid', invoice);
    return this.sendPending();
  }

  /** Stripe retries an open invoice's payment, and the card declines again: invoice.payment_failed. */
  async retryFails(invoiceId: string): Promise<Delivery[]> {
    const invoice = this.openInvoice(invoiceId);
    invoice.attempt_count += 1;
    this.event('invoice.payment_failed', invoice);
    return this.sendPending();
  }

  /** The customer pays an open invoice (in the portal, or a retry on a card that works now): invoice.paid, and the subscription is active again. */
  async payOpenInvoice(invoiceId: string): Promise<Delivery[]> {
    const invoice = this.openInvoice(invoiceId);
    const at = nowSeconds();
    Object.assign(invoice, { amount_paid: invoice.amount_due, amount_remaining: 0, attempt_count: invoice.attempt_count + 1, status: 'paid' });
    invoice.status_transitions.paid_at = at;
    this.payInvoice(invoice);
    const subscription = this.subscriptionOf(invoice.parent.subscription_details.subscription);
    if (subscription.status === 'past_due') {
      subscription.status = 'active';
      this.event('customer.subscription.updated', subscription, { status: 'past_due' });
    }
    this.event('invoice.paid', invoice);
    return this.sendPending();
  }

  private openInvoice(invoiceId: string): Json {
    const invoice = this.invoices.get(invoiceId);
    if (invoice?.status !== 'open') throw new Error(`Invoice ${invoiceId} is not open`);
    return invoice;
  }

  /** Moves the test clock on: what happens next happens that much later (webhooks are still signed at the real time). */
  advanceClock(ms: number): void {
    clockAheadMs += ms;
  }

  /** The subscription ends now, as when canceled in Stripe's dashboard: customer.subscription.deleted. */
  async cancelNow(subscriptionId: string): Promise<Delivery[]> {
    this.cancel(subscriptionId);
    return this.sendPending();
  }

  /**
   * Sends what the API's calls set off (customer.subscription.updated after an update,
   * customer.subscription.deleted after a cancel), as Stripe does a moment after answering.
   */
  async flush(): Promise<Delivery[]> {
    return this.sendPending();
  }

  private createSubscription(session: Json, lines: { price: Json; quantity: number }[], data: Json, now: number): Json {
    const subscriptionId = id('sub');
    const recurring = lines.filter((line) => line.price.recurring);
    const subscription = {
      id: subscriptionId,
      object: 'subscription',
      billing_cycle_anchor: now,
      cancel_at: null,
      cancel_at_period_end: false,
      canceled_at: null,
      collection_method: 'charge_automatically',
      created: now,
      currency: session.currency,
      customer: session.customer,
      ended_at: null,
      items: list(
        recurring.map((line) => ({
          id: id('si'),
          object: 'subscription_item',
          created: now,
          current_period_end: after(now, line.price.recurring.interval),
          current_period_start: now,
          metadata: {},
          price: line.price,
          quantity: line.quantity,
          subscription: subscriptionId,
        })),
        `/v1/subscription_items?subscription=${subscriptionId}`,
      ),
      latest_invoice: null as string | null,
      livemode: false,
      metadata: data.metadata ?? {},
      start_date: now,
      status: 'active',
    };
    this.subscriptions.set(subscription.id, subscription);
    return subscription;
  }

  /** A subscription's invoice, paid at once (or left open, its payment failed): one line per item, for the period [start, end). */
  private paidInvoice(subscription: Json, reason: string, start: number, end: number, invoicePeriodStart: number, invoicePeriodEnd: number, paid = true): Json {
    const invoiceId = id('in');
    const lines = subscription.items.data.map((item: Json) => ({
      id: id('il'),
      object: 'line_item',
      amount: item.price.unit_amount * item.quantity,
      currency: item.price.currency,
      description: `${item.quantity} × (at ${item.price.unit_amount} / ${item.price.recurring.interval})`,
      invoice: invoiceId,
      livemode: false,
      metadata: { ...subscription.metadata },
      parent: {
        type: 'subscription_item_details',
        invoice_item_details: null,
        subscription_item_details: { invoice_item: null, proration: false, proration_details: { credited_items: null }, subscription: subscription.id, subscription_item: item.id },
      },
      period: { start, end },
      pricing: { type: 'price_details', price_details: { price: item.price.id, product: item.price.product }, unit_amount_decimal: String(item.price.unit_amount) },
      quantity: item.quantity,
      subscription: subscription.id,
    }));
    const total = lines.reduce((sum: number, line: Json) => sum + line.amount, 0);
    const now = nowSeconds();
    const invoice = {
      id: invoiceId,
      object: 'invoice',
      amount_due: total,
      amount_paid: paid ? total : 0,
      amount_remaining: paid ? 0 : total,
      attempt_count: 1,
      attempted: true,
      billing_reason: reason,
      collection_method: 'charge_automatically',
      created: now,
      currency: subscription.currency,
      customer: subscription.customer,
      lines: list(lines, `/v1/invoices/${invoiceId}/lines`),
      livemode: false,
      metadata: {},
      parent: { type: 'subscription_details', quote_details: null, subscription_details: { metadata: { ...subscription.metadata }, subscription: subscription.id } },
      period_end: invoicePeriodEnd,
      period_start: invoicePeriodStart,
      status: paid ? 'paid' : 'open',
      status_transitions: { finalized_at: now, paid_at: paid ? now : null, marked_uncollectible_at: null, voided_at: null },
      subtotal: total,
      total,
    };
    this.invoices.set(invoice.id, invoice);
    if (paid) this.payInvoice(invoice);
    subscription.latest_invoice = invoice.id;
    return invoice;
  }

  private end(subscription: Json, at = nowSeconds()): void {
    Object.assign(subscription, { status: 'canceled', canceled_at: subscription.canceled_at ?? at, ended_at: at });
    this.event('customer.subscription.deleted', subscription);
  }

  /** The checkout page a session's url opens: a button that pays, then back to the success page. */
  private payPage(method: string, sessionId: string, res: ServerResponse): void {
    const session = this.sessions.get(sessionId);
    if (!session) return void res.writeHead(404).end('No such checkout session');
    if (method === 'POST') {
      void this.completeCheckout(sessionId).catch(() => {});
      const back = String(session.success_url ?? '/').replace('{CHECKOUT_SESSION_ID}', sessionId);
      return void res.writeHead(303, { location: back }).end();
    }
    const what = `${session.mode === 'subscription' ? 'Subscribe' : 'Pay'}: ${(session.amount_total / 100).toFixed(2)} ${String(session.currency).toUpperCase()}`;
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><title>Stripe fake checkout</title><form method="post"><button>${what}</button></form>`);
  }

  // ---- Refunds and disputes -----------------------------------------------------------------

  /** A paid invoice's payment intent, and the invoice payment that ties them. */
  private payInvoice(invoice: Json): void {
    const paymentIntent = {
      id: id('pi'), object: 'payment_intent', amount: invoice.amount_paid, amount_received: invoice.amount_paid, created: invoice.created, currency: invoice.currency,
      customer: invoice.customer, latest_charge: id('ch'), livemode: false, metadata: {}, payment_method: id('pm'), setup_future_usage: null, status: 'succeeded',
    };
    this.paymentIntents.set(paymentIntent.id, paymentIntent);
    const payment = {
      id: id('inpay'), object: 'invoice_payment', amount_paid: invoice.amount_paid, amount_requested: invoice.amount_paid, created: invoice.created, currency: invoice.currency,
      invoice: invoice.id, is_default: true, livemode: false, payment: { type: 'payment_intent', payment_intent: paymentIntent.id },
      status: 'paid', status_transitions: { canceled_at: null, paid_at: invoice.created },
    };
    this.invoicePayments.set(payment.id, payment);
  }

  /** GET /v1/invoice_payments: by invoice, by payment intent, by status. */
  private listInvoicePayments(params: Json): Json {
    const data = [...this.invoicePayments.values()].filter(
      (p) => (params.invoice === undefined || p.invoice === params.invoice) && (params.status === undefined || p.status === params.status)
        && (params.payment?.payment_intent === undefined || p.payment.payment_intent === params.payment.payment_intent),
    );
    return list(data.slice(0, Number(params.limit ?? 10)), '/v1/invoice_payments');
  }

  /** POST /v1/refunds: all or part of what is left of a payment intent, succeeded at once (refund.created), as a card refund is. */
  private createRefund(params: Json): Json {
    if (!params.payment_intent) throw invalid('One of the following params should be provided for this request: payment_intent or charge.');
    const paymentIntent = this.paymentIntents.get(params.payment_intent);
    if (!paymentIntent) throw missing('payment_intent', params.payment_intent, 'payment_intent');
    if ([...this.disputes.values()].some((d) => d.payment_intent === paymentIntent.id)) {
      throw invalid(`Charge ${paymentIntent.latest_charge} has been charged back; cannot issue a refund.`, { code: 'charge_disputed' });
    }
    // A refund that failed or was canceled gave nothing back: its amount is refundable again.
    const refunded = [...this.refunds.values()].filter((r) => r.payment_intent === paymentIntent.id && r.status !== 'failed' && r.status !== 'canceled').reduce((sum, r) => sum + r.amount, 0);
    const left = paymentIntent.amount_received - refunded;
    const amount = params.amount === undefined ? left : Number(params.amount);
    if (!Number.isSafeInteger(amount) || amount <= 0) throw invalid('Invalid positive integer', { param: 'amount' });
    if (amount > left) {
      throw invalid(`Refund amount ($${(amount / 100).toFixed(2)}) is greater than unrefunded amount on charge ($${(left / 100).toFixed(2)})`, { param: 'amount', code: 'amount_too_large' });
    }
    const refund = {
      id: id('re'), object: 'refund', amount, balance_transaction: id('txn'), charge: paymentIntent.latest_charge, created: nowSeconds(), currency: paymentIntent.currency,
      destination_details: { type: 'card', card: { reference_status: 'pending', reference_type: 'acquirer_reference_number', type: 'refund' } },
      metadata: params.metadata ?? {}, payment_intent: paymentIntent.id, reason: params.reason ?? null, receipt_number: null,
      source_transfer_reversal: null, status: 'succeeded', transfer_reversal: null,
    };
    this.refunds.set(refund.id, refund);
    this.event('refund.created', refund);
    // Stripe tells of the charge too: refunded in part or in full.
    const amountRefunded = refunded + amount;
    this.event('charge.refunded', {
      id: paymentIntent.latest_charge, object: 'charge', amount: paymentIntent.amount_received, amount_captured: paymentIntent.amount_received, amount_refunded: amountRefunded,
      captured: true, created: paymentIntent.created, currency: paymentIntent.currency, customer: paymentIntent.customer, disputed: false, livemode: false,
      metadata: paymentIntent.metadata, paid: true, payment_intent: paymentIntent.id, refunded: amountRefunded === paymentIntent.amount_received, status: 'succeeded',
    });
    return refund;
  }

  /** A refund made in Stripe's dashboard: refund.created. */
  async refundFromDashboard(paymentIntentId: string, amount?: number): Promise<Delivery[]> {
    this.createRefund({ payment_intent: paymentIntentId, ...(amount === undefined ? {} : { amount: String(amount) }) });
    return this.sendPending();
  }

  /**
   * A refund that succeeded fails afterwards (the card was closed, the bank refused it): Stripe
   * moves it to failed, with why and the balance transaction that returns its funds, and tells
   * of it twice, refund.updated (the status it had before) and refund.failed.
   */
  async failRefund(refundId: string, reason = 'expired_or_canceled_card'): Promise<Delivery[]> {
    const refund = this.refunds.get(refundId);
    if (!refund) throw new Error(`No such refund: ${refundId}`);
    const previous = { status: refund.status, failure_reason: null };
    Object.assign(refund, { status: 'failed', failure_reason: reason, failure_balance_transaction: id('txn') });
    this.event('refund.updated', refund, previous);
    this.event('refund.failed', refund);
    return this.sendPending();
  }

  /**
   * The customer's bank disputes the payment (a chargeback), or only asks about it (an inquiry: a
   * warning_ status): charge.dispute.created. Resolves with the dispute's id and its deliveries.
   */
  async dispute(paymentIntentId: string, amount?: number, status = 'needs_response'): Promise<{ disputeId: string; deliveries: Delivery[] }> {
    const paymentIntent = this.paymentIntents.get(paymentIntentId);
    if (!paymentIntent) throw new Error(`No such payment intent: ${paymentIntentId}`);
    const dispute = {
      id: id('dp'), object: 'dispute', amount: amount ?? paymentIntent.amount_received, balance_transactions: [], charge: paymentIntent.latest_charge, created: nowSeconds(),
      currency: paymentIntent.currency, is_charge_refundable: false, livemode: false, metadata: {}, payment_intent: paymentIntent.id, reason: 'fraudulent', status,
    };
    this.disputes.set(dispute.id, dispute);
    this.event('charge.dispute.created', dispute);
    return { disputeId: dispute.id, deliveries: await this.sendPending() };
  }

  /**
   * The bank escalates an inquiry into a chargeback: the same dispute, its status no longer a
   * warning_ one, told by charge.dispute.updated and charge.dispute.funds_withdrawn (never by a
   * second charge.dispute.created).
   */
  async escalate(disputeId: string): Promise<Delivery[]> {
    const dispute = this.disputes.get(disputeId);
    if (!dispute) throw new Error(`No such dispute: ${disputeId}`);
    const previous = { status: dispute.status };
    dispute.status = 'needs_response';
    this.event('charge.dispute.updated', dispute, previous);
    this.event('charge.dispute.funds_withdrawn', dispute);
    return this.sendPending();
  }

  /** The bank decides: charge.dispute.closed, won or lost. */
  async closeDispute(disputeId: string, status: 'won' | 'lost'): Promise<Delivery[]> {
    const dispute = this.disputes.get(disputeId);
    if (!dispute) throw new Error(`No such dispute: ${disputeId}`);
    dispute.status = status;
    this.event('charge.dispute.closed', dispute);
    return this.sendPending();
  }

  // ---- Webhooks ------------------------------------------------------------------------------

  private event(type: string, object: Json, previousAttributes?: Json): Json {
    const event = {
      id: id('evt'),
      object: 'event',
      api_version: Stripe.API_VERSION,
      created: nowSeconds(),
      data: { object: snapshot(object), ...(previousAttributes ? { previous_attributes: previousAttributes } : {}) },
      livemode: false,
      pending_webhooks: 1,
      request: { id: null, idempotency_key: null },
      type,
    };
    this.events.push(event);
    this.unsent.push(event);
    return event;
  }

  /** Sends the events not sent yet, in the order they were made; with no webhookUrl, they are only recorded. */
  private async sendPending(): Promise<Delivery[]> {
    const events = this.unsent;
    this.unsent = [];
    const deliveries: Delivery[] = [];
    for (const event of events) if (this.webhookUrl) deliveries.push(await this.deliver(event.id));
    return deliveries;
  }

  /**
   * Sends an event (again) to `url`, signed now or at `timestamp` (Unix milliseconds, for a stale
   * signature), with `secret` (for a forged one).
   */
  async deliver(eventId: string, options: { url?: string; timestamp?: number; secret?: string } = {}): Promise<Delivery> {
    const event = this.events.find((each) => each.id === eventId);
    const url = options.url ?? this.webhookUrl;
    if (!event) throw new Error(`No such event: ${eventId}`);
    if (!url) throw new Error('No webhook URL to deliver to: set webhookUrl');
    const body = JSON.stringify(event, null, 2);
    const signature = this.sign(body, options);
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8', 'stripe-signature': signature, 'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)' },
      body,
    });
    return { event, body, signature, status: response.status, answer: await response.text() };
  }

  /** The Stripe-Signature header for a body, as Stripe computes it. */
  sign(body: string, { timestamp = Date.now(), secret = this.webhookSecret }: { timestamp?: number; secret?: string } = {}): string {
    const t = Math.floor(timestamp / 1000);
    return `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${body}`, 'utf8').digest('hex')}`;
  }
}
