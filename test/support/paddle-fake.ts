/**
 * A small local fake of Paddle Billing's HTTP API: the endpoints Tollgate's processor calls,
 * answering as Paddle does (snake_case JSON in a `{ data, meta: { request_id } }` envelope,
 * Paddle's ids and fields, errors as `{ error: { type, code, detail, documentation_url }, meta }`),
 * in memory. Every object it answers with is typed with the SDK's own response types, so a field
 * the SDK reads cannot be missing. The real SDK talks to it through PADDLE_API_BASE (the SDK's
 * environment option).
 *
 * What a customer or Paddle's own clock would do is a test control: complete a transaction (the
 * customer pays at checkout: for a recurring price, Paddle makes the subscription), renew a
 * subscription, cancel one now. Each sends the webhooks Paddle would, in Paddle's order, POSTed to
 * `webhookUrl` and signed as Paddle signs them at the moment they are sent:
 * `Paddle-Signature: ts=<unix seconds>;h1=<hex HMAC-SHA256(secret, "ts:body")>`.
 */
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type {
  CurrencyCode,
  IAdjustmentResponse,
  ICustomerResponse,
  IEventsResponse,
  IPriceResponse,
  IProductResponse,
  ISubscriptionCreatedNotificationResponse,
  ISubscriptionNotificationResponse,
  ISubscriptionResponse,
  ICustomerPortalSessionResponse,
  ITransactionDetailsResponse,
  ITransactionNotificationResponse,
  ITransactionResponse,
  Interval,
} from '@paddle/paddle-node-sdk';
import { ulid } from 'ulid';
import { HeldRequests, type HeldRequest } from './held-requests.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A webhook as sent: the event, the exact body and signature, and what the endpoint answered. */
export interface Delivery {
  event: IEventsResponse<unknown>;
  body: string;
  signature: string;
  status: number;
  answer: string;
}

/** How a delivery is signed: now or at `timestamp` (Unix milliseconds), with the fake's secret or these. */
export interface Signing {
  timestamp?: number;
  secrets?: string[];
}

class PaddleApiError extends Error {
  constructor(
    readonly status: number,
    readonly area: string,
    readonly code: string,
    readonly detail: string,
    readonly errors?: { field: string; message: string }[],
  ) {
    super(detail);
  }
}

const notFound = (kind: string, id: string) => new PaddleApiError(404, 'shared', 'not_found', `${kind} ${id} not found.`);
/** The entity of this id, or Paddle's 404. */
function found<T>(entities: Map<string, T>, kind: string, entityId: string): T {
  const entity = entities.get(entityId);
  if (!entity) throw notFound(kind, entityId);
  return entity;
}
const invalidField = (field: string, message: string) => new PaddleApiError(400, 'shared', 'invalid_field', 'Request does not pass validation.', [{ field, message }]);

/** A Paddle id: its prefix and 26 lowercase letters and digits. */
const id = (prefix: string) => `${prefix}_${ulid().toLowerCase()}`;
/**
 * Paddle's clock for the fake's objects (billing periods, an event's occurred_at): this far ahead
 * of the real clock (advanceClock), as a simulation would run. Webhooks are signed at the real
 * time, as Paddle signs them. One fake at a time runs it; start() sets it back.
 */
let clockAheadMs = 0;
const now = () => new Date(Date.now() + clockAheadMs).toISOString();

/** One interval later (calendar months and years, as Paddle bills). */
function after(iso: string, interval: Interval, frequency: number): string {
  const date = new Date(iso);
  if (interval === 'year') date.setUTCFullYear(date.getUTCFullYear() + frequency);
  else if (interval === 'month') date.setUTCMonth(date.getUTCMonth() + frequency);
  else if (interval === 'week') date.setUTCDate(date.getUTCDate() + 7 * frequency);
  else date.setUTCDate(date.getUTCDate() + frequency);
  return date.toISOString();
}

const snapshot = <T>(value: T): T => structuredClone(value);

const TAX_CATEGORIES = ['digital-goods', 'ebooks', 'implementation-services', 'professional-services', 'saas', 'software-programming-services', 'standard', 'training-services', 'website-hosting'];

export class PaddleFake {
  readonly apiKey = `pdl_sdbx_apikey_${ulid().toLowerCase()}_${randomBytes(16).toString('hex')}`;
  readonly webhookSecret = `pdl_ntfset_${ulid().toLowerCase()}_${randomBytes(16).toString('hex')}`;
  /** Where the webhooks go; none are sent while it is unset (they are still recorded in `events`). */
  webhookUrl: string | undefined;
  /** The API's base URL: PADDLE_API_BASE. */
  url = '';
  /** The tax Paddle adds to a price at checkout, as merchant of record (0.2 is 20%). */
  taxRate = 0;

  readonly products = new Map<string, IProductResponse>();
  readonly prices = new Map<string, IPriceResponse>();
  readonly customers = new Map<string, ICustomerResponse>();
  readonly transactions = new Map<string, ITransactionResponse>();
  readonly subscriptions = new Map<string, ISubscriptionResponse>();
  readonly adjustments = new Map<string, IAdjustmentResponse>();
  /** Customer portal sessions: the customer each is for. */
  readonly portalSessions = new Map<string, string>();
  /** A test control: the customers whose saved card declines a one-time charge. */
  readonly declines = new Set<string>();
  /**
   * A test control: the customers whose one-time charges Paddle answers while their payment is
   * still going through: left billed, to be failed (failPayment) or paid (payBilled) later.
   */
  readonly paysLater = new Set<string>();
  /** Every event made, in order. */
  readonly events: IEventsResponse<unknown>[] = [];
  /** Every API request, as it arrived: for tests to see what the SDK sent. */
  readonly requests: { method: string; path: string; query: Record<string, string>; body: Json | undefined }[] = [];
  /**
   * Requests whose answer is lost on the way back, as when the caller crashes or the connection
   * is cut: Paddle does what was asked, and the caller hears nothing. A test control.
   */
  loseAnswers: ((method: string, path: string) => boolean) | undefined;
  /** Requests an outage failed (failNext): they never reached the API, and are not in `requests`. */
  readonly failed: { method: string; path: string }[] = [];

  /** Events made and not yet sent. */
  private unsent: IEventsResponse<unknown>[] = [];
  private invoiceNumber = 0;
  private server: Server | undefined;
  /** How many more requests to each path an outage fails, and how. */
  private readonly outages = new Map<string, { count: number; how: number | 'reset' }>();
  private readonly held = new HeldRequests();

  /**
   * A test control: the next `count` requests to `path` (such as /transactions, or POST
   * /transactions for that method's alone) fail as in an outage, before Paddle does anything: answered with `how`, a status (500 in Paddle's shape, 429
   * its rate limit, 502 or 503 a gateway's HTML page), or their connection reset.
   */
  failNext(path: string, count: number, how: number | 'reset' = 503): void {
    this.outages.set(path, { count, how });
  }

  /** A test control: the next request to `path` (named as failNext names it) waits until the test releases it. */
  holdNext(path: string, options?: { answered?: boolean }): HeldRequest {
    return this.held.next(path, options);
  }

  static async start(options: { webhookUrl?: string } = {}): Promise<PaddleFake> {
    const fake = new PaddleFake();
    fake.webhookUrl = options.webhookUrl;
    clockAheadMs = 0;
    fake.server = createServer((req, res) => {
      fake.handle(req, res).catch((error: unknown) => {
        const body = { error: { type: 'api_error', code: 'internal_error', detail: String(error), documentation_url: 'https://developer.paddle.com/errors/shared/internal_error' }, meta: { request_id: randomUUID() } };
        res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      });
    });
    await new Promise<void>((resolve) => fake.server!.listen(0, '127.0.0.1', resolve));
    fake.url = `http://127.0.0.1:${(fake.server.address() as AddressInfo).port}`;
    return fake;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** The default payment link set in Paddle's dashboard: the fake's own checkout page. */
  get defaultPaymentLink(): string {
    return `${this.url}/pay`;
  }

  /** A product and its price, as the catalog sync would make them: recurring with an interval, else one-time. */
  addPrice({ unitAmount, currency = 'USD', interval }: { unitAmount: number; currency?: CurrencyCode; interval?: Interval }): string {
    const product = this.createProduct({ name: interval ? 'Plan' : 'Credit pack', tax_category: 'standard' });
    const description = interval ? `${unitAmount} per ${interval}` : `${unitAmount} once`;
    const billingCycle = interval ? { interval, frequency: 1 } : null;
    return this.createPrice({ product_id: product.id, description, unit_price: { amount: String(unitAmount), currency_code: currency }, billing_cycle: billingCycle }).id;
  }

  /** The transaction a checkout URL pays for (its `_ptxn`). */
  transactionAt(checkoutUrl: string): ITransactionResponse {
    const transactionId = new URL(checkoutUrl).searchParams.get('_ptxn') ?? '';
    const transaction = this.transactions.get(transactionId);
    if (!transaction) throw new Error(`No transaction for checkout URL ${checkoutUrl}`);
    return transaction;
  }

  // ---- The API -------------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', this.url);
    const method = req.method ?? 'GET';
    const requestId = randomUUID();
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json', 'request-id': requestId }).end(JSON.stringify(body));
    };

    if (url.pathname === '/pay') return this.payPage(method, url.searchParams.get('_ptxn') ?? '', res);
    if (url.pathname.startsWith('/portal/')) return this.portalPage(url.pathname.split('/')[2] ?? '', res);
    await this.held.pass(`${method} ${url.pathname}`, url.pathname);
    const outage = [this.outages.get(`${method} ${url.pathname}`), this.outages.get(url.pathname)].find((o) => o && o.count > 0);
    if (outage) {
      outage.count--;
      this.failed.push({ method, path: url.pathname });
      if (outage.how === 'reset') return void res.destroy();
      if (outage.how === 429) {
        const error = { type: 'request_error', code: 'too_many_requests', detail: 'Too many requests.', documentation_url: 'https://developer.paddle.com/errors/shared/too_many_requests' };
        return void res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '60' }).end(JSON.stringify({ error, meta: { request_id: requestId } }));
      }
      if (outage.how !== 500) return void res.writeHead(outage.how, { 'content-type': 'text/html' }).end(`<html><body><h1>${outage.how} Service Unavailable</h1></body></html>`);
      const error = { type: 'api_error', code: 'internal_error', detail: 'An internal error has occurred, please try again.', documentation_url: 'https://developer.paddle.com/errors/shared/internal_error' };
      return send(500, { error, meta: { request_id: requestId } });
    }
    try {
      const authorization = req.headers.authorization;
      if (!authorization) throw new PaddleApiError(403, 'shared', 'authentication_missing', 'Authentication header missing.');
      if (!/^bearer \S+$/i.test(authorization)) throw new PaddleApiError(403, 'shared', 'authentication_malformed', 'Authentication header included, but incorrectly formatted.');
      if (authorization.slice('bearer '.length) !== this.apiKey) throw new PaddleApiError(403, 'shared', 'invalid_token', 'Invalid or revoked API key.');
      let body: Json | undefined;
      if (text) {
        try {
          body = JSON.parse(text) as Json;
        } catch {
          throw new PaddleApiError(400, 'shared', 'bad_request', 'Invalid request.');
        }
      }
      this.requests.push({ method, path: url.pathname, query: Object.fromEntries(url.searchParams), body });
      const [status, data, meta] = this.route(method, url, body ?? {});
      await this.held.passAnswer(`${method} ${url.pathname}`, url.pathname);
      if (this.loseAnswers?.(method, url.pathname)) return void res.destroy();
      send(status, { data, meta: { request_id: requestId, ...meta } });
    } catch (error) {
      if (!(error instanceof PaddleApiError)) throw error;
      const detail = { type: 'request_error', code: error.code, detail: error.detail, documentation_url: `https://developer.paddle.com/errors/${error.area}/${error.code}`, ...(error.errors ? { errors: error.errors } : {}) };
      send(error.status, { error: detail, meta: { request_id: requestId } });
    }
  }

  private route(method: string, url: URL, body: Json): [number, unknown, Json?] {
    const [, resource, ref, action] = url.pathname.split('/');
    if (resource === 'adjustments' && ref === undefined) {
      if (method === 'POST') return [201, this.createAdjustment(body)];
      if (method === 'GET') {
        const [transactions, actions] = [url.searchParams.get('transaction_id')?.split(','), url.searchParams.get('action')?.split(',')];
        return this.page(url, [...this.adjustments.values()], (a) => (transactions?.includes(a.transaction_id) ?? true) && (actions?.includes(a.action) ?? true));
      }
    }
    if (resource === 'customers' && ref !== undefined && action === 'portal-sessions' && method === 'POST') return [201, this.createPortalSession(ref, body)];
    if (resource === 'customers' && ref === undefined) {
      if (method === 'POST') return [201, this.createCustomer(body)];
      if (method === 'GET') return this.listCustomers(url);
    }
    if (resource === 'transactions') {
      if (method === 'POST' && ref === undefined) return [201, this.createTransaction(body)];
      if (method === 'GET' && ref !== undefined && action === undefined) return [200, this.transactionOf(ref)];
      if (method === 'GET' && ref === undefined) {
        const subscriptions = url.searchParams.get('subscription_id')?.split(',');
        const origins = url.searchParams.get('origin')?.split(',');
        return this.page(url, [...this.transactions.values()], (t) => (subscriptions?.includes(t.subscription_id ?? '') ?? true) && (origins?.includes(t.origin) ?? true));
      }
    }
    if (resource === 'products' && action === undefined) {
      if (method === 'GET' && ref === undefined) return this.page(url, [...this.products.values()], (p) => url.searchParams.get('status')?.split(',').includes(p.status) ?? true);
      if (method === 'POST' && ref === undefined) return [201, this.createProduct(body)];
      if (method === 'GET') return [200, found(this.products, 'Product', ref!)];
      if (method === 'PATCH') return [200, this.updateProduct(ref!, body)];
    }
    if (resource === 'prices' && action === undefined) {
      if (method === 'GET' && ref === undefined) {
        const products = url.searchParams.get('product_id')?.split(',');
        const statuses = url.searchParams.get('status')?.split(',');
        return this.page(url, [...this.prices.values()], (p) => (products?.includes(p.product_id) ?? true) && (statuses?.includes(p.status) ?? true));
      }
      if (method === 'POST' && ref === undefined) return [201, this.createPrice(body)];
      if (method === 'GET') return [200, found(this.prices, 'Price', ref!)];
      if (method === 'PATCH') return [200, this.updatePrice(ref!, body)];
    }
    if (resource === 'subscriptions' && ref !== undefined) {
      if (method === 'GET' && action === undefined) return [200, this.subscriptionOf(ref)];
      if (method === 'POST' && action === 'cancel') return [200, this.cancel(ref, body)];
      if (method === 'POST' && action === 'charge') return [200, this.charge(ref, body)];
      if (method === 'PATCH' && action === undefined) return [200, this.updateSubscription(ref, body)];
    }
    throw new PaddleApiError(404, 'shared', 'not_found', `Route ${method} ${url.pathname} not found.`);
  }

  // ---- The catalog: products, and their prices ------------------------------------------------

  /** A page of a list in id order (Paddle's ids sort by creation), `per_page` (50 by default) after the `after` cursor. */
  private page<T extends { id: string }>(url: URL, all: T[], keep: (item: T) => boolean): [number, T[], Json] {
    const matching = all.filter(keep).sort((a, b) => (a.id < b.id ? -1 : 1));
    const perPage = Math.min(Number(url.searchParams.get('per_page') ?? 50), 200);
    const after = url.searchParams.get('after');
    const from = after === null ? 0 : matching.findIndex((item) => item.id > after);
    const data = from < 0 ? [] : matching.slice(from, from + perPage);
    const next = new URL(url.pathname, this.url);
    for (const [key, value] of url.searchParams) if (key !== 'after') next.searchParams.set(key, value);
    if (data.length > 0) next.searchParams.set('after', data.at(-1)!.id);
    const hasMore = from >= 0 && from + perPage < matching.length;
    return [200, data, { pagination: { per_page: perPage, next: next.toString(), has_more: hasMore, estimated_total: matching.length } }];
  }

  private createProduct(body: Json): IProductResponse {
    if (typeof body.name !== 'string' || body.name === '') throw invalidField('name', 'must be provided as part of the request');
    if (!TAX_CATEGORIES.includes(body.tax_category)) throw invalidField('tax_category', `must be one of ${TAX_CATEGORIES.join(', ')}`);
    const created = now();
    const product: IProductResponse = {
      id: id('pro'),
      name: body.name,
      type: body.type ?? 'standard',
      description: body.description ?? null,
      tax_category: body.tax_category,
      image_url: body.image_url ?? null,
      custom_data: body.custom_data ?? null,
      status: 'active',
      created_at: created,
      updated_at: created,
      import_meta: null,
    };
    this.products.set(product.id, product);
    return product;
  }


  private updateProduct(productId: string, body: Json): IProductResponse {
    const product = found(this.products, 'Product', productId);
    if (body.status !== undefined && body.status !== 'active' && body.status !== 'archived') throw invalidField('status', 'must be one of active, archived');
    for (const field of ['name', 'description', 'tax_category', 'image_url', 'custom_data', 'status'] as const) if (body[field] !== undefined) Object.assign(product, { [field]: body[field] });
    product.updated_at = now();
    return product;
  }

  private createPrice(body: Json): IPriceResponse {
    if (typeof body.description !== 'string' || body.description === '') throw invalidField('description', 'must be provided as part of the request');
    if (typeof body.product_id !== 'string' || !this.products.has(body.product_id)) throw notFound('Product', String(body.product_id));
    const amount = body.unit_price?.amount;
    if (typeof amount !== 'string' || !/^\d+$/.test(amount)) throw invalidField('unit_price.amount', 'must be a string of a whole number of the lowest currency unit');
    const cycle = body.billing_cycle ?? null;
    if (cycle !== null && (!['day', 'week', 'month', 'year'].includes(cycle.interval) || !Number.isInteger(cycle.frequency) || cycle.frequency < 1)) throw invalidField('billing_cycle', 'must have an interval of day, week, month or year and a frequency of 1 or more');
    const quantity = body.quantity ?? { minimum: 1, maximum: 100 };
    if (!(quantity.minimum >= 1 && quantity.maximum >= quantity.minimum)) throw invalidField('quantity', 'minimum must be at least 1 and at most maximum');
    const created = now();
    const price: IPriceResponse = {
      id: id('pri'),
      product_id: body.product_id,
      description: body.description,
      type: body.type ?? 'standard',
      name: body.name ?? null,
      billing_cycle: cycle,
      trial_period: body.trial_period ?? null,
      tax_mode: body.tax_mode ?? 'account_setting',
      unit_price: { amount, currency_code: body.unit_price.currency_code },
      unit_price_overrides: body.unit_price_overrides ?? [],
      quantity,
      status: 'active',
      custom_data: body.custom_data ?? null,
      import_meta: null,
      created_at: created,
      updated_at: created,
    };
    this.prices.set(price.id, price);
    return price;
  }


  private updatePrice(priceId: string, body: Json): IPriceResponse {
    const price = found(this.prices, 'Price', priceId);
    if (body.status !== undefined && body.status !== 'active' && body.status !== 'archived') throw invalidField('status', 'must be one of active, archived');
    const fields = ['description', 'name', 'billing_cycle', 'trial_period', 'tax_mode', 'unit_price', 'unit_price_overrides', 'quantity', 'status', 'custom_data'] as const;
    for (const field of fields) if (body[field] !== undefined) Object.assign(price, { [field]: body[field] });
    price.updated_at = now();
    return price;
  }

  private createCustomer(body: Json): ICustomerResponse {
    const email = body.email;
    if (typeof email !== 'string' || email === '') throw invalidField('email', 'must be provided as part of the request');
    if (email.length > 320 || !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) throw invalidField('email', 'must be a valid email address');
    // Paddle keeps one customer per email.
    const taken = [...this.customers.values()].find((c) => c.email.toLowerCase() === email.toLowerCase());
    if (taken) throw new PaddleApiError(409, 'customers', 'customer_already_exists', `customer email conflicts with customer of id ${taken.id}`);
    const created = now();
    const customer: ICustomerResponse = {
      id: id('ctm'),
      name: body.name ?? null,
      email,
      marketing_consent: false,
      status: 'active',
      custom_data: body.custom_data ?? null,
      locale: body.locale ?? 'en',
      created_at: created,
      updated_at: created,
      import_meta: null,
    };
    this.customers.set(customer.id, customer);
    return customer;
  }

  private listCustomers(url: URL): [number, unknown, Json] {
    const emails = url.searchParams.get('email')?.split(',').map((e) => e.toLowerCase());
    const data = [...this.customers.values()].filter((c) => !emails || emails.includes(c.email.toLowerCase()));
    return [200, data, { pagination: { per_page: 50, next: `${this.url}/customers${url.search}`, has_more: false, estimated_total: data.length } }];
  }

  private createTransaction(body: Json): ITransactionResponse {
    const items: Json[] = Array.isArray(body.items) ? body.items : [];
    if (items.length === 0) throw invalidField('items', 'must be provided as part of the request');
    const priceIds = items.map((item) => String(item.price_id));
    if (new Set(priceIds).size !== priceIds.length) throw new PaddleApiError(400, 'transactions', 'transaction_duplicate_price_ids', 'Cannot have duplicate Price IDs passed as separate items');
    const missing = priceIds.filter((priceId) => this.prices.get(priceId)?.status !== 'active');
    if (missing.length > 0) throw new PaddleApiError(400, 'transactions', 'transaction_price_not_found', `One or more provided price_ids could not be found, provided: ${missing.join(', ')}`);
    if (body.customer_id != null && !this.customers.has(body.customer_id)) throw notFound('Customer', body.customer_id);
    const lines = items.map((item) => ({ price: this.prices.get(String(item.price_id))!, quantity: Number(item.quantity ?? 1) }));
    const transactionId = id('txn');
    return this.addTransaction(transactionId, lines, {
      status: 'draft', // until checkout has the customer's address
      customer_id: body.customer_id ?? null,
      custom_data: body.custom_data ?? null,
      origin: 'api',
      collection_mode: body.collection_mode ?? 'automatic',
      checkout: { url: this.checkoutUrl(body.checkout?.url ?? this.defaultPaymentLink, transactionId) },
    });
  }

  /** A transaction for these lines, made now (transaction.created): what each maker sets, over what none does. */
  private addTransaction(
    transactionId: string,
    lines: { price: IPriceResponse; quantity: number }[],
    fields: Pick<ITransactionResponse, 'status' | 'customer_id' | 'custom_data' | 'origin' | 'collection_mode' | 'checkout'> & Partial<ITransactionResponse>,
  ): ITransactionResponse {
    const created = now();
    const currency = lines[0]!.price.unit_price.currency_code;
    const transaction: ITransactionResponse = {
      id: transactionId,
      address_id: null,
      business_id: null,
      currency_code: currency,
      subscription_id: null,
      invoice_id: null,
      invoice_number: null,
      discount_id: null,
      billing_details: null,
      billing_period: null,
      items: lines.map(({ price, quantity }) => ({ price_id: price.id, price: snapshot(price), quantity, proration: null })),
      details: this.details(lines, currency),
      payments: [],
      created_at: created,
      updated_at: created,
      billed_at: null,
      revised_at: null,
      ...fields,
    };
    this.transactions.set(transaction.id, transaction);
    this.event('transaction.created', this.transactionNotification(transaction));
    return transaction;
  }

  /** What Paddle appends to the payment link: the transaction, for Paddle.js on that page to open. */
  private checkoutUrl(base: string, transactionId: string): string {
    return `${base}${base.includes('?') ? '&' : '?'}_ptxn=${transactionId}`;
  }

  /** Totals, line by line, with the fake's tax on top of each price (prices exclude tax here). */
  private details(lines: { price: IPriceResponse; quantity: number }[], currency: CurrencyCode): ITransactionDetailsResponse {
    const lineItems = lines.map(({ price, quantity }) => {
      const unit = Number(price.unit_price.amount);
      const unitTax = Math.round(unit * this.taxRate);
      const subtotal = unit * quantity;
      const tax = unitTax * quantity;
      return {
        id: id('txnitm'),
        price_id: price.id,
        quantity,
        proration: null,
        tax_rate: String(this.taxRate),
        unit_totals: { subtotal: String(unit), discount: '0', tax: String(unitTax), total: String(unit + unitTax) },
        totals: { subtotal: String(subtotal), discount: '0', tax: String(tax), total: String(subtotal + tax) },
        product: snapshot(this.products.get(price.product_id)!),
      };
    });
    const sum = (key: 'subtotal' | 'tax' | 'total') => lineItems.reduce((total, line) => total + Number(line.totals[key]), 0);
    const [subtotal, tax, total] = [sum('subtotal'), sum('tax'), sum('total')];
    return {
      tax_rates_used: [{ tax_rate: String(this.taxRate), totals: { subtotal: String(subtotal), discount: '0', tax: String(tax), total: String(total) } }],
      totals: {
        subtotal: String(subtotal), discount: '0', tax: String(tax), total: String(total), credit: '0', credit_to_balance: '0',
        balance: String(total), grand_total: String(total), grand_total_tax: String(tax), fee: null, earnings: null, currency_code: currency,
      },
      adjusted_totals: { subtotal: String(subtotal), tax: String(tax), total: String(total), grand_total: String(total), grand_total_tax: String(tax), fee: null, earnings: null, currency_code: currency, retained_fee: '0' },
      payout_totals: null,
      adjusted_payout_totals: null,
      line_items: lineItems,
    };
  }

  private cancel(subscriptionId: string, body: Json): ISubscriptionResponse {
    const subscription = this.subscriptionOf(subscriptionId);
    if (subscription.status === 'canceled') throw new PaddleApiError(400, 'subscriptions', 'subscription_is_canceled_action_invalid', "action can't be performed on canceled subscription");
    const effectiveFrom = body.effective_from ?? 'next_billing_period';
    if (effectiveFrom !== 'next_billing_period' && effectiveFrom !== 'immediately') throw invalidField('effective_from', 'must be one of next_billing_period, immediately');
    if (effectiveFrom === 'immediately') this.end(subscription, now());
    else {
      subscription.scheduled_change = { action: 'cancel', effective_at: subscription.current_billing_period!.ends_at, resume_at: null };
      subscription.updated_at = now();
      this.event('subscription.updated', this.subscriptionNotification(subscription));
    }
    return subscription;
  }

  /**
   * PATCH /subscriptions/{id}: its items (with a proration_billing_mode), its custom data, its
   * scheduled change (null removes a cancel scheduled for the period's end). With
   * prorated_immediately, what the rest of the period costs more at the new price is billed at
   * once, a transaction of origin subscription_update; if the card declines it and
   * on_payment_failure is prevent_change (the default), subscription_payment_declined and nothing
   * changes. A downgrade's credit is kept for the next renewal (not modelled: nothing is billed).
   */
  private updateSubscription(subscriptionId: string, body: Json): ISubscriptionResponse {
    const subscription = this.subscriptionOf(subscriptionId);
    if (subscription.status === 'canceled') throw new PaddleApiError(400, 'subscriptions', 'subscription_is_canceled_action_invalid', "action can't be performed on canceled subscription");
    const items: Json[] | undefined = body.items;
    let proration: { price: IPriceResponse; amount: number; rate: number } | undefined;
    if (items !== undefined) {
      if (items.length !== 1) throw new Error('the fake changes subscriptions of one item only');
      const price = found(this.prices, 'Price', String(items[0]!.price_id));
      const item = subscription.items[0]!;
      if (price.status === 'archived' && price.id !== item.price.id) {
        throw new PaddleApiError(400, 'subscriptions', 'subscription_price_not_found', 'One or more prices sent in the items array could not be found.');
      }
      const mode = body.proration_billing_mode;
      if (!mode) throw invalidField('proration_billing_mode', 'must be provided when items change');
      if (price.id !== item.price.id && mode === 'prorated_immediately') {
        const period = subscription.current_billing_period!;
        const [start, end, at] = [Date.parse(period.starts_at), Date.parse(period.ends_at), Date.parse(now())];
        const rate = (end - at) / (end - start);
        const amount = Math.round((Number(price.unit_price.amount) - Number(item.price.unit_price.amount)) * item.quantity * rate);
        if (amount > 0 && this.declines.has(subscription.customer_id) && (body.on_payment_failure ?? 'prevent_change') === 'prevent_change') {
          throw new PaddleApiError(400, 'subscriptions', 'subscription_payment_declined', 'payment declined');
        }
        if (amount > 0) proration = { price, amount, rate };
      }
      Object.assign(item, { price: snapshot(price), product: snapshot(this.products.get(price.product_id)!), updated_at: now() });
    }
    if (body.custom_data !== undefined) subscription.custom_data = snapshot(body.custom_data);
    if (body.scheduled_change !== undefined) subscription.scheduled_change = body.scheduled_change;
    subscription.updated_at = now();
    this.event('subscription.updated', this.subscriptionNotification(subscription));
    if (proration) {
      const at = now();
      const prorated = { ...proration.price, unit_price: { ...proration.price.unit_price, amount: String(proration.amount) } };
      const transaction = this.addTransaction(id('txn'), [{ price: prorated, quantity: 1 }], {
        status: 'billed', customer_id: subscription.customer_id, address_id: subscription.address_id, custom_data: snapshot(subscription.custom_data ?? null),
        origin: 'subscription_update', subscription_id: subscription.id, collection_mode: 'automatic', checkout: { url: null }, billed_at: at,
        billing_period: { starts_at: at, ends_at: subscription.current_billing_period!.ends_at },
      });
      transaction.items[0]!.proration = { rate: proration.rate.toFixed(5), billing_period: snapshot(transaction.billing_period!) };
      this.event('transaction.billed', this.transactionNotification(transaction));
      this.pay(transaction, at, {});
      this.complete(transaction);
    }
    return subscription;
  }

  /** POST /customers/{id}/portal-sessions: the customer portal's links, general and for each subscription named. */
  private createPortalSession(customerId: string, body: Json): ICustomerPortalSessionResponse {
    found(this.customers, 'Customer', customerId);
    const sessionId = id('cpls');
    this.portalSessions.set(sessionId, customerId);
    const base = `${this.url}/portal/${sessionId}`;
    const subscriptionIds: string[] = Array.isArray(body.subscription_ids) ? body.subscription_ids : [];
    return {
      id: sessionId,
      customer_id: customerId,
      urls: {
        general: { overview: `${base}/overview` },
        subscriptions: subscriptionIds.map((subscriptionId) => {
          found(this.subscriptions, 'Subscription', subscriptionId);
          return { id: subscriptionId, cancel_subscription: `${base}/subscriptions/${subscriptionId}/cancel`, update_subscription_payment_method: `${base}/subscriptions/${subscriptionId}/update-payment-method` };
        }),
      },
      created_at: now(),
    };
  }

  /** The customer portal a session's links open: the customer's transactions past due. */
  private portalPage(sessionId: string, res: ServerResponse): void {
    const customerId = this.portalSessions.get(sessionId);
    if (!customerId) return void res.writeHead(404).end('No such portal session');
    const due = [...this.transactions.values()].filter((t) => t.customer_id === customerId && t.status === 'past_due').length;
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(`<!doctype html><title>Paddle fake portal</title><p>${due} payment(s) past due`);
  }

  private transactionOf(transactionId: string): ITransactionResponse {
    const transaction = this.transactions.get(transactionId);
    if (!transaction) throw notFound('Transaction', transactionId);
    return transaction;
  }

  private subscriptionOf(subscriptionId: string): ISubscriptionResponse {
    const subscription = this.subscriptions.get(subscriptionId);
    if (!subscription) throw notFound('Subscription', subscriptionId);
    return subscription;
  }

  // ---- What the customer and Paddle's clock do -----------------------------------------------

  /**
   * The customer pays at checkout. The transaction gets their address and the payment
   * (transaction.updated, transaction.paid); for a recurring price Paddle makes the subscription
   * (subscription.created, subscription.activated) and puts it and its first billing period on
   * the transaction (transaction.updated); then it is completed (transaction.updated,
   * transaction.completed). Resolves once every webhook was answered.
   */
  /**
   * A one-time charge on a subscription, billed at once on its saved card: items of the catalog
   * (price_id) or not (a price, with its product or a product_id). Paid, it is a transaction of
   * origin subscription_charge (the subscription's custom data copied to it), billed, paid and
   * completed, whose webhooks wait for flush(); the answer is the subscription, as Paddle's.
   * Declined (a test control), Paddle's subscription_payment_declined, and nothing is made.
   * Paid later (a test control), it is left billed.
   */
  private charge(subscriptionId: string, body: Json): ISubscriptionResponse {
    const subscription = this.subscriptionOf(subscriptionId);
    if (subscription.status !== 'active') throw new PaddleApiError(400, 'subscriptions', 'subscription_locked_pending_changes', `subscription is ${subscription.status}`);
    if (body.effective_from !== 'immediately' && body.effective_from !== 'next_billing_period') throw invalidField('effective_from', 'must be one of immediately, next_billing_period');
    if (body.effective_from !== 'immediately') throw new Error('the fake bills one-time charges immediately only');
    const items: Json[] = Array.isArray(body.items) ? body.items : [];
    if (items.length === 0) throw invalidField('items', 'must be provided as part of the request');
    const lines = items.map((item) => {
      if (item.price_id !== undefined) return { price: found(this.prices, 'Price', item.price_id), quantity: Number(item.quantity ?? 1) };
      const product = item.price?.product_id ?? this.createProduct({ ...item.price?.product, type: 'custom' }).id;
      return { price: this.createPrice({ ...item.price, product_id: product, type: 'custom' }), quantity: Number(item.quantity ?? 1) };
    });
    if (this.declines.has(subscription.customer_id)) throw new PaddleApiError(400, 'subscriptions', 'subscription_payment_declined', 'payment declined');
    const transaction = this.addTransaction(id('txn'), lines, {
      status: 'billed',
      customer_id: subscription.customer_id,
      address_id: subscription.address_id,
      custom_data: snapshot(subscription.custom_data ?? null),
      origin: 'subscription_charge',
      subscription_id: subscription.id,
      collection_mode: 'automatic',
      checkout: { url: null },
      billed_at: now(),
    });
    this.event('transaction.billed', this.transactionNotification(transaction));
    if (this.paysLater.has(subscription.customer_id)) return subscription;
    this.pay(transaction, now(), {});
    this.complete(transaction);
    return subscription;
  }

  /**
   * The payment of a billed transaction fails (the card declines it, or its bank asks for an
   * authentication nobody is there to give): the attempt is recorded with Paddle's error code,
   * and the transaction, collected automatically on a subscription, is past due
   * (transaction.updated, transaction.payment_failed, transaction.past_due).
   */
  async failPayment(transactionId: string, errorCode: 'declined' | 'authentication_failed' = 'declined'): Promise<Delivery[]> {
    const transaction = this.transactionOf(transactionId);
    if (transaction.status !== 'billed') throw new Error(`Transaction ${transactionId} is ${transaction.status}`);
    const at = now();
    transaction.payments.unshift({
      payment_attempt_id: randomUUID(),
      stored_payment_method_id: randomUUID(),
      payment_method_id: id('paymtd'),
      amount: transaction.details!.totals!.grand_total,
      status: 'error',
      error_code: errorCode,
      method_details: { type: 'card', card: { type: 'visa', last4: '0002', expiry_month: 12, expiry_year: new Date().getUTCFullYear() + 3, cardholder_name: 'Test Customer' }, paypal: null, south_korea_local_card: null, underlying_details: null },
      created_at: at,
      captured_at: null,
    });
    Object.assign(transaction, { status: 'past_due', updated_at: at });
    this.event('transaction.updated', this.transactionNotification(transaction));
    this.event('transaction.payment_failed', this.transactionNotification(transaction));
    this.event('transaction.past_due', this.transactionNotification(transaction));
    return this.sendPending();
  }

  /** The payment of a billed or past-due transaction goes through after all: paid and completed. */
  async payBilled(transactionId: string): Promise<Delivery[]> {
    const transaction = this.transactionOf(transactionId);
    if (transaction.status !== 'billed' && transaction.status !== 'past_due') throw new Error(`Transaction ${transactionId} is ${transaction.status}`);
    this.pay(transaction, now(), {});
    this.complete(transaction);
    return this.sendPending();
  }

  async completeTransaction(transactionId: string): Promise<Delivery[]> {
    const transaction = this.transactionOf(transactionId);
    if (transaction.status !== 'draft' && transaction.status !== 'ready') throw new Error(`Transaction ${transactionId} is ${transaction.status}`);
    const paidAt = now();
    this.pay(transaction, paidAt, { address_id: id('add') });
    const recurring = transaction.items.filter((item) => item.price?.billing_cycle);
    if (recurring.length > 0) {
      const subscription = this.createSubscription(transaction, paidAt);
      this.event('subscription.created', { ...this.subscriptionNotification(subscription), transaction_id: transaction.id } satisfies ISubscriptionCreatedNotificationResponse);
      this.event('subscription.activated', this.subscriptionNotification(subscription));
      Object.assign(transaction, { subscription_id: subscription.id, billing_period: snapshot(subscription.current_billing_period), updated_at: now() });
      this.event('transaction.updated', this.transactionNotification(transaction));
    }
    this.complete(transaction);
    return this.sendPending();
  }

  /**
   * The subscription's billing period ends. Set to cancel then, it is canceled
   * (subscription.updated, subscription.canceled); else it renews: the next period
   * (subscription.updated), and a transaction for it, billed (transaction.created,
   * transaction.billed), paid with the saved card and completed, carrying the subscription's
   * custom data and the period it pays for.
   */
  async renew(subscriptionId: string): Promise<Delivery[]> {
    const subscription = this.subscriptionOf(subscriptionId);
    if (subscription.status !== 'active') throw new Error(`Subscription ${subscriptionId} is ${subscription.status}`);
    const period = subscription.current_billing_period!;
    if (subscription.scheduled_change?.action === 'cancel') {
      this.end(subscription, subscription.scheduled_change.effective_at);
      return this.sendPending();
    }
    const next = { starts_at: period.ends_at, ends_at: after(period.ends_at, subscription.billing_cycle.interval, subscription.billing_cycle.frequency) };
    Object.assign(subscription, { current_billing_period: next, next_billed_at: next.ends_at, updated_at: now() });
    for (const item of subscription.items) Object.assign(item, { previously_billed_at: next.starts_at, next_billed_at: next.ends_at, updated_at: now() });
    this.event('subscription.updated', this.subscriptionNotification(subscription));

    const transaction = this.addTransaction(
      id('txn'),
      subscription.items.map((item) => ({ price: item.price, quantity: item.quantity })),
      {
        status: 'billed',
        customer_id: subscription.customer_id,
        address_id: subscription.address_id,
        // Paddle copies the subscription's custom data to each of its transactions.
        custom_data: snapshot(subscription.custom_data ?? null),
        origin: 'subscription_recurring',
        subscription_id: subscription.id,
        collection_mode: 'automatic',
        billing_period: snapshot(next),
        checkout: { url: null },
        billed_at: now(),
      },
    );
    this.event('transaction.billed', this.transactionNotification(transaction));
    if (this.declines.has(subscription.customer_id)) {
      // The saved card declines: the transaction and the subscription are past due while Paddle retries.
      Object.assign(transaction, { status: 'past_due', updated_at: now() });
      this.event('transaction.payment_failed', this.transactionNotification(transaction));
      this.event('transaction.past_due', this.transactionNotification(transaction));
      Object.assign(subscription, { status: 'past_due', updated_at: now() });
      this.event('subscription.updated', this.subscriptionNotification(subscription));
      this.event('subscription.past_due', this.subscriptionNotification(subscription));
      return this.sendPending();
    }
    this.pay(transaction, now(), {});
    this.complete(transaction);
    return this.sendPending();
  }

  /**
   * The customer pays a past-due subscription's transaction (in the portal, with a card that
   * works): paid and completed, and the subscription active again (subscription.updated).
   */
  async payPastDue(subscriptionId: string): Promise<Delivery[]> {
    const subscription = this.subscriptionOf(subscriptionId);
    const transaction = [...this.transactions.values()].find((each) => each.subscription_id === subscriptionId && each.status === 'past_due');
    if (subscription.status !== 'past_due' || !transaction) throw new Error(`Subscription ${subscriptionId} has nothing past due`);
    this.pay(transaction, now(), {});
    this.complete(transaction);
    Object.assign(subscription, { status: 'active', updated_at: now() });
    this.event('subscription.updated', this.subscriptionNotification(subscription));
    return this.sendPending();
  }

  /** Moves the fake's clock on: what happens next happens that much later (webhooks are still signed at the real time). */
  advanceClock(ms: number): void {
    clockAheadMs += ms;
  }

  /** The subscription is canceled now, as from Paddle's dashboard: subscription.updated, subscription.canceled; its past-due transactions too (transaction.updated, transaction.canceled). */
  async cancelNow(subscriptionId: string): Promise<Delivery[]> {
    this.cancel(subscriptionId, { effective_from: 'immediately' });
    return this.sendPending();
  }

  /** Sends what the API's calls set off (subscription.updated after a cancel, and so on), as Paddle does a moment after answering. */
  async flush(): Promise<Delivery[]> {
    return this.sendPending();
  }

  /** The payment is captured: transaction.updated, transaction.paid. */
  private pay(transaction: ITransactionResponse, at: string, fields: Partial<ITransactionResponse>): void {
    const amount = transaction.details!.totals!.grand_total;
    transaction.payments.unshift({
      payment_attempt_id: randomUUID(),
      stored_payment_method_id: randomUUID(),
      payment_method_id: id('paymtd'),
      amount,
      status: 'captured',
      error_code: null,
      method_details: { type: 'card', card: { type: 'visa', last4: '4242', expiry_month: 12, expiry_year: new Date().getUTCFullYear() + 3, cardholder_name: 'Test Customer' }, paypal: null, south_korea_local_card: null, underlying_details: null },
      created_at: at,
      captured_at: at,
    });
    Object.assign(transaction, fields, { status: 'paid', updated_at: at, billed_at: transaction.billed_at ?? at });
    transaction.details!.totals!.balance = '0';
    this.event('transaction.updated', this.transactionNotification(transaction));
    this.event('transaction.paid', this.transactionNotification(transaction));
  }

  /** Paddle is done with it: an invoice number, completed (transaction.updated, transaction.completed). */
  private complete(transaction: ITransactionResponse): void {
    this.invoiceNumber += 1;
    Object.assign(transaction, { status: 'completed', invoice_id: id('inv'), invoice_number: `325-${String(this.invoiceNumber).padStart(5, '0')}`, updated_at: now() });
    this.event('transaction.updated', this.transactionNotification(transaction));
    this.event('transaction.completed', this.transactionNotification(transaction));
  }

  private createSubscription(transaction: ITransactionResponse, startedAt: string): ISubscriptionResponse {
    const recurring = transaction.items.filter((item) => item.price?.billing_cycle);
    const cycle = recurring[0]!.price!.billing_cycle!;
    const period = { starts_at: startedAt, ends_at: after(startedAt, cycle.interval, cycle.frequency) };
    const subscriptionId = id('sub');
    const subscription: ISubscriptionResponse = {
      id: subscriptionId,
      status: 'active',
      customer_id: transaction.customer_id!,
      address_id: transaction.address_id!,
      business_id: null,
      currency_code: transaction.currency_code,
      created_at: startedAt,
      updated_at: startedAt,
      started_at: startedAt,
      first_billed_at: startedAt,
      next_billed_at: period.ends_at,
      paused_at: null,
      canceled_at: null,
      discount: null,
      collection_mode: 'automatic',
      billing_details: null,
      current_billing_period: period,
      billing_cycle: { ...cycle },
      scheduled_change: null,
      management_urls: {
        update_payment_method: `${this.url}/subscriptions/${subscriptionId}/update-payment-method`,
        cancel: `${this.url}/subscriptions/${subscriptionId}/cancel`,
      },
      items: recurring.map((item) => ({
        status: 'active',
        quantity: item.quantity,
        recurring: true,
        created_at: startedAt,
        updated_at: startedAt,
        previously_billed_at: startedAt,
        next_billed_at: period.ends_at,
        trial_dates: null,
        price: snapshot(item.price!),
        product: snapshot(this.products.get(item.price!.product_id)!),
      })),
      // Paddle copies the transaction's custom data to the subscription it makes.
      custom_data: snapshot(transaction.custom_data ?? null),
      import_meta: null,
    };
    this.subscriptions.set(subscription.id, subscription);
    return subscription;
  }

  private end(subscription: ISubscriptionResponse, at: string): void {
    Object.assign(subscription, { status: 'canceled', canceled_at: at, scheduled_change: null, current_billing_period: null, next_billed_at: null, updated_at: now(), management_urls: null });
    for (const item of subscription.items) Object.assign(item, { status: 'inactive', next_billed_at: null });
    this.event('subscription.updated', this.subscriptionNotification(subscription));
    this.event('subscription.canceled', this.subscriptionNotification(subscription));
    // Nothing is collected for an ended subscription: Paddle cancels what it left past due.
    for (const transaction of this.transactions.values()) {
      if (transaction.subscription_id !== subscription.id || transaction.status !== 'past_due') continue;
      Object.assign(transaction, { status: 'canceled', updated_at: now() });
      this.event('transaction.updated', this.transactionNotification(transaction));
      this.event('transaction.canceled', this.transactionNotification(transaction));
    }
  }

  /** The checkout page a transaction's URL opens, as Paddle.js would on the payment link: a button that pays. */
  private payPage(method: string, transactionId: string, res: ServerResponse): void {
    const transaction = this.transactions.get(transactionId);
    if (!transaction) return void res.writeHead(404).end('No such transaction');
    if (method === 'POST') {
      void this.completeTransaction(transactionId).catch(() => {});
      return void res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!doctype html><title>Paddle fake checkout</title><p>Paid');
    }
    const total = Number(transaction.details!.totals!.grand_total) / 100;
    const what = `${transaction.items.some((item) => item.price?.billing_cycle) ? 'Subscribe' : 'Pay'}: ${total.toFixed(2)} ${transaction.currency_code}`;
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><title>Paddle fake checkout</title><form method="post"><button>${what}</button></form>`);
  }

  // ---- Adjustments: refunds and chargebacks -------------------------------------------------

  /**
   * POST /adjustments: a refund of a completed transaction, in full or in part on its items (at
   * most what earlier refunds and chargebacks left of it), made pending_approval, as Paddle
   * reviews refunds (adjustment.created). approveRefund approves it.
   */
  private createAdjustment(body: Json): IAdjustmentResponse {
    if (!['refund', 'credit', 'chargeback', 'chargeback_reverse', 'chargeback_warning', 'credit_reverse', 'chargeback_warning_reverse'].includes(body.action)) {
      throw invalidField('action', 'must be one of refund, credit, chargeback, chargeback_reverse, chargeback_warning, credit_reverse');
    }
    if (typeof body.reason !== 'string' || body.reason === '') throw invalidField('reason', 'must be provided as part of the request');
    const transaction = this.transactionOf(String(body.transaction_id));
    if (transaction.status !== 'completed' && transaction.status !== 'billed') {
      throw new PaddleApiError(400, 'adjustments', 'adjustment_transaction_invalid_status_for_refund', 'Refunds can only be created for billed or completed transactions.');
    }
    const type = body.type ?? 'partial';
    const items: Json[] = type === 'full' ? [] : Array.isArray(body.items) ? body.items : [];
    if (type === 'partial' && items.length === 0) throw invalidField('items', 'must be provided for a partial adjustment');
    const lineItems = transaction.details!.line_items;
    for (const item of items) if (!lineItems.some((line) => line.id === item.item_id)) throw invalidField('items', `item ${item.item_id} is not on the transaction`);
    const taken = [...this.adjustments.values()]
      .filter((a) => a.transaction_id === transaction.id && ['refund', 'chargeback'].includes(a.action) && a.status !== 'rejected' && a.status !== 'reversed')
      .reduce((sum, a) => sum + Number(a.totals.total), 0);
    const left = Number(transaction.details!.totals!.grand_total) - taken;
    const total = type === 'full' ? left : items.reduce((sum, item) => sum + Number(item.amount), 0);
    if (!(total > 0) || (['refund', 'chargeback'].includes(body.action) && total > left)) {
      throw new PaddleApiError(400, 'adjustments', 'adjustment_amount_above_remaining_allowed', `the adjustment amount ${total} is more than the ${left} left to adjust on transaction ${transaction.id}`);
    }
    const created = now();
    const amounts = (amount: number) => ({ subtotal: String(amount), tax: '0', total: String(amount) });
    const adjustment: IAdjustmentResponse = {
      id: id('adj'),
      action: body.action,
      type,
      transaction_id: transaction.id,
      subscription_id: transaction.subscription_id,
      customer_id: transaction.customer_id!,
      reason: body.reason,
      credit_applied_to_balance: false,
      currency_code: transaction.currency_code,
      status: body.action === 'refund' ? 'pending_approval' : 'approved',
      items: (type === 'full' ? lineItems.map((line) => ({ item_id: line.id, amount: line.totals?.total ?? '0' })) : items).map((item) => ({
        id: id('adjitm'), item_id: item.item_id, type, amount: String(item.amount), proration: null,
        totals: { ...amounts(Number(item.amount)) },
      })),
      totals: { ...amounts(total), fee: '0', earnings: '0', currency_code: transaction.currency_code, retained_fee: '0' },
      payout_totals: null,
      created_at: created,
      updated_at: created,
    };
    this.adjustments.set(adjustment.id, adjustment);
    this.event('adjustment.created', snapshot(adjustment));
    return adjustment;
  }

  /** Paddle's review approves a refund: adjustment.updated. */
  async approveRefund(adjustmentId: string): Promise<Delivery[]> {
    const adjustment = this.adjustments.get(adjustmentId);
    if (!adjustment) throw new Error(`No such adjustment: ${adjustmentId}`);
    Object.assign(adjustment, { status: 'approved', updated_at: now() });
    this.event('adjustment.updated', snapshot(adjustment));
    return this.sendPending();
  }

  /** A refund approved, reversed afterwards (its money never reached the customer): adjustment.updated. */
  async reverseRefund(adjustmentId: string): Promise<Delivery[]> {
    const adjustment = this.adjustments.get(adjustmentId);
    if (!adjustment) throw new Error(`No such adjustment: ${adjustmentId}`);
    if (adjustment.action !== 'refund' || adjustment.status !== 'approved') throw new Error(`Adjustment ${adjustmentId} is no approved refund`);
    Object.assign(adjustment, { status: 'reversed', updated_at: now() });
    this.event('adjustment.updated', snapshot(adjustment));
    return this.sendPending();
  }

  /** A refund made in Paddle's dashboard, and approved: adjustment.created, adjustment.updated. */
  async refundFromDashboard(transactionId: string, amount?: number): Promise<Delivery[]> {
    const { details } = this.transactionOf(transactionId);
    const item = details!.line_items[0]!;
    const adjustment = this.createAdjustment({
      action: 'refund', transaction_id: transactionId, reason: 'Refunded from the dashboard',
      ...(amount === undefined ? { type: 'full' } : { type: 'partial', items: [{ item_id: item.id, type: 'partial', amount: String(amount) }] }),
    });
    return this.approveRefund(adjustment.id);
  }

  /** The customer's bank takes the money back (adjustment.created, a chargeback), or gives it back (chargeback_reverse). Resolves with its id. */
  async chargeback(transactionId: string, amount: number, action: 'chargeback' | 'chargeback_reverse' = 'chargeback'): Promise<{ adjustmentId: string; deliveries: Delivery[] }> {
    const item = this.transactionOf(transactionId).details!.line_items[0]!;
    const reason = action === 'chargeback' ? 'fraudulent' : 'chargeback won';
    const adjustment = this.createAdjustment({ action, transaction_id: transactionId, reason, type: 'partial', items: [{ item_id: item.id, type: 'partial', amount: String(amount) }] });
    return { adjustmentId: adjustment.id, deliveries: await this.sendPending() };
  }

  // ---- Webhooks ------------------------------------------------------------------------------

  /** A transaction as a webhook carries it: the entity without the API's includes. */
  private transactionNotification(transaction: ITransactionResponse): ITransactionNotificationResponse {
    const { address: _address, adjustments: _adjustments, adjustments_totals: _totals, business: _business, customer: _customer, discount: _discount, available_payment_methods: _methods, ...notification } = transaction;
    return snapshot(notification);
  }

  /** A subscription as a webhook carries it: no management URLs, next transaction or recurring details. */
  private subscriptionNotification(subscription: ISubscriptionResponse): ISubscriptionNotificationResponse {
    const { management_urls: _urls, next_transaction: _next, recurring_transaction_details: _details, discount: _discount, ...notification } = subscription;
    return snapshot({ ...notification, discount: null }); // the fake makes no discounts
  }

  private event(type: string, data: unknown): void {
    const event: IEventsResponse<unknown> = { event_id: id('evt'), event_type: type, occurred_at: now(), notification_id: id('ntf'), data };
    this.events.push(event);
    this.unsent.push(event);
  }

  /** Sends the events not sent yet, in the order they were made; with no webhookUrl, they are only recorded. */
  private async sendPending(): Promise<Delivery[]> {
    const events = this.unsent;
    this.unsent = [];
    const deliveries: Delivery[] = [];
    for (const event of events) if (this.webhookUrl) deliveries.push(await this.deliver(event.event_id));
    return deliveries;
  }

  /** Sends an event (again) to `url`, signed now, or as `signing` says (a stale timestamp, another secret, several). */
  async deliver(eventId: string, options: Signing & { url?: string } = {}): Promise<Delivery> {
    const event = this.events.find((each) => each.event_id === eventId);
    const url = options.url ?? this.webhookUrl;
    if (!event) throw new Error(`No such event: ${eventId}`);
    if (!url) throw new Error('No webhook URL to deliver to: set webhookUrl');
    const body = JSON.stringify(event);
    const signature = this.sign(body, options);
    const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'paddle-signature': signature }, body });
    return { event, body, signature, status: response.status, answer: await response.text() };
  }

  /** The Paddle-Signature header for a body, as Paddle computes it: one h1 per secret (several while a secret rotates). */
  sign(body: string, { timestamp = Date.now(), secrets = [this.webhookSecret] }: Signing = {}): string {
    const ts = Math.floor(timestamp / 1000);
    return [`ts=${ts}`, ...secrets.map((secret) => `h1=${createHmac('sha256', secret).update(`${ts}:${body}`, 'utf8').digest('hex')}`)].join(';');
  }
}
