/**
 * The chat's refusal as the app says it: a member stopped by the cap their team set for them is
 * told who can raise it, since nothing on the billing page is theirs to do.
 */
import { describe, expect, it } from 'vitest';
import type { Refusal } from '../src/index.ts';
import { refusalView } from '../app/chat/refusal.ts';

const now = new Date('2026-03-10T12:00:00Z');
const at = new Date('2026-03-11T00:00:00Z');
const refusal = (code: Refusal['code'], remedy: Refusal['remedy']): Refusal =>
  ({ ok: false, code, reason: 'Refused.', message: 'Refused.', remedy, ...(remedy.kind === 'wait_until' && { resetsAt: remedy.at }) }) as Refusal;

describe('the chat\'s refusal', () => {
  it('tells a capped member to wait for the reset or ask the team\'s owner, and one whose call is larger than the cap to ask', () => {
    expect(refusalView(refusal('member_limit', { kind: 'wait_until', at }), '/billing-link', now).remedy).toEqual({
      label: 'Try again after 00:00 UTC on Mar 11, or ask the team\'s owner to raise your cap',
    });
    expect(refusalView(refusal('member_limit', { kind: 'ask_account_admin' }), '/billing-link', now).remedy).toEqual({ label: 'Ask the team\'s owner to raise your cap' });
  });

  it('offers support only where support is the remedy', () => {
    expect(refusalView(refusal('unknown_model', { kind: 'contact_support' }), '/billing-link', now).remedy).toEqual({ label: 'Contact support' });
  });

  it('keeps the account\'s own limits as they were: wait for the reset, or upgrade on the billing page', () => {
    expect(refusalView(refusal('daily_limit', { kind: 'wait_until', at }), '/billing-link', now).remedy).toEqual({ label: 'Try again after 00:00 UTC on Mar 11' });
    expect(refusalView(refusal('daily_limit', { kind: 'upgrade' }), '/billing-link', now).remedy).toEqual({ label: 'Upgrade your plan', href: '/billing-link' });
  });
});
