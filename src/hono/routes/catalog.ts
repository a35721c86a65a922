/**
 * What plans and packs share as admin resources: list (by status), create, read and change by
 * slug. admin-plans.ts and admin-packs.ts give the schemas and the facade's calls.
 */
import { createRoute, z } from '@hono/zod-openapi';
import type { Api } from '../api.ts';
import { body, errorResponses, json, SlugParam } from '../schemas.ts';

export interface CatalogResource<Item, Status extends string> {
  /** Its collection's path: `/admin/plans`. */
  path: string;
  /** Its name in summaries: `plan`. */
  noun: string;
  statuses: readonly [Status, ...Status[]];
  schemas: { item: z.ZodType; list: z.ZodType; create: z.ZodType; patch: z.ZodType };
  list(filter: { status?: Status }): Promise<Item[]>;
  get(slug: string): Promise<Item>;
  create(input: never): Promise<Item>;
  update(slug: string, patch: never): Promise<Item>;
}

/** The JSON a route answers with: the facade's value, whose Dates serialize as ISO strings. */
const answer = (item: unknown) => item as Record<string, never>;

export function registerCatalog<Item, Status extends string>(api: Api, r: CatalogResource<Item, Status>) {
  const security = [{ SecretKey: [] }];
  api.openapi(
    createRoute({
      method: 'get', path: r.path, tags: ['Admin'], security,
      summary: `List ${r.noun}s, by sort order`,
      request: { query: z.strictObject({ status: z.enum(r.statuses).optional() }) },
      responses: { 200: json(r.schemas.list, `The ${r.noun}s.`), ...errorResponses },
    }),
    async (c) => c.json(answer({ data: await r.list(c.req.valid('query') as { status?: Status }) }), 200),
  );

  api.openapi(
    createRoute({
      method: 'post', path: r.path, tags: ['Admin'], security,
      summary: `Create a ${r.noun}`,
      request: body(r.schemas.create),
      responses: { 201: json(r.schemas.item, `The ${r.noun}.`), ...errorResponses },
    }),
    async (c) => c.json(answer(await r.create(c.req.valid('json') as never)), 201),
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
    async (c) => c.json(answer(await r.update(c.req.valid('param').slug, c.req.valid('json') as never)), 200),
  );
}
