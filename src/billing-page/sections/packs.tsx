/** The credit packs on sale, as the pricing table shows them, and a Buy button for an owner or admin where the plan can spend them. */
import { Pack } from '../../admin/pages/pricing-table.tsx';
import { usableSources } from '../../core/bucket.ts';
import { isFree } from '../../core/plan.ts';
import { ActionForm } from '../layout.tsx';
import type { View } from '../view.ts';

type PackOffer = View['pricing']['packs'][number];

/** Whether the account's plan can spend packs at all, and buy this one (an add-on only on a paid plan). */
export const spendsPacks = (view: View) => usableSources(view.balance.plan.overage).includes('pack');
export const canBuy = (view: View, pack: PackOffer) => spendsPacks(view) && !(pack.addOn && isFree(view.balance.plan));

export function PacksSection({ view }: { view: View }) {
  const { pricing, balance } = view;
  if (pricing.packs.length === 0) return null;
  // The library refuses these too; said here so that no button leads to a refusal.
  const spendable = spendsPacks(view);
  return (
    <section id="packs">
      <h2>Credit packs</h2>
      {spendable ? null : <p class="muted">Your plan's usage stops at what it includes: packs are spent on a plan that goes on past it.</p>}
      <div class="price-cards">
        {pricing.packs.map((pack) => (
          <Pack pack={pack}>
            {!view.canAct ? null : pack.addOn && isFree(balance.plan) ? (
              <p class="muted">Subscribe to a paid plan first.</p>
            ) : canBuy(view, pack) ? (
              <ActionForm action="/billing/purchase" csrf={view.csrf} label={`Buy for ${pack.price.display}`} fields={{ pack: pack.slug }} />
            ) : null}
          </Pack>
        ))}
      </div>
    </section>
  );
}
