/**
 * The server's connections: when one outlives its response, and how a stop ends them all.
 *
 * A response keeps its connection only when the next request on it can be read. The rest of a
 * body the app did not read, or began to read and left (a request refused before its body: a
 * missing Idempotency-Key, a wrong route or type, a length over the limit), is read and
 * dropped once the response is out, when at most MAX_UNREAD_BYTES of it is still to come. A
 * larger rest, or one of unknown length (chunked), would be read for nothing: that response
 * says `Connection: close`, and the connection is closed once it is out, gently (LINGER_MS). A
 * request that arrives after a response that said close is not served: the client was told.
 *
 * A stop closes idle connections at once, answers each request in flight (and any other that
 * still arrives on an open connection) with `Connection: close`, closes each connection when its
 * last response is out, and cuts what is left at its bound.
 */
import { createServer, IncomingMessage, ServerResponse, type OutgoingHttpHeader, type OutgoingHttpHeaders, type RequestListener, type Server } from 'node:http';
import type { Socket } from 'node:net';

/** The most of an unread body the server reads past to keep its connection: 1 MiB. */
const MAX_UNREAD_BYTES = 1024 * 1024;

/**
 * How long a connection closed after its response goes on reading (and dropping) what its
 * client still sends. Closed at once with a body still arriving, it would be reset, and a
 * client busy sending that body could lose the response it was sent (fetch did, 9 times in 20,
 * for a 4 MB body refused unread).
 */
const LINGER_MS = 5_000;

/** Ends `socket` after what was written to it, and drops what it still receives until its client closes it too, or LINGER_MS. */
function closeGently(socket: Socket): void {
  socket.end();
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  socket.once('close', () => clearTimeout(timer));
}

/** A request that counts the bytes of its body that arrived (Node's parser pushes each into it). */
class CountedRequest extends IncomingMessage {
  bodyBytes = 0;

  override push(chunk: unknown, encoding?: BufferEncoding): boolean {
    if (chunk) this.bodyBytes += (chunk as Buffer).length;
    return super.push(chunk, encoding);
  }
}

/** Whether, answering `req` now, its connection can carry another request: the rest of its body is known and small. */
function canKeepAfter(req: CountedRequest): boolean {
  if (req.complete) return true;
  const declared = req.headers['content-length'];
  return declared !== undefined && Number(declared) - req.bodyBytes <= MAX_UNREAD_BYTES;
}

/** Whether the app took `req`'s body in hand (a stream over it), so that Node leaves the rest of it alone. */
const touched = (req: IncomingMessage) => req.readableFlowing !== null || req.readableDidRead;

export interface HttpServer {
  readonly server: Server;
  /**
   * Stops taking connections and ends those it has, as above; after `timeoutMs`, cuts those
   * still open. Resolves once all are closed: true if they all ended by themselves.
   */
  stop(timeoutMs: number): Promise<boolean>;
}

/** An HTTP server for `listener` whose connections follow these rules (not listening yet). */
export function createHttpServer(listener: RequestListener): HttpServer {
  let stopping = false;
  /** Per connection, its responses not yet sent (more than one when requests are pipelined). */
  const unsent = new WeakMap<Socket, number>();
  /** Connections whose last response said `Connection: close`. */
  const closing = new WeakSet<Socket>();

  class Response extends ServerResponse<CountedRequest> {
    constructor(req: CountedRequest, ...rest: unknown[]) {
      // @ts-expect-error Node passes options (highWaterMark, …) its typings leave out.
      super(req, ...rest);
      const socket = req.socket;
      unsent.set(socket, (unsent.get(socket) ?? 0) + 1);
      let counted = true;
      const sent = () => {
        if (!counted) return;
        counted = false;
        const left = (unsent.get(socket) ?? 1) - 1;
        unsent.set(socket, left);
        // A response begun before the stop said keep-alive: its connection still closes after it.
        if (stopping && left === 0 && !closing.has(socket) && !socket.destroyed) setImmediate(() => socket.destroySoon());
      };
      this.once('finish', () => {
        // Node drains the rest of a body nobody touched; one the app began to read and left, it
        // leaves paused, and the connection with it: drain that one here.
        if (!req.readableEnded && touched(req)) {
          req.removeAllListeners('data');
          req.resume();
        }
        sent();
      });
      this.once('close', sent);
    }

    override writeHead(statusCode: number, statusMessage?: string, headers?: OutgoingHttpHeaders | OutgoingHttpHeader[]): this;
    override writeHead(statusCode: number, headers?: OutgoingHttpHeaders | OutgoingHttpHeader[]): this;
    override writeHead(...args: [number, (string | OutgoingHttpHeaders | OutgoingHttpHeader[])?, (OutgoingHttpHeaders | OutgoingHttpHeader[])?]): this {
      const req = this.req;
      const socket = req.socket;
      // Stopping, the last response queued on a connection closes it.
      const last = stopping && (unsent.get(socket) ?? 0) <= 1;
      if (this.shouldKeepAlive && (last || !canKeepAfter(req))) this.shouldKeepAlive = false;
      if (!this.shouldKeepAlive && !closing.has(socket)) {
        closing.add(socket);
        // What Node calls to close the connection once this response is out: with a body
        // still arriving, close it gently.
        if (!req.complete) socket.destroySoon = () => closeGently(socket);
      }
      return super.writeHead(...(args as [number, string?, OutgoingHttpHeaders?]));
    }
  }

  const connections = new Set<Socket>();
  const server = createServer({ IncomingMessage: CountedRequest, ServerResponse: Response }, (req, res) => {
    if (closing.has(req.socket)) {
      // Sent after a response that closed its connection: dropped, with its body.
      req.resume();
      return;
    }
    listener(req, res);
  });
  server.on('connection', (socket: Socket) => {
    connections.add(socket);
    socket.once('close', () => connections.delete(socket));
  });

  const stop = async (timeoutMs: number) => {
    stopping = true;
    // First read what clients already sent: a request waiting in a socket's buffer is served
    // (with Connection: close), not lost with a connection closed as idle.
    await new Promise(setImmediate);
    // Closing the server closes its connections idle between requests; Node counts one that
    // has sent nothing yet as busy (its wait for headers), so those are closed here.
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of connections) if (socket.bytesRead === 0) socket.destroy();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    const clean = await Promise.race([closed.then(() => true), late]);
    clearTimeout(timer);
    if (!clean) {
      server.closeAllConnections();
      await closed;
    }
    return clean;
  };
  return { server, stop };
}
