/**
 * Auto-recharge: its state (on, paused until the month ends, or off and why: a declined card, say)
 * and the form that sets it. Setting it again turns it back on after it turned itself off.
 */
import { plainDollars, usd } from '../../admin/format.ts';
import type { Form } from '../../admin/form.ts';
import { Csrf } from '../../admin/layout.tsx';
import { amount, amountValue, unitLabel, when } from '../money.ts';
import type { View } from '../view.ts';
import { canBuy } from './packs.tsx';

const STATE = { on: 'On', off: 'Turned off', paused: 'Paused', disabled: 'Off' } as const;

type Setting = NonNullable<View['balance']['autoRecharge']>;

/** The form's labels as its refusals name them ("At most, recharges a month: …"), by the library's field names. */
export const LABELS = { thresholdMicros: 'When less than this is left', monthlyMaxCount: 'At most, recharges a month', monthlyMaxMicros: 'At most, charged a month', pack: 'Buy' } as const;
const FIELDS = { threshold: LABELS.thresholdMicros, maxCount: LABELS.monthlyMaxCount, maxDollars: LABELS.monthlyMaxMicros, pack: LABELS.pack } as const;

/** A field the refusal names is marked invalid and described by it, so that a screen reader on the field says what is wrong. */
const refused = (error: string | undefined, field: keyof typeof FIELDS) =>
  error?.includes(`${FIELDS[field]}:`) ? { 'aria-invalid': 'true', 'aria-describedby': 'auto-recharge-error' } : {};

/**
 * What an auto-recharge charges, to what, when and how often, in the customer's words: "buys 1,000
 * extra credits for $10.00, plus anything owed, on the saved card when less than 200 credits is
 * left, at most 3 times and $30 a month" (or "with no monthly cap"). The note after saving says the same.
 */
export function whatItCharges(setting: Pick<Setting, 'pack' | 'thresholdMicros' | 'monthlyMaxCount' | 'monthlyMaxMicros'>, packs: View['pricing']['packs'], display: View['display'], names?: View['names']['pack']): string {
  const pack = packs.find((p) => p.slug === setting.pack);
  const caps = [setting.monthlyMaxCount === null ? '' : `${setting.monthlyMaxCount} ${setting.monthlyMaxCount === 1 ? 'time' : 'times'}`, setting.monthlyMaxMicros === null ? '' : usd(setting.monthlyMaxMicros)].filter(Boolean);
  return (
    // What is owed then is paid with the pack, in the same charge (and counts toward the monthly cap).
    `buys ${pack?.name ?? names?.get(setting.pack) ?? setting.pack}${pack ? ` for ${pack.price.display}` : ''}, plus anything owed, on the saved card when less than ${amount(setting.thresholdMicros, display)} is left, ` +
    (caps.length > 0 ? `at most ${caps.join(' and ')} a month` : 'with no monthly cap')
  );
}

/**
 * Why it turned itself off, and what to do, for the customer: the card's trouble as the library
 * says it, then to check the payment method; a pack no longer for sale to the account by its
 * name (the library's own words name its slug), then to choose another or subscribe.
 */
function offReason(off: NonNullable<Setting['off']>, view: View): string {
  switch (off.code) {
    case 'pack_unavailable': {
      const next = view.pricing.packs.some((p) => canBuy(view, p)) ? 'Choose a pack on sale to your plan, then turn it on again.' : 'Subscribe to a plan that packs are sold to, then turn it on again.';
      return `${packName(view)} can no longer be bought on your plan. ${next}`;
    }
    case 'processor_unanswered':
      return off.message;
    default:
      return `${off.message} Check the payment method, then turn it on again.`;
  }
}

/** The setting's pack by the name it was sold under, on sale still or not (archived since, say). */
const packName = (view: View) => {
  const slug = view.balance.autoRecharge?.pack ?? '';
  return view.names.pack.get(slug) ?? 'the pack it bought';
};

/** On, with a pack the plan can no longer buy (taken off sale, or the plan changed): it would turn itself off at the next recharge, charging nothing. */
const cannotBuyItsPack = (view: View, setting: Setting) =>
  (setting.state === 'on' || setting.state === 'paused') && !view.pricing.packs.some((p) => p.slug === setting.pack && canBuy(view, p));

function State({ view }: { view: View }) {
  const setting = view.balance.autoRecharge;
  if (!setting) return <p class="muted">Off: buy a pack automatically when the balance runs low.</p>;
  const stuck = cannotBuyItsPack(view, setting);
  return (
    <p class={setting.state === 'off' || stuck ? 'error' : 'muted'} data-figure="auto-recharge-state">
      <strong>{STATE[setting.state]}</strong>
      {setting.state === 'on' || setting.state === 'paused' ? `: ${whatItCharges(setting, view.pricing.packs, view.display, view.names.pack)}` : ''}
      {setting.pausedUntil ? `, paused until ${when(setting.pausedUntil, view.account.timeZone)} (the next recharge would go past a monthly cap)` : ''}
      {stuck ? `. But ${packName(view)} can no longer be bought on your plan, so nothing will be charged: it turns itself off when the balance runs low. ${view.pricing.packs.some((p) => canBuy(view, p)) ? 'Choose a pack on sale to your plan, or turn it off.' : 'Turn it off, or subscribe to a plan that packs are sold to.'}` : ''}
      {setting.off ? `: ${offReason(setting.off, view)}` : ''}
      {setting.recharging ? ' A recharge is under way.' : ''}
    </p>
  );
}

export function AutoRechargeSection({ view, form, error }: { view: View; form?: Form; error?: string }) {
  const setting = view.balance.autoRecharge;
  // Only packs the plan can buy are offered: one it cannot would be refused at saving. A setting
  // still on from a plan that could is shown with every pack, so that it can be turned off (with
  // no pack on sale at all, a button turns it off); one that turned itself off shows only why.
  const buyable = view.pricing.packs.filter((p) => canBuy(view, p));
  const on = setting?.state === 'on' || setting?.state === 'paused';
  const offered = buyable.length > 0 || !on ? buyable : view.pricing.packs;
  if (!view.canAct || (offered.length === 0 && !setting)) return null;
  const { display } = view;
  const values = form ?? {
    enabled: setting === null || setting.enabled ? 'on' : '',
    pack: setting?.pack ?? offered[0]?.slug ?? '',
    threshold: setting ? amountValue(setting.thresholdMicros, display) : '',
    maxCount: setting?.monthlyMaxCount?.toString() ?? '',
    maxDollars: setting?.monthlyMaxMicros ? plainDollars(setting.monthlyMaxMicros) : '',
  };
  return (
    <section id="auto-recharge" class="card">
      <h2>Auto-recharge</h2>
      <State view={view} />
      {error ? (
        <p class="error" role="alert" id="auto-recharge-error">
          {error}
        </p>
      ) : null}
      {offered.length === 0 ? (
        on ? (
          // No pack on sale to choose: it can still be turned off, as it is.
          <form method="post" action="/billing/auto-recharge" class="action" id="auto-recharge-off">
            <Csrf token={view.csrf} />
            {Object.entries({ pack: values.pack, threshold: values.threshold, maxCount: values.maxCount, maxDollars: values.maxDollars }).map(([name, value]) => (
              <input type="hidden" name={name} value={value} />
            ))}
            <button type="submit" class="secondary">
              Turn auto-recharge off
            </button>
          </form>
        ) : null
      ) : (
        <form method="post" action="/billing/auto-recharge" class="form" id="auto-recharge-form">
          <Csrf token={view.csrf} />
          <label class="check">
            <input type="checkbox" name="enabled" value="on" checked={values.enabled === 'on'} />
            <span>Recharge automatically on the saved card</span>
          </label>
          <div class="row">
            <label class="field">
              <span>Buy</span>
              <select name="pack" {...refused(error, 'pack')}>
                {offered.map((p) => (
                  <option value={p.slug} selected={p.slug === values.pack}>
                    {p.name} ({p.price.display})
                  </option>
                ))}
              </select>
            </label>
            <label class="field">
              <span>When less than ({unitLabel(display)}) is left</span>
              <input type="text" inputmode="decimal" name="threshold" value={values.threshold} required {...refused(error, 'threshold')} placeholder={display.displayUnit === 'credits' ? '200' : '2'} />
            </label>
          </div>
          <div class="row">
            <label class="field">
              <span>At most, recharges a month</span>
              <input type="text" inputmode="numeric" name="maxCount" value={values.maxCount} placeholder="no cap" {...refused(error, 'maxCount')} />
            </label>
            <label class="field">
              <span>At most, charged a month ($)</span>
              <input type="text" inputmode="decimal" name="maxDollars" value={values.maxDollars} placeholder="no cap" {...refused(error, 'maxDollars')} />
            </label>
          </div>
          <button type="submit">Save auto-recharge</button>
        </form>
      )}
    </section>
  );
}
