/**
 * Settings: the margin (with what it means and what it would leave wrong with the plans and
 * packs, live), the display unit and what a credit is worth, the default plan, what to do with
 * a model the price book does not know, and holds.
 */
import type { Billing } from '../../engine/billing.ts';
import { BillingError } from '../../core/errors.ts';
import type { Plan } from '../../core/plan.ts';
import type { Rate } from '../../core/pricing/price.ts';
import { checksRaised, type Catalog, type Check } from '../../core/sanity.ts';
import type { Settings, SettingsInput } from '../../core/settings.ts';
import { CheckList, FORM_LEAD } from '../checks.tsx';
import { marginSentence } from '../derive.ts';
import { credits, plainDollars, type Display } from '../format.ts';
import { bpsField, microsField, rateField, readForm, wholeField, type Form } from '../form.ts';
import { attempt, Csrf, done, ErrorNote, Field, render, Select, type AdminContext, type Page } from '../layout.tsx';

const rateText = (r: Rate | undefined) => (typeof r === 'string' ? r : r ? r.base : '');

function valuesOf(settings: Settings, plans: Plan[]): Form {
  const fallback = settings.fallbackPrice?.rates;
  return {
    margin: String(settings.marginBps / 100),
    displayUnit: settings.displayUnit,
    creditValue: plainDollars(settings.creditValueMicros),
    defaultPlan: plans.find((p) => p.id === settings.defaultPlanId)?.slug ?? '',
    unknownModelPolicy: settings.unknownModelPolicy,
    fallbackInput: rateText(fallback?.input),
    fallbackOutput: rateText(fallback?.output),
    fallbackCacheRead: rateText(fallback?.cacheRead),
    fallbackCacheWrite: rateText(fallback?.cacheWrite),
    minHold: plainDollars(settings.minHoldMicros),
    holdTtl: String(settings.holdTtlSeconds),
    pastDueGrace: String(settings.pastDueGraceDays),
    refundUsedValue: settings.refundUsedValue,
  };
}

function inputOf(form: Form): SettingsInput {
  const rates = { input: rateField(form, 'fallbackInput'), output: rateField(form, 'fallbackOutput'), cacheRead: rateField(form, 'fallbackCacheRead'), cacheWrite: rateField(form, 'fallbackCacheWrite') };
  const anyRate = Object.values(rates).some((r) => r !== undefined);
  return {
    marginBps: bpsField(form, 'margin', 'Margin'),
    displayUnit: form.displayUnit as 'usd' | 'credits',
    creditValueMicros: microsField(form, 'creditValue', 'A credit is worth'),
    ...(form.defaultPlan ? { defaultPlan: form.defaultPlan } : {}),
    unknownModelPolicy: form.unknownModelPolicy as 'refuse' | 'fallback',
    fallbackRates: anyRate ? Object.fromEntries(Object.entries(rates).filter(([, r]) => r !== undefined)) : null,
    minHoldMicros: microsField(form, 'minHold', 'Minimum hold'),
    holdTtlSeconds: wholeField(form, 'holdTtl', 'Hold lifetime'),
    pastDueGraceDays: wholeField(form, 'pastDueGrace', 'Grace (days)'),
    ...(form.refundUsedValue ? { refundUsedValue: form.refundUsedValue as 'debt' | 'write_off' } : {}),
  };
}

/**
 * What saving the form's margin and default plan would leave wrong with the plans and packs
 * (core/sanity.ts), that is not wrong already: none while the margin cannot be read.
 */
function checksOf(catalog: Catalog, form: Form): Check[] {
  try {
    const marginBps = bpsField(form, 'margin', 'Margin');
    if (marginBps === undefined || marginBps >= 10_000) return [];
    const defaultPlanId = catalog.plans.find((p) => p.slug === form.defaultPlan)?.id ?? catalog.settings.defaultPlanId;
    return checksRaised(catalog, { ...catalog, settings: { marginBps, defaultPlanId } });
  } catch (error) {
    if (error instanceof BillingError) return [];
    throw error;
  }
}

/** What the margin and the credit mean, from the form as it stands, and what its margin would leave wrong. */
function Live({ form, checks }: { form: Form; checks: Check[] }) {
  let margin: string;
  let unit: string;
  try {
    const bps = bpsField(form, 'margin', 'Margin');
    margin = bps === undefined ? 'Enter a margin.' : bps >= 10_000 ? 'A margin must be below 100%: at 100% no price covers the cost.' : `${marginSentence(bps)[0]!.toUpperCase()}${marginSentence(bps).slice(1)}.`;
  } catch (error) {
    margin = error instanceof BillingError ? error.message : 'Enter a margin.';
  }
  try {
    const creditValueMicros = microsField(form, 'creditValue', 'A credit is worth');
    const display: Display = { displayUnit: form.displayUnit === 'credits' ? 'credits' : 'usd', creditValueMicros: (creditValueMicros ?? 10_000) as Display['creditValueMicros'] };
    unit = !creditValueMicros
      ? 'Enter what a credit is worth.'
      : `$10.00 of usage is ${credits(10_000_000, display)}; people see ${display.displayUnit === 'credits' ? 'credits' : 'dollars'}.`;
  } catch (error) {
    unit = error instanceof BillingError ? error.message : '';
  }
  return (
    <>
      <p class="sentence" data-live="margin">{margin}</p>
      <CheckList checks={checks} lead={FORM_LEAD} />
      <p class="muted" data-live="unit">{unit}</p>
    </>
  );
}

function SettingsForm({ c, form, plans, error, checks }: { c: AdminContext; form: Form; plans: Plan[]; error?: string; checks: Check[] }) {
  const defaults = plans.filter((p) => p.priceCents === 0 && (p.status === 'active' || p.slug === form.defaultPlan));
  return (
    <form method="post" action="/admin/settings" class="card form settings">
      <Csrf token={c.get('csrf')} />
      <fieldset>
        <legend>Margin</legend>
        <Field label="Margin (%)" name="margin" value={form.margin} step="0.01" hint="The share of what people pay that is not provider cost." />
        <div class="live" hx-post="/admin/settings/preview" hx-trigger="input from:closest form delay:150ms, change from:closest form" hx-swap="innerHTML" hx-include="closest form" hx-sync="this:queue last">
          <Live form={form} checks={checks} />
        </div>
      </fieldset>
      <fieldset>
        <legend>How amounts are shown</legend>
        <Select label="Display unit" name="displayUnit" value={form.displayUnit} options={[['usd', 'Dollars'], ['credits', 'Credits']]} />
        <Field label="A credit is worth ($)" name="creditValue" value={form.creditValue} step="0.000001" />
      </fieldset>
      <fieldset>
        <legend>New accounts</legend>
        <Select label="Default plan" name="defaultPlan" value={form.defaultPlan} options={defaults.map((p) => [p.slug, p.name] as const)} hint="Always a free plan: accounts are on it without paying." />
      </fieldset>
      <fieldset>
        <legend>Models the price book does not know</legend>
        <Select label="Policy" name="unknownModelPolicy" value={form.unknownModelPolicy} options={[['refuse', 'Refuse the call'], ['fallback', 'Charge the fallback price']]} />
        <div class="row rates">
          <Field label="Input ($ per 1M tokens)" name="fallbackInput" value={form.fallbackInput} step="any" />
          <Field label="Output ($ per 1M tokens)" name="fallbackOutput" value={form.fallbackOutput} step="any" />
          <Field label="Cache read ($ per 1M tokens)" name="fallbackCacheRead" value={form.fallbackCacheRead} step="any" />
          <Field label="Cache write ($ per 1M tokens)" name="fallbackCacheWrite" value={form.fallbackCacheWrite} step="any" />
        </div>
      </fieldset>
      <fieldset>
        <legend>Holds</legend>
        <div class="row">
          <Field label="Minimum hold ($)" name="minHold" value={form.minHold} step="0.000001" hint="Held when a call does not say how large it will be." />
          <Field label="Hold lifetime (seconds)" name="holdTtl" value={form.holdTtl} hint="An open hold lapses after this long (its caller is presumed gone)." />
        </div>
      </fieldset>
      <fieldset>
        <legend>Failed renewals</legend>
        <Field
          label="Grace (days)"
          name="pastDueGrace"
          value={form.pastDueGrace}
          hint="A renewal whose payment failed: for this many days the account is on the default plan's terms, then refused (payment_past_due) until it is paid. 0 refuses at once."
        />
      </fieldset>
      <fieldset>
        <legend>Refunded packs</legend>
        <Select
          label="Value already used"
          name="refundUsedValue"
          value={form.refundUsedValue}
          options={[['debt', 'Owed: the account pays it with its next purchase'], ['write_off', 'Written off']]}
          hint="A refunded pack takes back what is left of it; this is what becomes of the part already spent."
        />
      </fieldset>
      <ErrorNote error={error} />
      <button type="submit">Save settings</button>
    </form>
  );
}

export const settingsPage: Page = (admin, billing: Billing) => {
  admin.get('/settings', async (c) => {
    const plans = await billing.admin.listPlans();
    const form = valuesOf(await billing.admin.getSettings(), plans);
    return render(c, { title: 'Settings', body: <SettingsForm c={c} form={form} plans={plans} checks={[]} /> });
  });

  admin.post('/settings/preview', async (c) => {
    const form = await readForm(c);
    return c.html(<Live form={form} checks={checksOf(await billing.admin.catalog(), form)} />);
  });

  admin.post('/settings', async (c) => {
    const form = await readForm(c);
    const result = await attempt(async () => billing.admin.updateSettings(inputOf(form)));
    if (result.ok) return done(c, '/admin/settings', 'Settings saved.');
    const plans = await billing.admin.listPlans();
    const checks = checksOf(await billing.admin.catalog(), form);
    return render(c, { title: 'Settings', status: 422, body: <SettingsForm c={c} form={form} plans={plans} error={result.error} checks={checks} /> });
  });
};
