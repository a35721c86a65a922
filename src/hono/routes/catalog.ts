/**
 * What plans and packs share as admin resources: list (by status), create, read and change by
 * slug. admin-plans.ts and admin-packs.ts give the library's schemas and its calls on what
 * they parsed (billing.parsed.admin).
 */
import { createRoute, z } from '@hono/zod-openapi';
import type { Api } from '../api.ts';
import { body, errorResponses, json, SlugParam } from '../schemas.ts';

/**
 * A resource's schemas, the library's own (the list's filter, a new item, a change), and its
 * calls on what they parsed (billing.parsed.admin).
 */
export interface CatalogResource<Item, Filter, Create, Patch> {
  /** Its collection's path: `/admin/plans`. */
  path: string;
  /** Its name in summaries: `plan`. */
  noun: string;
  /** Each parses what its call below takes. */
  schemas: { item: z.ZodType; list: z.ZodType; filter: z.ZodPipe; create: z.ZodType; patch: z.ZodType };
  list(filter: Filter): Promise<Item[]>;
  get(slug: string): Promise<Item>;
  create(input: Create): Promise<Item>;
  update(slug: string, changes: Patch): Promise<Item>;
}

/** The JSON a route answers with: the facade's value, whose Dates serialize as ISO strings. */
const answer = (item: unknown) => item as Record<string, never>;

export function registerCatalog<Item, Filter, Create, Patch>(api: Api, r: CatalogResource<Item, Filter, Create, Patch>) {
  const security = [{ SecretKey: [] }];
  api.openapi(
    createRoute({
      method: 'get', path: r.path, tags: ['Admin'], security,
      summary: `List ${r.noun}s, by sort order`,
      request: { query: r.schemas.filter },
      responses: { 200: json(r.schemas.list, `The ${r.noun}s.`), ...errorResponses },
    }),
    async (c) => c.json(answer({ data: await r.list(c.req.valid('query') as Filter) }), 200),
  );

  api.openapi(
    createRoute({
      method: 'post', path: r.path, tags: ['Admin'], security,
      summary: `Create a ${r.noun}`,
      request: body(r.schemas.create),
      responses: { 201: json(r.schemas.item, `The ${r.noun}.`), ...errorResponses },
    }),
    async (c) => c.json(answer(await r.create(c.req.valid('json') as Create)), 201),
  );

  api.openapi(
    createRoute({
      method: 'get', path: `${r.path}/{slug}`, tags: ['Admin'], security,
      summary: `Read a ${r.noun}`,
      request: { params: SlugParam },
      responses: { 200: json(r.schemas.item, `The ${r.noun}.`), ...errorResponses },
    }),
    async (c) => c.json(answer(await r.get(c.req.valid('param').slug)), 200),
  );

  api.openapi(
    createRoute({
      method: 'patch', path: `${r.path}/{slug}`, tags: ['Admin'], security,
      summary: `Change a ${r.noun}: the fields sent, the rest as they are`,
      request: { params: SlugParam, ...body(r.schemas.patch) },
      responses: { 200: json(r.schemas.item, `The ${r.noun} as changed.`), ...errorResponses },
    }),
    async (c) => c.json(answer(await r.update(c.req.valid('param').slug, c.req.valid('json') as Patch)), 200),
  );
}
