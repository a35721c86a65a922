/**
 * Model prices: the price book (genai-prices' bundled data and the overrides), searchable as
 * the admin types, each price saying where it comes from and from when; a form to set an
 * override from a date, and a button that removes one, after a page saying what that does.
 */
import type { PriceListRow } from '../../engine/catalog/price-list.ts';
import type { PriceEntry, Rate } from '../../core/pricing/price.ts';
import { rateAtMargin } from '../derive.ts';
import { date, PER_MTOK, percent, rate } from '../format.ts';
import { rateField, readForm, type Form } from '../form.ts';
import { attempt, Csrf, done, ErrorNote, Field, listQuery, Pager, render, SearchBox, type AdminContext, type Page } from '../layout.tsx';

const PAGE_SIZE = 50;

function Source({ price, upcoming }: { price: PriceEntry | undefined; upcoming: PriceListRow['upcoming'] }) {
  return (
    <>
      {!price ? (
        <span class="muted" title="genai-prices prices other ids with this entry, or gives it no token price today">not priced under this id</span>
      ) : price.source === 'override' ? (
        <span class="badge override">override{price.effectiveFrom ? ` from ${date(new Date(price.effectiveFrom))}` : ''}</span>
      ) : (
        <span class="badge bundled">genai-prices{price.effectiveFrom ? ` from ${date(new Date(price.effectiveFrom))}` : ''}</span>
      )}
      {upcoming.map((o) => (
        <span class="badge upcoming">
          override from {date(o.effectiveFrom)}: input <span data-rate>{rate(o.price.rates.input)}</span>, output <span data-rate>{rate(o.price.rates.output)}</span> ({PER_MTOK})
        </span>
      ))}
    </>
  );
}

/** A kind of token the price book prices apart, and how a price without its own rate charges it. */
const KINDS = [
  { key: 'input', label: 'Input' }, { key: 'output', label: 'Output' }, { key: 'cacheRead', label: 'Cache read', otherwise: 'as input' },
  { key: 'cacheWrite', label: 'Cache write', otherwise: 'as input' }, { key: 'reasoning', label: 'Reasoning', otherwise: 'as output' },
] as const;

/** A column's head: the kind of token and the unit of its rates. */
const KindHead = ({ label }: { label: string }) => (
  <th class="num">
    {label}
    <small class="unit">{PER_MTOK}</small>
  </th>
);

function Results({ q, offset, rows, total, marginBps }: { q: string; offset: number; rows: PriceListRow[]; total: number; marginBps: number }) {
  // The provider's cost, and under it what a customer pays at the margin: both per million tokens, as the column's head says.
  const RateCell = ({ r, otherwise }: { r: Rate | undefined; otherwise?: string }) => (
    <td class="num">
      {r === undefined ? (
        <span class="muted">{otherwise ?? '—'}</span>
      ) : (
        <>
          <span data-rate="cost">{rate(r)}</span>
          <small class="pays">
            pays <span data-rate="pays">{rateAtMargin(r, marginBps)}</span>
          </small>
        </>
      )}
    </td>
  );
  return (
    <div id="price-results">
      <p class="muted">
        {total.toLocaleString('en-US')} model{total === 1 ? '' : 's'}
        {q ? ` matching “${q}”` : ''}
        {total > rows.length ? `, ${(offset + 1).toLocaleString('en-US')}–${(offset + rows.length).toLocaleString('en-US')} shown` : ''}. Each price in dollars per million tokens: the provider's cost, and under it what a customer pays for it at the {percent(marginBps)} margin.
      </p>
      <div class="scroll-x">
        <table class="grid prices">
          <thead>
            <tr>
              <th>Model</th>
              <th>Provider</th>
              {KINDS.map((k) => (
                <KindHead label={k.label} />
              ))}
              <th>Source</th>
              <th></th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr data-model={r.model}>
                <td>
                  <code>{r.model}</code>
                  {r.name && r.name !== r.model ? <small class="muted"> {r.name}</small> : null}
                  {r.price && r.price.model.toLowerCase() !== r.model.toLowerCase() ? <small class="muted"> (priced as {r.price.model})</small> : null}
                </td>
                <td>{r.provider || 'any'}</td>
                {KINDS.map((k) => (
                  <RateCell r={r.price?.rates[k.key]} otherwise={r.price && 'otherwise' in k ? k.otherwise : undefined} />
                ))}
                <td>
                  <Source price={r.price} upcoming={r.upcoming} />
                </td>
                <td>
                  <a href={`/admin/prices?${new URLSearchParams({ q, model: r.model, provider: r.provider })}#override`}>Override</a>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <Pager path="/admin/prices" q={q} offset={offset} shown={rows.length} total={total} size={PAGE_SIZE} />
    </div>
  );
}

function OverrideForm({ c, form, error }: { c: AdminContext; form: Form; error?: string }) {
  return (
    <form method="post" action="/admin/prices" class="card form" id="override">
      <Csrf token={c.get('csrf')} />
      <div class="row">
        <Field label="Model" name="model" value={form.model} required />
        <Field label="Provider" name="provider" value={form.provider} hint="Blank: the model under any provider." />
        <Field label="From" name="effectiveFrom" type="date" value={form.effectiveFrom} required hint="Usage before then keeps the price it was charged." />
      </div>
      <div class="row rates">
        <Field label="Input ($ per 1M tokens)" name="input" value={form.input} required />
        <Field label="Output ($ per 1M tokens)" name="output" value={form.output} required />
        <Field label="Cache read ($ per 1M tokens)" name="cacheRead" value={form.cacheRead} hint="Blank: charged as input." />
        <Field label="Cache write ($ per 1M tokens)" name="cacheWrite" value={form.cacheWrite} hint="Blank: charged as input." />
        <Field label="Reasoning ($ per 1M tokens)" name="reasoning" value={form.reasoning} hint="Blank: charged as output." />
      </div>
      <ErrorNote error={error} />
      <button type="submit">Set override</button>
    </form>
  );
}

export const pricesPage: Page = (admin, billing) => {
  const show = async (c: AdminContext, form?: Form, error?: string, removeError?: string) => {
    const { q, offset } = listQuery(c);
    const list = await billing.admin.priceList({ search: q || undefined, offset, limit: PAGE_SIZE });
    const today = date(billing.now());
    let values = form;
    if (!values) {
      const model = c.req.query('model') ?? '';
      const picked = model ? (await billing.admin.priceList({ search: model, limit: 200 })).rows.find((r) => r.model === model && r.provider === (c.req.query('provider') ?? '')) : undefined;
      const text = (r: PriceEntry['rates']['input'] | undefined) => (typeof r === 'string' ? r : '');
      values = {
        model, provider: c.req.query('provider') ?? '', effectiveFrom: today,
        input: text(picked?.price?.rates.input), output: text(picked?.price?.rates.output), cacheRead: text(picked?.price?.rates.cacheRead), cacheWrite: text(picked?.price?.rates.cacheWrite), reasoning: text(picked?.price?.rates.reasoning),
      };
    }
    return render(c, {
      title: 'Model prices',
      status: error || removeError ? 422 : 200,
      body: (
        <>
          <SearchBox path="/admin/prices" q={q} target="price-results" placeholder="Search models: “gpt-4o”, “anthropic sonnet”…" />
          <Results q={q} offset={offset} rows={list.rows} total={list.total} marginBps={(await billing.admin.getSettings()).marginBps} />
          <h2>Set an override</h2>
          <OverrideForm c={c} form={values} error={error} />
          <h2>Overrides</h2>
          <ErrorNote error={removeError} />
          {list.overrides.length === 0 ? (
            <p class="muted">None: every price is genai-prices' bundled data.</p>
          ) : (
            <div class="scroll-x">
              <table class="grid">
                <thead>
                  <tr>
                    <th>Model</th>
                    <th>Provider</th>
                    <th>From</th>
                    {KINDS.map((k) => (
                      <KindHead label={k.label} />
                    ))}
                    <th>Set on</th>
                    <th></th>
                  </tr>
                </thead>
                <tbody>
                  {list.overrides.map((o) => (
                    <tr>
                      <td>
                        <code>{o.model}</code>
                      </td>
                      <td>{o.provider || 'any'}</td>
                      <td>{date(o.effectiveFrom)}</td>
                      {KINDS.map((k) => (
                        <td class="num">{o.price.rates[k.key] === undefined && 'otherwise' in k ? <span class="muted">{k.otherwise}</span> : <span data-rate>{rate(o.price.rates[k.key])}</span>}</td>
                      ))}
                      <td>{date(o.createdAt)}</td>
                      <td>
                        <a class="button danger" href={`/admin/prices/remove?${new URLSearchParams({ model: o.model, provider: o.provider, effectiveFrom: o.effectiveFrom.toISOString() })}`}>
                          Remove…
                        </a>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </>
      ),
    });
  };

  admin.get('/prices', (c) => show(c));
  // Removing an override reprices the model's next call at once, or has it refused when nothing else prices it: asked first.
  admin.get('/prices/remove', async (c) => {
    const key = { model: c.req.query('model') ?? '', provider: c.req.query('provider') ?? '', effectiveFrom: c.req.query('effectiveFrom') ?? '' };
    const { overrides } = await billing.admin.priceList({ limit: 1 });
    const o = overrides.find((x) => x.model === key.model && x.provider === key.provider && x.effectiveFrom.toISOString() === key.effectiveFrom);
    if (!o) return show(c, undefined, undefined, `No override of ${key.model || 'that model'}${key.provider ? ` at ${key.provider}` : ''} from that date: it may have been removed already.`);
    const back = `/admin/prices?${new URLSearchParams({ q: o.model })}`;
    return render(c, {
      title: `Remove the override of ${o.model}`,
      body: (
        <section class="card" id="remove-confirm">
          <p>
            <code>{o.model}</code> {o.provider ? <>at {o.provider}</> : 'under any provider'}, from {date(o.effectiveFrom)}: input <span data-rate>{rate(o.price.rates.input)}</span>, output{' '}
            <span data-rate>{rate(o.price.rates.output)}</span> ({PER_MTOK}).
          </p>
          <p>
            Removed, its calls from now on are priced as if it had never been set: by an earlier override or the price book, and when neither knows the model, refused or
            charged the fallback price, as the settings say. Usage charged keeps its price.
          </p>
          <form method="post" action="/admin/prices/remove" class="form">
            <Csrf token={c.get('csrf')} />
            <input type="hidden" name="model" value={o.model} />
            <input type="hidden" name="provider" value={o.provider} />
            <input type="hidden" name="effectiveFrom" value={o.effectiveFrom.toISOString()} />
            <button type="submit" class="danger">Confirm: remove the override</button> <a href={back}>Cancel</a>
          </form>
        </section>
      ),
    });
  });
  admin.post('/prices', async (c) => {
    const form = await readForm(c);
    const rates = Object.fromEntries((['input', 'output', 'cacheRead', 'cacheWrite', 'reasoning'] as const).flatMap((k) => (rateField(form, k) === undefined ? [] : [[k, rateField(form, k)]])));
    const result = await attempt(() =>
      billing.admin.setModelPrice({ provider: form.provider ?? '', model: form.model ?? '', effectiveFrom: form.effectiveFrom ?? '', rates }),
    );
    if (!result.ok) return show(c, form, result.error);
    return done(c, `/admin/prices?q=${encodeURIComponent(form.model ?? '')}`, `Override set: ${form.model} from ${form.effectiveFrom}.`);
  });
  admin.post('/prices/remove', async (c) => {
    const form = await readForm(c);
    const result = await attempt(() => billing.admin.removeModelPrice({ provider: form.provider ?? '', model: form.model ?? '', effectiveFrom: form.effectiveFrom ?? '' }));
    if (!result.ok) return show(c, undefined, undefined, result.error);
    const from = form.effectiveFrom ? date(new Date(form.effectiveFrom)) : '';
    return done(c, `/admin/prices?q=${encodeURIComponent(form.model ?? '')}`, `Override removed: ${form.model}${form.provider ? ` at ${form.provider}` : ''} from ${from}. Calls from now on are priced as if it had never been set; usage charged keeps its price.`);
  });
};
