/**
 * Paddle's webhook signature, checked by our own code rather than the SDK's (which keeps only
 * the last h1 of the header, compares with ===, and allows 5 seconds). The header is
 * `Paddle-Signature: ts=<unix seconds>;h1=<hex>`, h1 being HMAC-SHA256 of `${ts}:${rawBody}`
 * under the notification destination's secret; while Paddle rotates that secret it sends one
 * h1 per secret, and any one that verifies is enough. Each is compared in constant time, and
 * a timestamp further than the tolerance from now, either way, is refused as a replay.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { WebhookSignatureError } from '../../../engine/processor.ts';

/** How far from now a signature's timestamp may be, by default: five minutes, as Stripe allows. */
export const DEFAULT_TOLERANCE_SECONDS = 300;

export function verifySignature(rawBody: string, header: string | null, secret: string, toleranceSeconds: number, nowMs = Date.now()): void {
  if (!header) throw new WebhookSignatureError('Paddle webhook not verified: no Paddle-Signature header');
  const { ts, h1 } = parseHeader(header);
  if (Math.abs(nowMs / 1000 - Number(ts)) > toleranceSeconds) {
    throw new WebhookSignatureError(`Paddle webhook not verified: its timestamp ${ts} is more than ${toleranceSeconds} s from now`);
  }
  const expected = createHmac('sha256', secret).update(`${ts}:${rawBody}`, 'utf8').digest();
  // Each candidate is compared in full; which of them matched is not secret.
  const verified = h1.map((signature) => signature.length === expected.length && timingSafeEqual(signature, expected)).includes(true);
  if (!verified) throw new WebhookSignatureError('Paddle webhook not verified: no h1 signature matches the body under the webhook secret');
}

/** `ts=…;h1=…[;h1=…]`: the timestamp, and every h1 that is well-formed hex. */
function parseHeader(header: string): { ts: string; h1: Buffer[] } {
  let ts: string | undefined;
  const h1: Buffer[] = [];
  for (const part of header.split(';')) {
    const at = part.indexOf('=');
    const [key, value] = at < 0 ? [part.trim(), ''] : [part.slice(0, at).trim(), part.slice(at + 1).trim()];
    if (key === 'ts' && /^\d{1,12}$/.test(value)) ts = value;
    else if (key === 'h1' && /^[0-9a-f]{64}$/i.test(value)) h1.push(Buffer.from(value, 'hex'));
  }
  if (ts === undefined || h1.length === 0) throw new WebhookSignatureError('Paddle webhook not verified: the Paddle-Signature header has no ts or no h1');
  return { ts, h1 };
}
