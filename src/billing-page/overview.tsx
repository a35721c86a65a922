/** The billing page itself: every section, for the session's account. */
import type { Form } from '../admin/form.ts';
import type { Billing } from '../engine/billing.ts';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { render, type PageContext } from './layout.tsx';
import { displayOf } from './money.ts';
import { AutoRechargeSection } from './sections/auto-recharge.tsx';
import { BalanceSection } from './sections/balance.tsx';
import { LimitsSection } from './sections/limits.tsx';
import { PacksSection } from './sections/packs.tsx';
import { PaymentsSection } from './sections/payments.tsx';
import { PlansSection } from './sections/plans.tsx';
import { UsageSection } from './sections/usage.tsx';
import { readUsage, readView, usageRange } from './view.ts';

/** Where a processor's checkout page sends the customer back, and what the page then says. */
export const CHECKOUT_RETURNS = {
  paid: 'Back from checkout: what you paid for shows here as soon as the payment processor confirms it, usually within seconds.',
  left: 'Checkout was left before paying: nothing was charged.',
} as const;

/** The page; drawn again with a form's values and what was wrong with them, when one was refused. */
export async function overview(c: PageContext, billing: Billing, refused?: { autoRecharge: { form: Form; error: string } }, status: ContentfulStatusCode = 200) {
  const view = await readView(billing, c.get('session'), c.get('csrf'), usageRange(c.req.query('days')));
  const returned = CHECKOUT_RETURNS[c.req.query('checkout') as keyof typeof CHECKOUT_RETURNS];
  // The page again without the note: a reload of this address would say it again.
  const again = new URL(c.req.url);
  again.searchParams.delete('checkout');
  return render(c, {
    title: 'Billing',
    accountName: view.account.name || view.account.id,
    status,
    // The form's own error is beside its fields, below; said at the top too, where the page opens.
    note: refused ? { kind: 'error', text: `Auto-recharge was not saved: ${refused.autoRecharge.error.replace(/\.?$/, '.')}` } : undefined,
    scripts: ['/billing/assets/uPlot.min.js', '/billing/assets/billing.js'],
    body: (
      <>
        {returned ? (
          <p class="note" role="status">
            {returned}
            {returned === CHECKOUT_RETURNS.paid ? (
              <>
                {' '}
                <a href={`${again.pathname}${again.search}`}>Reload</a> to see it.
              </>
            ) : null}
          </p>
        ) : null}
        <div class="grid">
          <BalanceSection view={view} />
          <LimitsSection view={view} />
        </div>
        <PlansSection view={view} />
        <PacksSection view={view} />
        <AutoRechargeSection view={view} form={refused?.autoRecharge.form} error={refused?.autoRecharge.error} />
        <UsageSection usage={view.usage} />
        <PaymentsSection view={view} />
      </>
    ),
  });
}

/** The usage section alone, over another range: what htmx swaps in. */
export async function usagePart(c: PageContext, billing: Billing) {
  const session = c.get('session');
  const [account, settings] = await Promise.all([billing.getAccount(session.accountId), billing.admin.getSettings()]);
  const usage = await readUsage(billing, session, account, displayOf(settings), usageRange(c.req.query('days')));
  return c.html((<UsageSection usage={usage} />).toString());
}
