/**
 * Packs: credit packs on sale, each with the value it grants (a bonus when more than its
 * price), expiry and whether it is sold only as an add-on to a paid plan; its figures live
 * beside the form; archive and restore.
 */
import { BillingError } from '../../core/errors.ts';
import { centsToMicros, type Micros } from '../../core/money.ts';
import { parseInput, slugSchema } from '../../core/input.ts';
import { packInputSchema, packValueMicros, type Pack, type PackInput } from '../../core/pack.ts';
import type { Plan } from '../../core/plan.ts';
import { checksOfChange, plansOnSale, plansSpending, type Catalog, type Check as SanityCheck } from '../../core/sanity.ts';
import { derive } from '../derive.ts';
import { catalogRoutes } from '../catalog-routes.tsx';
import { packArchiveEffect } from '../holders.tsx';
import { FormChecks } from '../checks.tsx';
import { DEFAULT_MODEL, figures, FiguresAside, priceOf } from '../figures.tsx';
import { cents, plainDollars, tokens, usd, value } from '../format.ts';
import { centsField, checked, grantField, wholeField, type Form } from '../form.ts';
import { Check, Csrf, ErrorNote, Field, render, Select, type AdminContext, type Page } from '../layout.tsx';

function valuesOf(pack?: Pack): Form {
  if (!pack) return { status: 'active', public: 'on', sort: '0', model: DEFAULT_MODEL };
  const form: Form = {
    slug: pack.slug, name: pack.name, status: pack.status, price: plainDollars(centsToMicros(pack.priceCents)),
    value: pack.valueMicrosOverride === null ? '' : plainDollars(pack.valueMicrosOverride), expires: pack.expiresAfterDays === null ? '' : String(pack.expiresAfterDays),
    sort: String(pack.sort), model: DEFAULT_MODEL,
  };
  if (pack.public) form.public = 'on';
  if (pack.requiresPlan) form.requiresPlan = 'on';
  return form;
}

function inputOf(form: Form): Omit<PackInput, 'slug'> {
  const priceCents = centsField(form, 'price', 'Price');
  if (priceCents === undefined) throw new BillingError('invalid_input', 'Price: must not be empty');
  return {
    name: form.name ?? '',
    status: form.status === 'archived' ? 'archived' : 'active',
    priceCents,
    valueMicros: grantField(form, 'value', 'Value') ?? null,
    expiresAfterDays: wholeField(form, 'expires', 'Expires after') ?? null,
    requiresPlan: checked(form, 'requiresPlan'),
    public: checked(form, 'public'),
    sort: wholeField(form, 'sort', 'Order') ?? 0,
  };
}

/** What saving the form would leave wrong: its pack put in the catalog in place of the one of its slug (or added). */
function checksOf(catalog: Catalog, form: Form): SanityCheck[] {
  const slug = slugSchema.safeParse(form.slug).success ? form.slug! : 'new';
  const existing = catalog.packs.find((p) => p.slug === slug);
  const { valueMicros, expiresAfterDays, ...pack } = parseInput(packInputSchema, { ...inputOf(form), slug }, 'pack');
  return checksOfChange(catalog, {
    kind: 'pack', item: { ...pack, id: existing?.id ?? 0, valueMicrosOverride: (valueMicros ?? null) as Micros | null, expiresAfterDays: expiresAfterDays ?? null },
  });
}

/** The form's pack value and price, or why they cannot be said yet. */
function valueOf(form: Form): { value: Micros | { problem: string }; priceMicros?: Micros } {
  try {
    const priceCents = centsField(form, 'price', 'Price') ?? 0;
    const explicit = grantField(form, 'value', 'Value');
    return { value: packValueMicros({ priceCents, valueMicrosOverride: (explicit ?? null) as Micros | null }), priceMicros: centsToMicros(priceCents) };
  } catch (error) {
    if (error instanceof BillingError) return { value: { problem: error.message } };
    throw error;
  }
}

const LABEL = 'Value it grants';

/** Who can buy a pack and spend it: accounts on the plans on sale that spend packs, or nobody. */
function SoldTo({ pack, onSale }: { pack: Pack; onSale: Plan[] }) {
  const plans = plansSpending(pack, onSale);
  if (plans.length === 0) return <td class="warn">nobody: no plan on sale spends it</td>;
  return <td>{`accounts on ${plans.map((p) => p.name).join(', ')}${pack.requiresPlan ? ' (add-on)' : ''}`}</td>;
}

function PackForm({ c, form, action, pack, error, f, checks }: { c: AdminContext; form: Form; action: string; pack?: Pack; error?: string; f: Awaited<ReturnType<typeof figures>>; checks: SanityCheck[] }) {
  return (
    <form method="post" action={action} class="card form with-figures" id="pack-form">
      <Csrf token={c.get('csrf')} />
      <div class="fields">
        <div class="row">
          <Field label="Name" name="name" value={form.name} required placeholder="1,000 credits" />
          {pack ? <Field label="Slug" name="slug" value={pack.slug} readonly /> : <Field label="Slug" name="slug" value={form.slug} required placeholder="credits-10" hint="Lowercase letters, digits, - and _." />}
        </div>
        <div class="row">
          <Field label="Price ($)" name="price" value={form.price} required step="0.01" />
          <Field label="Value ($)" name="value" value={form.value} step="0.000001" hint="Blank: the price. More than the price is a bonus." />
          <Field label="Expires after (days)" name="expires" value={form.expires} hint="Blank: never." />
        </div>
        <div class="row">
          <Field label="Order" name="sort" value={form.sort} />
          {pack ? <Select label="Status" name="status" value={form.status} options={[['active', 'Active'], ['archived', 'Archived']]} /> : null}
        </div>
        <Check label="Add-on only (sold to accounts on a paid plan)" name="requiresPlan" checked={form.requiresPlan !== undefined} />
        <Check label="Public (shown in the pricing table)" name="public" checked={form.public !== undefined} />
        <FormChecks endpoint="/admin/checks/pack" checks={checks} />
        <ErrorNote error={error} />
        <button type="submit">{pack ? 'Save pack' : 'Create pack'}</button>
      </div>
      <FiguresAside endpoint="/admin/derive/pack" label={LABEL} model={form.model} f={f} />
    </form>
  );
}

export const packsPage: Page = (admin, billing) =>
  catalogRoutes<Pack, Omit<PackInput, 'slug'>>(admin, billing, {
    noun: 'pack',
    valueLabel: LABEL,
    archiveNote: 'Credit already bought stays where it is.',
    archiveEffect: packArchiveEffect(billing),
    find: (slug) => billing.admin.getPack(slug),
    create: (input) => billing.admin.createPack(input),
    update: (slug, input) => billing.admin.updatePack(slug, input),
    setStatus: (slug, status) => billing.admin.updatePack(slug, { status }),
    inputOf,
    valuesOf,
    figuresOf: (form) => ({ ...valueOf(form), model: form.model ?? DEFAULT_MODEL }),
    checksOf,
    Form: ({ item, ...props }) => <PackForm {...props} pack={item} />,
    list: async (c, form, f, checks, error) => {
      const settings = await billing.admin.getSettings();
      const packs = await billing.admin.listPacks();
      const onSale = plansOnSale(await billing.admin.listPlans({ status: 'active' }), settings.defaultPlanId);
      const price = await priceOf(billing, DEFAULT_MODEL);
      return render(c, {
        title: 'Packs',
        status: error ? 422 : 200,
        scripts: ['/admin/assets/slug.js'],
        body: (
          <>
            {packs.length === 0 ? (
              <p class="muted">No packs yet.</p>
            ) : (
              <table class="grid catalog">
                <thead>
                  <tr>
                    <th>Pack</th>
                    <th>Status</th>
                    <th class="num">Price</th>
                    <th class="num">Value</th>
                    <th class="num">Bonus</th>
                    <th class="num">Provider cost it buys</th>
                    <th class="num">≈ tokens of {DEFAULT_MODEL}</th>
                    <th>Expires</th>
                    <th>Sold to</th>
                  </tr>
                </thead>
                <tbody>
                  {packs.map((p) => {
                    const d = derive(packValueMicros(p), settings.marginBps, price);
                    const bonus = d.valueMicros - centsToMicros(p.priceCents);
                    return (
                      <tr data-pack={p.slug} class={p.status === 'active' ? undefined : 'inactive'}>
                        <td>
                          <a href={`/admin/packs/${p.slug}`}>{p.name}</a> <code>{p.slug}</code>
                        </td>
                        <td>{p.status}</td>
                        <td class="num">{cents(p.priceCents)}</td>
                        <td class="num">{value(d.valueMicros, settings)}</td>
                        <td class="num">{bonus > 0 ? value(bonus, settings) : '—'}</td>
                        <td class="num" data-figure="cost">{usd(d.costMicros)}</td>
                        <td class="num">{d.tokens === undefined ? '—' : tokens(d.tokens, true)}</td>
                        <td>{p.expiresAfterDays ? `after ${p.expiresAfterDays} days` : 'never'}</td>
                        <SoldTo pack={p} onSale={onSale} />
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            )}
            <h2>New pack</h2>
            <PackForm c={c} form={form} action="/admin/packs" error={error} f={f} checks={checks} />
          </>
        ),
      });
    },
  });
