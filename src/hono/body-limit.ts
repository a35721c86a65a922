/**
 * Hono's bodyLimit, without its cost on every request: it asks the request for its body
 * stream first, and on the Node server that builds a whole Web Request (an AbortController,
 * a ReadableStream over the socket) that the body is then read through. Under load that was
 * a twentieth of the server's time (docs/performance.md). A request that declares its length
 * within the limit is judged by it, as is a GET; any other (a chunked body, whose length is
 * known as it arrives, or one over the limit) goes to Hono's own middleware.
 */
import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';

type Options = Parameters<typeof bodyLimit>[0];

export function limitBody(options: Options): MiddlewareHandler {
  const counted = bodyLimit(options);
  return async (c, next) => {
    const length = c.req.header('content-length');
    const declared = length !== undefined && c.req.header('transfer-encoding') === undefined && /^\d+$/.test(length);
    if (declared && Number(length) <= options.maxSize) return next();
    // A GET or HEAD has no body; anything else is counted (a Fetch Request need not declare its length).
    if (!declared && (c.req.method === 'GET' || c.req.method === 'HEAD')) return next();
    return counted(c, next);
  };
}
