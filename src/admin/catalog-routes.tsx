/**
 * Plans and packs are edited the same way: a list with a form to create one, a page to edit
 * one, archive (after a page that says who it reaches, and asks to confirm) and restore, a save
 * that reaches accounts asked the same way (a plan's new version), and the
 * form's figures and sanity checks worked out as it changes. This is that flow once; each page
 * supplies its form, its fields and the library's calls.
 */
import type { Child } from 'hono/jsx';
import { BillingError } from '../core/errors.ts';
import type { Catalog, Check } from '../core/sanity.ts';
import { CheckList, FORM_LEAD } from './checks.tsx';
import { figures, FigureList, type FiguresInput } from './figures.tsx';
import { readForm, type Form } from './form.ts';
import { ArchiveForm, attempt, Csrf, done, render, type AdminApp, type AdminContext } from './layout.tsx';
import type { Billing } from '../engine/billing.ts';

interface Item {
  slug: string;
  name: string;
  status: string;
}

export interface CatalogPage<T extends Item, I> {
  /** "plan" or "pack": its paths are /admin/{noun}s and /admin/derive/{noun}. */
  noun: 'plan' | 'pack';
  /** What the figures call the value it gives. */
  valueLabel: string;
  /** Under the archive button: what archiving does. */
  archiveNote: string;
  /** On the archive confirmation page: who archiving it reaches, and what happens to them. */
  archiveEffect: (item: T) => Promise<Child>;
  find: (slug: string) => Promise<T>;
  create: (input: I & { slug: string }) => Promise<T>;
  update: (slug: string, input: I) => Promise<T>;
  /** Archive it, or put it back on sale. */
  setStatus: (slug: string, status: 'active' | 'archived') => Promise<T>;
  /** The form's fields as the library's input (bad text is a BillingError naming the field). */
  inputOf: (form: Form) => I;
  /** The form of an item, or of a new one. */
  valuesOf: (item?: T) => Form;
  /** The form's value and model, for its figures. */
  figuresOf: (form: Form) => FiguresInput;
  /** The sanity checks saving the form would leave (core/sanity.ts checksOfChange); throws a BillingError while a field cannot be read. */
  checksOf: (catalog: Catalog, form: Form) => Check[];
  /** The list, with the create form (holding `form`, its `checks` and `error`) below it. */
  list: (c: AdminContext, form: Form, f: Awaited<ReturnType<typeof figures>>, checks: Check[], error?: string) => Promise<Response>;
  /** The form itself, posting to `action`, with what saving it would leave wrong. */
  Form: (props: { c: AdminContext; form: Form; action: string; item?: T; error?: string; f: Awaited<ReturnType<typeof figures>>; checks: Check[] }) => Child;
  /** Before a save that reaches accounts otherwise than archiving (a plan's new version, taking it off sale): a page saying whom; none, saved at once. */
  saveEffect?: (item: T, form: Form) => Promise<{ title: string; effect: Child } | undefined>;
  /** What the item's page shows below its form, if anything (a plan: its versions). */
  below?: (item: T, c: AdminContext) => Promise<Child>;
}

export function catalogRoutes<T extends Item, I>(admin: AdminApp, billing: Billing, page: CatalogPage<T, I>): void {
  const base = `/admin/${page.noun}s`;
  const Noun = page.noun === 'plan' ? 'Plan' : 'Pack';
  /** The checks of the form as it stands; none while a field cannot be read (the figures say why). */
  const checksOf = async (form: Form): Promise<Check[]> => {
    try {
      return page.checksOf(await billing.admin.catalog(), form);
    } catch (error) {
      if (error instanceof BillingError) return [];
      throw error;
    }
  };
  const list = async (c: AdminContext, form: Form, error?: string) => page.list(c, form, await figures(billing, page.figuresOf(form)), await checksOf(form), error);
  const edit = async (c: AdminContext, item: T, form: Form, error?: string) => {
    const f = await figures(billing, page.figuresOf(form));
    const checks = await checksOf(form);
    return render(c, {
      title: `${Noun}: ${item.name}`,
      status: error ? 422 : 200,
      body: (
        <>
          <p>
            <a href={base}>← All {page.noun}s</a>
          </p>
          <h2>Edit {page.noun}</h2>
          <page.Form c={c} form={form} action={`${base}/${item.slug}`} item={item} error={error} f={f} checks={checks} />
          {page.below ? await page.below(item, c) : null}
          {item.status === 'archived' ? (
            <ArchiveForm action={`${base}/${item.slug}/status`} csrf={c.get('csrf')} archived note={page.archiveNote} />
          ) : (
            <p class="inline">
              <a class="button danger" href={`${base}/${item.slug}/archive`}>
                Archive…
              </a>{' '}
              <small class="muted">{page.archiveNote}</small>
            </p>
          )}
        </>
      ),
    });
  };

  /** Asks before an action on `item` that reaches accounts: whom (`effect`), then a form posting `fields` to `action`. */
  const confirm = (c: AdminContext, item: T, ask: { id: string; title: string; effect: Child; button: string; danger?: boolean }, action: string, fields: Form, lead?: string) =>
    render(c, {
      title: ask.title,
      body: (
        <section class="card" id={`${ask.id}-confirm`}>
          {lead ? <p>{lead}</p> : null}
          {ask.effect}
          <form method="post" action={action} class="inline" id={ask.id}>
            <Csrf token={c.get('csrf')} />
            {Object.entries(fields).map(([name, value]) => (name === '_csrf' ? null : <input type="hidden" name={name} value={value} />))}
            <button type="submit" class={ask.danger ? 'danger' : undefined}>
              {ask.button}
            </button>{' '}
            <a href={`${base}/${item.slug}`}>Cancel</a>
          </form>
        </section>
      ),
    });
  /** Asks before archiving `item`. */
  const confirmArchive = async (c: AdminContext, item: T, action: string, fields: Form, lead?: string) =>
    confirm(c, item, { id: 'archive', title: `Archive ${page.noun} ${item.name}`, effect: await page.archiveEffect(item), button: `Confirm: archive ${item.name}`, danger: true }, action, fields, lead);

  admin.get(`/${page.noun}s`, (c) => list(c, page.valuesOf()));
  admin.post(`/${page.noun}s`, async (c) => {
    const form = await readForm(c);
    const result = await attempt(async () => page.create({ ...page.inputOf(form), slug: form.slug ?? '' }));
    return result.ok ? done(c, base, `${Noun} “${result.value.name}” created.`) : list(c, form, result.error);
  });
  admin.post(`/derive/${page.noun}`, async (c) => {
    const form = await readForm(c);
    return c.html(<FigureList label={page.valueLabel} f={await figures(billing, page.figuresOf(form))} />);
  });
  admin.post(`/checks/${page.noun}`, async (c) => c.html(<CheckList checks={await checksOf(await readForm(c))} lead={FORM_LEAD} />));
  admin.get(`/${page.noun}s/:slug`, async (c) => {
    const item = await page.find(c.req.param('slug'));
    return edit(c, item, page.valuesOf(item));
  });
  admin.post(`/${page.noun}s/:slug`, async (c) => {
    const item = await page.find(c.req.param('slug'));
    const form = await readForm(c);
    // A save that archives it asks first, as the Archive button does.
    if (form.status === 'archived' && item.status !== 'archived' && form.confirmed !== 'archive') {
      return confirmArchive(c, item, `${base}/${item.slug}`, { ...form, confirmed: 'archive' }, `Saving the form archives ${item.name}, with its other changes.`);
    }
    const ask = form.confirmed ? undefined : await page.saveEffect?.(item, form);
    if (ask) return confirm(c, item, { id: 'save', ...ask, button: `Confirm: save ${item.name}` }, `${base}/${item.slug}`, { ...form, confirmed: 'save' });
    const result = await attempt(async () => page.update(item.slug, page.inputOf(form)));
    return result.ok ? done(c, `${base}/${item.slug}`, `${Noun} “${result.value.name}” saved.`) : edit(c, item, form, result.error);
  });
  admin.get(`/${page.noun}s/:slug/archive`, async (c) => {
    const item = await page.find(c.req.param('slug'));
    if (item.status === 'archived') return done(c, `${base}/${item.slug}`, `${Noun} “${item.name}” is archived already.`);
    return confirmArchive(c, item, `${base}/${item.slug}/status`, { status: 'archived' });
  });
  admin.post(`/${page.noun}s/:slug/status`, async (c) => {
    const item = await page.find(c.req.param('slug'));
    const status = (await readForm(c)).status === 'archived' ? 'archived' : 'active';
    const result = await attempt(async () => page.setStatus(item.slug, status));
    return result.ok ? done(c, `${base}/${item.slug}`, `${Noun} “${item.name}” is now ${status}.`) : edit(c, item, page.valuesOf(item), result.error);
  });
}
