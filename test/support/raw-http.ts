/**
 * HTTP/1.1 over one raw socket, for what a client library hides: the bytes a test writes
 * (a body the server will not read, pipelined requests), each response in order with its
 * `Connection` header, and how and when the connection ended.
 */
import { connect, type Socket } from 'node:net';

export interface RawResponse {
  status: number;
  /** Header names in lower case. */
  headers: Record<string, string>;
  body: string;
  /** Whether the server said it keeps the connection (HTTP/1.1's default). */
  keepAlive: boolean;
}

/** How a wait for the next response ended. */
export type Next = RawResponse | { closed: 'end' | 'reset' } | { timeout: true };

export class RawConnection {
  #buffer = Buffer.alloc(0);
  #ended: 'end' | 'reset' | undefined;
  #wake: (() => void) | undefined;
  readonly closed: Promise<'end' | 'reset'>;

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      this.#wake?.();
    });
    this.closed = new Promise((resolve) => {
      socket.on('error', () => {
        this.#ended ??= 'reset';
      });
      socket.on('end', () => {
        this.#ended ??= 'end';
      });
      socket.on('close', () => {
        this.#ended ??= 'end';
        this.#wake?.();
        resolve(this.#ended);
      });
    });
  }

  /** A connection to 127.0.0.1:port; rejects when it is refused. */
  static open(port: number): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => resolve(new RawConnection(socket)));
      socket.once('error', reject);
    });
  }

  /** Writes without waiting: bytes the server does not read stay queued here, as a client's would. */
  write(data: string | Buffer): void {
    if (!this.socket.destroyed) this.socket.write(data);
  }

  /** The next response, or how the connection ended before one came, or a timeout. */
  async next(timeoutMs: number): Promise<Next> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const response = this.#take();
      if (response) return response;
      if (this.#ended) return { closed: this.#ended };
      const left = deadline - Date.now();
      if (left <= 0) return { timeout: true };
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
    }
  }

  /** Resolves with how the connection ended, or 'open' if it is still open after `timeoutMs`. */
  async end(timeoutMs: number): Promise<'end' | 'reset' | 'open'> {
    let timer: NodeJS.Timeout | undefined;
    const open = new Promise<'open'>((resolve) => (timer = setTimeout(() => resolve('open'), timeoutMs)));
    const how = await Promise.race([this.closed, open]);
    clearTimeout(timer);
    return how;
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** A whole response at the start of the buffer, taken off it; else undefined. */
  #take(): RawResponse | undefined {
    const headEnd = this.#buffer.indexOf('\r\n\r\n');
    if (headEnd < 0) return undefined;
    const [statusLine = '', ...lines] = this.#buffer.subarray(0, headEnd).toString('latin1').split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const status = Number(statusLine.split(' ')[1]);
    let rest = this.#buffer.subarray(headEnd + 4);
    let body: Buffer;
    if (headers['transfer-encoding'] === 'chunked') {
      const chunks: Buffer[] = [];
      for (;;) {
        const lineEnd = rest.indexOf('\r\n');
        if (lineEnd < 0) return undefined;
        const size = parseInt(rest.subarray(0, lineEnd).toString('latin1'), 16);
        if (rest.length < lineEnd + 2 + size + 2) return undefined;
        chunks.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
        rest = rest.subarray(lineEnd + 2 + size + 2);
        if (size === 0) break;
      }
      body = Buffer.concat(chunks);
    } else {
      const length = Number(headers['content-length'] ?? 0);
      if (rest.length < length) return undefined;
      body = rest.subarray(0, length);
      rest = rest.subarray(length);
    }
    this.#buffer = rest;
    return { status, headers, body: body.toString('utf8'), keepAlive: headers.connection?.toLowerCase() !== 'close' };
  }
}

/** A request's bytes: `headers` as given, Host added, and Content-Length for a string or Buffer body. */
export function request(method: string, path: string, headers: Record<string, string> = {}, body?: string | Buffer): Buffer {
  const all: Record<string, string> = { Host: '127.0.0.1', ...headers };
  if (body !== undefined && !Object.keys(all).some((name) => name.toLowerCase() === 'transfer-encoding')) all['Content-Length'] = String(Buffer.byteLength(body));
  const head = `${method} ${path} HTTP/1.1\r\n${Object.entries(all).map(([name, value]) => `${name}: ${value}\r\n`).join('')}\r\n`;
  return body === undefined ? Buffer.from(head, 'latin1') : Buffer.concat([Buffer.from(head, 'latin1'), Buffer.from(body)]);
}
