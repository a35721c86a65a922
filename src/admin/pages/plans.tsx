/**
 * Plans: the list with each plan's derived figures, a form to create one and a page to edit
 * one (price, surcharge, included usage, day and month limits in value or tokens, overage,
 * model allow-list), its figures live beside the form; archive and restore.
 */
import type { Billing } from '../../engine/billing.ts';
import { BillingError } from '../../core/errors.ts';
import type { Micros } from '../../core/money.ts';
import { parseInput, slugSchema } from '../../core/input.ts';
import { includedMicros, planInputSchema, type Limit, type Plan, type PlanInput } from '../../core/plan.ts';
import { checksOfChange, type Catalog, type Check as SanityCheck } from '../../core/sanity.ts';
import type { Settings } from '../../core/settings.ts';
import { derive } from '../derive.ts';
import { catalogRoutes } from '../catalog-routes.tsx';
import { planArchiveEffect, planSaveEffect } from '../holders.tsx';
import { canonical, type FieldChange } from '../../core/presets.ts';
import { TERM_FIELDS } from '../../engine/catalog/plan-versions.ts';
import { describe, withIncluded } from './pricing.tsx';
import { PlanVersionsCard, planVersionRoutes } from './plan-versions.tsx';
import { FormChecks } from '../checks.tsx';
import { DEFAULT_MODEL, figures, FiguresAside, priceOf } from '../figures.tsx';
import { cents, limitsText, modelsText, plainDollars, tokens, usd, value } from '../format.ts';
import { centsField, checked, grantField, listField, microsField, wholeField, type Form } from '../form.ts';
import { Check, Csrf, ErrorNote, Field, render, Select, type AdminContext, type Page } from '../layout.tsx';

const LIMIT_FIELDS = [
  ['dayUsd', 'day', 'usd', 'Daily limit ($)'],
  ['dayTokens', 'day', 'tokens', 'Daily limit (tokens)'],
  ['monthUsd', 'month', 'usd', 'Monthly limit ($)'],
  ['monthTokens', 'month', 'tokens', 'Monthly limit (tokens)'],
] as const;

function valuesOf(plan?: Plan): Form {
  if (!plan) return { status: 'active', overage: 'block', public: 'on', sort: '0', model: DEFAULT_MODEL };
  const form: Form = {
    slug: plan.slug, name: plan.name, status: plan.status, price: plainDollars(plan.priceCents * 10_000), surcharge: plainDollars(plan.surchargeCents * 10_000),
    included: plan.includedMicrosOverride === null ? '' : plainDollars(plan.includedMicrosOverride), overage: plan.overage, models: plan.models.join('\n'),
    sort: String(plan.sort), model: DEFAULT_MODEL,
  };
  if (plan.public) form.public = 'on';
  for (const [name, window, unit] of LIMIT_FIELDS) {
    // The tightest limit of each kind is the one that binds.
    const amounts = plan.limits.filter((l) => l.window === window && l.unit === unit).map((l) => l.amount);
    if (amounts.length) form[name] = unit === 'usd' ? plainDollars(Math.min(...amounts)) : String(Math.min(...amounts));
  }
  return form;
}

function required<T>(v: T | undefined, label: string): T {
  if (v === undefined) throw new BillingError('invalid_input', `${label}: must not be empty`);
  return v;
}

function inputOf(form: Form): Omit<PlanInput, 'slug'> {
  const limits: Limit[] = [];
  for (const [name, window, unit, label] of LIMIT_FIELDS) {
    const amount = unit === 'usd' ? microsField(form, name, label) : wholeField(form, name, label);
    if (amount !== undefined) limits.push({ window, unit, amount });
  }
  return {
    name: form.name ?? '',
    status: (form.status ?? 'active') as Plan['status'],
    priceCents: required(centsField(form, 'price', 'Price'), 'Price'),
    surchargeCents: centsField(form, 'surcharge', 'Surcharge') ?? 0,
    includedMicros: grantField(form, 'included', 'Included usage') ?? null,
    limits,
    overage: form.overage === 'credits' ? 'credits' : 'block',
    models: listField(form, 'models'),
    public: checked(form, 'public'),
    sort: wholeField(form, 'sort', 'Order') ?? 0,
  };
}

/** What saving the form would leave wrong: its plan put in the catalog in place of the one of its slug (or added). */
function checksOf(catalog: Catalog, form: Form): SanityCheck[] {
  const slug = slugSchema.safeParse(form.slug).success ? form.slug! : 'new';
  const existing = catalog.plans.find((p) => p.slug === slug);
  const { includedMicros: included, ...plan } = parseInput(planInputSchema, { ...inputOf(form), slug }, 'plan');
  return checksOfChange(catalog, { kind: 'plan', item: { ...plan, id: existing?.id ?? 0, includedMicrosOverride: (included ?? null) as Micros | null } });
}

/** What the form's plan includes, or why that cannot be said yet. */
function includedOf(form: Form): Micros | { problem: string } {
  try {
    const priceCents = centsField(form, 'price', 'Price') ?? 0;
    const surchargeCents = centsField(form, 'surcharge', 'Surcharge') ?? 0;
    const explicit = grantField(form, 'included', 'Included usage');
    if (surchargeCents > priceCents) return { problem: 'The surcharge is more than the price.' };
    return includedMicros({ priceCents, surchargeCents, includedMicrosOverride: (explicit ?? null) as Micros | null });
  } catch (error) {
    if (error instanceof BillingError) return { problem: error.message };
    throw error;
  }
}

function PlanForm({ c, form, action, plan, error, f, checks }: { c: AdminContext; form: Form; action: string; plan?: Plan; error?: string; f: Awaited<ReturnType<typeof figures>>; checks: SanityCheck[] }) {
  return (
    <form method="post" action={action} class="card form with-figures" id="plan-form">
      <Csrf token={c.get('csrf')} />
      <div class="fields">
        <div class="row">
          <Field label="Name" name="name" value={form.name} required />
          {plan ? <Field label="Slug" name="slug" value={plan.slug} readonly hint="The id apps and the API use." /> : <Field label="Slug" name="slug" value={form.slug} required placeholder="pro" hint="Lowercase letters, digits, - and _." />}
        </div>
        <div class="row">
          <Field label="Price ($ a month)" name="price" value={form.price} required step="0.01" hint="0 makes a free plan." />
          <Field label="Surcharge ($)" name="surcharge" value={form.surcharge} step="0.01" hint="The part of the price that is not usage." />
          <Field label="Included usage ($)" name="included" value={form.included} step="0.000001" hint="Blank: price − surcharge." />
        </div>
        <div class="row">
          {LIMIT_FIELDS.map(([name, , unit, label]) => (
            <Field label={label} name={name} value={form[name]} step={unit === 'usd' ? '0.000001' : '1'} hint="Blank: none." />
          ))}
        </div>
        <div class="row">
          <Select label="Overage" name="overage" value={form.overage} options={[['block', 'Block at the allowance'], ['credits', 'Spend credit packs']]} hint="Whether usage may go on into purchased credit." />
          <Field label="Order" name="sort" value={form.sort} />
          {plan ? <Select label="Status" name="status" value={form.status} options={[['active', 'Active'], ['legacy', 'Legacy (kept, off sale)'], ['archived', 'Archived']]} /> : null}
        </div>
        <label class="field">
          <span>Models allowed</span>
          <textarea name="models" rows={3} placeholder={'gpt-4o-mini\nclaude-*'}>{form.models ?? ''}</textarea>
          <small>One pattern a line (* matches anything). Blank: every model.</small>
        </label>
        <Check label="Public (shown in the pricing table)" name="public" checked={form.public !== undefined} />
        <FormChecks endpoint="/admin/checks/plan" checks={checks} />
        <ErrorNote error={error} />
        <button type="submit">{plan ? 'Save plan' : 'Create plan'}</button>
      </div>
      <FiguresAside endpoint="/admin/derive/plan" label={VALUE_LABEL} model={form.model} f={f} />
    </form>
  );
}

function PlanTable({ plans, settings, model, price }: { plans: Plan[]; settings: Settings; model: string; price: Awaited<ReturnType<Billing['admin']['priceOf']>> }) {
  return (
    <table class="grid catalog">
      <thead>
        <tr>
          <th>Plan</th>
          <th>Status</th>
          <th class="num">Price</th>
          <th class="num">Included</th>
          <th class="num">Provider cost it buys</th>
          <th class="num">≈ tokens of {model}</th>
          <th>Limits</th>
          <th>Overage</th>
          <th>Models</th>
        </tr>
      </thead>
      <tbody>
        {plans.map((p) => {
          const d = derive(includedMicros(p), settings.marginBps, price);
          return (
            <tr data-plan={p.slug} class={p.status === 'active' ? undefined : 'inactive'}>
              <td>
                <a href={`/admin/plans/${p.slug}`}>{p.name}</a> <code>{p.slug}</code>
                {p.id === settings.defaultPlanId ? <span class="badge">default</span> : null}
              </td>
              <td>{p.status}</td>
              <td class="num">{cents(p.priceCents)}</td>
              <td class="num">{value(d.valueMicros, settings)}</td>
              <td class="num" data-figure="cost">{usd(d.costMicros)}</td>
              <td class="num">{d.tokens === undefined ? '—' : tokens(d.tokens, true)}</td>
              <td class="lines">{limitsText(p.limits, settings, '\n')}</td>
              <td>{p.overage === 'credits' ? 'spends packs' : 'blocks'}</td>
              <td class="models" title={modelsText(p.models)}>
                {modelsText(p.models, 3)}
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

const VALUE_LABEL = 'Included value a month';

/**
 * The plan's terms the form changes, as the database compares them (a change to any is a new
 * version). A stored limit's keys come back in jsonb's order, not the form's: compared as text,
 * every plan with limits asked to confirm a version of "the same limits → the same limits".
 */
function termChanges(plan: Plan, input: Omit<PlanInput, 'slug'>): FieldChange[] {
  const before: Record<string, unknown> = { ...plan, includedMicros: plan.includedMicrosOverride };
  const after = input as Record<string, unknown>;
  const changes = TERM_FIELDS.filter((field) => canonical(before[field]) !== canonical(after[field])).map((field) => ({ field, from: before[field], to: after[field] }));
  // A blank included usage follows the price and surcharge: a new surcharge takes it from what
  // subscribers get, and the page said only "surcharge $0.00 → $5.00".
  return withIncluded(plan, changes);
}

/** Before a save that makes a new version or puts the plan off sale as legacy: whom it reaches. None while the form cannot be read: its save says why. */
const saveEffect = (billing: Billing) => async (plan: Plan, form: Form) => {
  let input: Omit<PlanInput, 'slug'>;
  try {
    input = inputOf(form);
    parseInput(planInputSchema, { ...input, slug: plan.slug }, 'plan'); // what the library would refuse is said by the save, not asked about
  } catch (error) {
    if (error instanceof BillingError) return undefined;
    throw error;
  }
  const legacy = input.status === 'legacy' && plan.status !== 'legacy';
  // A new version nobody is on reaches nobody: saved at once.
  const onIt = (await billing.admin.planHolders([plan.slug])).get(plan.slug)?.accounts ?? 0;
  const changes = onIt > 0 ? termChanges(plan, input) : [];
  if (changes.length === 0 && !legacy) return undefined;
  const [{ version }, display] = await Promise.all([billing.admin.planVersions(plan.slug), billing.admin.getSettings()]);
  const title = changes.length ? `Save ${plan.name} as version ${version + 1}` : `Put ${plan.name} off sale as legacy`;
  const effect = await planSaveEffect(billing)(plan, { changes, version, legacy, free: plan.priceCents === 0 && input.priceCents === 0, describe: (c) => describe(c, display) });
  return { title, effect };
};

export const plansPage: Page = (admin, billing) => {
  planVersionRoutes(admin, billing);
  catalogRoutes<Plan, Omit<PlanInput, 'slug'>>(admin, billing, {
    noun: 'plan',
    valueLabel: VALUE_LABEL,
    archiveNote: 'Accounts on an archived plan stay on it; nobody new can take it.',
    archiveEffect: planArchiveEffect(billing),
    saveEffect: saveEffect(billing),
    find: (slug) => billing.admin.getPlan(slug),
    create: (input) => billing.admin.createPlan(input),
    update: (slug, input) => billing.admin.updatePlan(slug, input),
    setStatus: (slug, status) => billing.admin.updatePlan(slug, { status }),
    inputOf,
    valuesOf,
    figuresOf: (form) => ({ value: includedOf(form), model: form.model ?? DEFAULT_MODEL }),
    checksOf,
    Form: ({ item, ...props }) => <PlanForm {...props} plan={item} />,
    below: (plan, c) => PlanVersionsCard({ billing, plan, csrf: c.get('csrf') }),
    list: async (c, form, f, checks, error) => {
      const settings = await billing.admin.getSettings();
      const plans = await billing.admin.listPlans();
      const model = c.req.query('model')?.trim() || DEFAULT_MODEL;
      const price = await priceOf(billing, model);
      return render(c, {
        title: 'Plans',
        status: error ? 422 : 200,
        scripts: ['/admin/assets/slug.js'],
        body: (
          <>
            <form method="get" action="/admin/plans" class="inline">
              <Field label="Tokens of model" name="model" value={model} list="sample-models" />
              <button type="submit" class="secondary">Show</button>
            </form>
            <PlanTable plans={plans} settings={settings} model={model} price={price} />
            <h2>New plan</h2>
            <PlanForm c={c} form={form} action="/admin/plans" error={error} f={f} checks={checks} />
          </>
        ),
      });
    },
  });
};
