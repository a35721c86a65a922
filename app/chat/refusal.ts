/**
 * The gate's refusal as the chat shows it: its reason, and what to do about it in plain words
 * (buy a pack, upgrade, when the limit resets), with the account's billing page a click away.
 * It goes to the browser as a message of the chat, never as a failed stream.
 */
import type { Refusal } from 'tollgate';

export interface RefusalView {
  code: Refusal['code'];
  /** The gate's reason: what refused and why (the remedy is offered below it). */
  message: string;
  /** What to do, as a button's words; with a link when it is done on the billing page. */
  remedy: { label: string; href?: string };
  /** When the refusing limit lifts, e.g. "00:00 UTC" or "00:00 UTC on Dec 7". */
  resets?: string;
  billingHref: string;
}

export function refusalView(refusal: Refusal, billingHref: string, now: Date): RefusalView {
  const resetsAt = refusal.resetsAt ?? (refusal.remedy.kind === 'wait_until' ? refusal.remedy.at : undefined);
  const resets = resetsAt === undefined ? undefined : utcTime(resetsAt, now);
  return { code: refusal.code, message: refusal.reason, remedy: remedyOf(refusal, billingHref, resets), ...(resets && { resets }), billingHref };
}

function remedyOf({ code, remedy }: Refusal, billingHref: string, resets: string | undefined): RefusalView['remedy'] {
  switch (remedy.kind) {
    case 'buy_pack':
      return { label: 'Buy a credit pack', href: billingHref };
    case 'upgrade':
      return { label: 'Upgrade your plan', href: billingHref };
    case 'billing_portal':
      return { label: 'Pay what is due', href: billingHref };
    case 'update_payment_method':
      return { label: 'Update your card', href: billingHref };
    case 'wait_until':
      // A member's cap is the team's owner's to raise: nothing on the billing page is the member's to do.
      return { label: code === 'member_limit' ? `Try again after ${resets}, or ask the team's owner to raise your cap` : `Try again after ${resets}` };
    case 'ask_account_admin':
      return { label: "Ask the team's owner to raise your cap" };
    case 'contact_support':
      return { label: 'Contact support' };
  }
}

/** "00:00 UTC", with the day when it is not today's (UTC). */
function utcTime(at: Date, now: Date): string {
  const time = `${at.toISOString().slice(11, 16)} UTC`;
  if (at.toISOString().slice(0, 10) === now.toISOString().slice(0, 10)) return time;
  return `${time} on ${at.toLocaleDateString('en-US', { month: 'short', day: 'numeric', timeZone: 'UTC' })}`;
}
