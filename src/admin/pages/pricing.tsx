/**
 * Pricing mode: what is wrong with the plans and packs as they stand (core/sanity.ts), and the
 * four presets as the owner says them, each with what applying it would create, change, keep
 * for subscribers, archive or leave alone; applying one first shows a page with that diff and the
 * accounts each change reaches, and asks to confirm.
 */
import { createHash } from 'node:crypto';
import { PRESETS, type FieldChange, type PresetDiff } from '../../core/presets.ts';
import { includedMicros, type Limit, type Plan } from '../../core/plan.ts';
import { PRICING_MODES, type PricingMode } from '../../core/settings.ts';
import { cents, dollars, limitsText, modelsText, percent, value, type Display } from '../format.ts';
import { CheckList, PresetChecks } from '../checks.tsx';
import { readForm } from '../form.ts';
import { attempt, Csrf, done, ErrorNote, notFoundPage, render, type AdminContext, type Page } from '../layout.tsx';
import { HolderList } from '../holders.tsx';
import type { Billing } from '../../engine/billing.ts';
import type { Holders } from '../../engine/reads/admin-reads.ts';
import { changesTerms } from '../../engine/catalog/plan-versions.ts';
import type { PresetSubscribers } from '../../engine/catalog/presets.ts';

const SUMMARY: Record<PricingMode, string> = {
  'usage-subscription': 'One paid plan whose price is its usage, blocked at the allowance; a free tier to try.',
  'credit-packs': 'Pay as you go: people buy packs of credits; every account gets a small free allowance each month to try it.',
  'subscription-plus-packs': 'A paid plan with its usage, and packs of extra credits for subscribers who want more.',
  tiers: 'Three paid plans with rising allowances; a free tier to try.',
};

/** The mode as the owner says it: "$20/month plus $10 per 1,000 extra credits". */
export function modeSentence(mode: PricingMode, display: Display): string {
  const preset = PRESETS[mode];
  const paid = preset.plans.filter((p) => p.priceCents > 0);
  const pack = preset.packs[0];
  const packCredits = pack ? ((pack.valueMicros ?? pack.priceCents * 10_000) / display.creditValueMicros).toLocaleString('en-US', { maximumFractionDigits: 2 }) : '';
  if (paid.length > 1) return `${paid.map((p) => dollars(p.priceCents)).join(' / ')} tiers`;
  if (paid[0] && pack) return `${dollars(paid[0].priceCents)}/month plus ${dollars(pack.priceCents)} per ${packCredits} extra credits`;
  if (paid[0]) return `${dollars(paid[0].priceCents)}/month for usage`;
  return pack ? `${dollars(pack.priceCents)} for ${packCredits} credits` : mode;
}

const FIELD_NAMES: Record<string, string> = {
  name: 'name', status: 'status', priceCents: 'price', surchargeCents: 'surcharge', includedMicros: 'included value', limits: 'limits',
  overage: 'overage', models: 'models', public: 'public', valueMicros: 'value', expiresAfterDays: 'expiry', requiresPlan: 'add-on only',
};

function shown(field: string, v: unknown, display: Display): string {
  if (v === null || v === undefined) return field === 'includedMicros' ? 'price − surcharge' : field === 'valueMicros' ? 'the price' : field === 'expiresAfterDays' ? 'never' : 'none';
  if (field === 'priceCents' || field === 'surchargeCents') return cents(v as number);
  if (field === 'includedMicros' || field === 'valueMicros') return value(v as number, display);
  if (field === 'limits') return limitsText(v as Limit[], display);
  if (field === 'models') return modelsText(v as string[]);
  if (field === 'expiresAfterDays') return `${v as number} days`;
  return String(v);
}

/** A change to a field, in the owner's words: "price $20.00 → $100.00". */
export const describe = (c: FieldChange, display: Display) => `${FIELD_NAMES[c.field] ?? c.field} ${shown(c.field, c.from, display)} → ${shown(c.field, c.to, display)}`;

/**
 * A plan's changes with the value it includes, when a new price or surcharge changes it (its
 * included usage blank, following them): "price $20.00 → $100.00" said nothing of the $20.00 of
 * usage becoming $100.00.
 */
export function withIncluded(plan: Plan, changes: FieldChange[]): FieldChange[] {
  if (changes.some((c) => c.field === 'includedMicros')) return changes;
  const after = (field: 'priceCents' | 'surchargeCents') => (changes.find((c) => c.field === field)?.to as number | undefined) ?? plan[field];
  const included = { from: includedMicros(plan), to: includedMicros({ priceCents: after('priceCents'), surchargeCents: after('surchargeCents'), includedMicrosOverride: plan.includedMicrosOverride }) };
  if (included.from === included.to) return changes;
  // Said after the price and surcharge that changed it.
  const at = Math.max(...changes.map((c, i) => (c.field === 'priceCents' || c.field === 'surchargeCents' ? i + 1 : 0)));
  return [...changes.slice(0, at), { field: 'includedMicros', ...included }, ...changes.slice(at)];
}

/** The diff as the pages say it: each plan it changes with the value it then includes (withIncluded). */
async function told(billing: Billing, preview: PresetDiff): Promise<PresetDiff> {
  const plans = new Map((await billing.admin.listPlans()).map((p) => [p.slug, p]));
  const update = preview.plans.update.map((u) => ({ ...u, changes: plans.has(u.slug) ? withIncluded(plans.get(u.slug)!, u.changes) : u.changes }));
  return { ...preview, plans: { ...preview.plans, update } };
}

/**
 * An item's changes in a line, leaving out its sort key: a mode sets the order of the whole table
 * it puts on sale, and one item's key ("order 1 → 2") is not where the table lists it. An item
 * whose key is all that changes says so.
 */
export function changesText(changes: readonly FieldChange[], display: Display): string {
  const told = changes.filter((c) => c.field !== 'sort');
  return told.length ? told.map((c) => describe(c, display)).join('; ') : 'only its place in the pricing table';
}

function Items({ label, items, kind }: { label: string; items: { key: string; text: string; detail?: string }[]; kind: string }) {
  if (items.length === 0) return null;
  return (
    <div class={`change ${kind}`}>
      <dt>{label}</dt>
      {items.map((i) => (
        <dd>
          <strong>{i.text}</strong>
          {i.detail ? <span class="muted"> — {i.detail}</span> : null}
        </dd>
      ))}
    </div>
  );
}

function Preview({ preview, display }: { preview: PresetDiff; display: Display }) {
  const { plans, packs } = preview;
  const named = (x: { slug: string; name: string }) => ({ key: x.slug, text: x.name });
  return (
    <dl class="preview">
      <Items label="Creates" kind="create" items={[
        ...plans.create.map((p) => ({ key: p.slug, text: `${p.name} plan`, detail: `${cents(p.priceCents)}/month, ${value(p.includedMicros, display)} included` })),
        ...packs.create.map((p) => ({ key: p.slug, text: `${p.name} pack`, detail: cents(p.priceCents) })),
      ]} />
      <Items label="Changes" kind="update" items={[...plans.update, ...packs.update].map((p) => ({ key: p.slug, text: p.name, detail: changesText(p.changes, display) }))} />
      <Items label="Keeps as it is" kind="keep" items={[...plans.unchanged, ...packs.unchanged].map(named)} />
      <Items label="Keeps for subscribers, off sale (legacy)" kind="legacy" items={plans.legacy.map((p) => ({ key: p.slug, text: p.name, detail: p.accounts === 1 ? '1 account stays on it' : `${p.accounts} accounts stay on it` }))} />
      <Items label="Archives" kind="archive" items={[...plans.archive.map((p) => ({ key: p.slug, text: `${p.name} plan` })), ...packs.archive.map((p) => ({ key: p.slug, text: `${p.name} pack` }))]} />
      <Items label="Leaves alone" kind="leave" items={[...plans.untouched, ...packs.untouched].map((p) => ({ key: p.slug, text: p.name, detail: p.status }))} />
      <div class="change">
        <dt>Then</dt>
        <dd>
          new accounts start on <strong>{PRESETS[preview.mode].plans.find((p) => p.slug === preview.defaultPlan)?.name}</strong>; amounts shown in{' '}
          {preview.displayUnit === 'usd' ? 'dollars' : 'credits'}. Nobody's purchased credit is touched.
        </dd>
      </div>
    </dl>
  );
}

/**
 * The subscribers of the plans the mode gives new terms (a new version each), named, and the
 * choice of what becomes of them: they keep the version they bought (the default), or move to the
 * new one at their renewal; each with what they pay before and after.
 */
function SubscriberChoice({ plans, holders, display }: { plans: PresetDiff['plans']['update']; holders: Map<string, Holders>; display: Display }) {
  const reached = plans.filter((p) => changesTerms(p.changes) && (holders.get(p.slug)?.accounts ?? 0) > 0);
  if (reached.length === 0) return null;
  const price = (p: (typeof reached)[number]) => p.changes.find((ch) => ch.field === 'priceCents') as { from: number; to: number } | undefined;
  const terms = (p: (typeof reached)[number]) => changesText(p.changes.filter((ch) => ch.field !== 'name'), display);
  return (
    <fieldset id="subscribers">
      <legend>Subscribers of the plans it changes</legend>
      <label class="check">
        <input type="radio" name="subscribers" value="keep" checked />
        <span>
          <strong>Keep them on their versions</strong> (recommended):{' '}
          {reached.map((p, i) => (
            <span data-keep={p.slug}>
              {i > 0 ? '; ' : ''}
              <HolderList holders={holders.get(p.slug)} /> {price(p) ? <>go on paying {cents(price(p)!.from)} a month for {p.name}, as bought; new subscribers pay {cents(price(p)!.to)}</> : <>keep {p.name} as bought</>}
            </span>
          ))}
          . They move only when you move them, from the plan's page.
        </span>
      </label>
      <label class="check">
        <input type="radio" name="subscribers" value="renewal" />
        <span>
          <strong>Move them at renewal</strong>:{' '}
          {reached.map((p, i) => (
            <span data-renewal={p.slug}>
              {i > 0 ? '; ' : ''}
              <HolderList holders={holders.get(p.slug)} /> {price(p) ? <>pay {cents(price(p)!.from)} → {cents(price(p)!.to)} a month for {p.name}</> : <>move to {p.name}'s new terms</>} from their next period ({terms(p)})
            </span>
          ))}
          . Each keeps what it paid for until then; at Stripe or Paddle its price there changes now, with nothing billed, and the next invoice is at the new price. A move can be called off until it happens.
        </span>
      </label>
    </fieldset>
  );
}

/**
 * What applying `mode` does, and whom it reaches: the diff, then each plan it changes or takes
 * off sale with the accounts on it, and each pack it changes or archives with the accounts
 * holding credit from it, and what becomes of the subscribers of a plan it gives new terms;
 * confirmed, it posts the mode and that choice.
 */
/** The diff a confirmation page showed, in a word: a confirmed apply whose diff is no longer this one asks again. */
const digestOf = (preview: PresetDiff) => createHash('sha256').update(JSON.stringify(preview)).digest('base64url').slice(0, 16);

async function confirmPage(c: AdminContext, billing: Billing, mode: PricingMode, error?: string) {
  const settings = await billing.admin.getSettings();
  const seen = await billing.admin.previewPreset(mode);
  const preview = await told(billing, seen);
  const { plans, packs } = preview;
  const onPlans = await billing.admin.planHolders([...plans.update, ...plans.legacy].map((p) => p.slug));
  const reachedPacks = [...packs.update.map((p) => ({ ...p, what: changesText(p.changes, settings) })), ...packs.archive.map((p) => ({ ...p, what: 'archived: no longer sold; its credit stays spendable' }))];
  const onPacks = await Promise.all(reachedPacks.map((p) => billing.admin.packHolders(p.slug)));
  const sentence = modeSentence(mode, settings);
  return render(c, {
    title: `Apply “${sentence}”`,
    status: error ? 422 : 200,
    body: (
      <section class="card" id="apply-confirm" data-mode={mode}>
        <Preview preview={preview} display={settings} />
        <PresetChecks checks={await billing.admin.presetChecks(mode)} />
        <h2>Who it reaches</h2>
        <table class="grid reach">
          <thead>
            <tr>
              <th>Plan or pack</th>
              <th>What changes</th>
              <th>Accounts</th>
            </tr>
          </thead>
          <tbody>
            {plans.update.map((p) => (
              <tr data-reach={`plan:${p.slug}`}>
                <td>{p.name} plan</td>
                <td>{changesText(p.changes, settings)}</td>
                <td>
                  <HolderList holders={onPlans.get(p.slug)} /> on it
                </td>
              </tr>
            ))}
            {plans.legacy.map((p) => (
              <tr data-reach={`plan:${p.slug}`}>
                <td>{p.name} plan</td>
                <td>off sale (legacy): the accounts on it stay on it, as it is</td>
                <td>
                  <HolderList holders={onPlans.get(p.slug)} /> on it
                </td>
              </tr>
            ))}
            {reachedPacks.map((p, i) => (
              <tr data-reach={`pack:${p.slug}`}>
                <td>{p.name} pack</td>
                <td>{p.what}</td>
                <td>
                  <HolderList holders={onPacks[i]} none="no account has credit left from it" />
                  {onPacks[i]!.accounts ? <> with {value(onPacks[i]!.unspentMicros, settings)} of its credit unspent</> : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {plans.update.length + plans.legacy.length + reachedPacks.length === 0 ? <p class="muted">No plan or pack anyone is on or holds credit from changes.</p> : null}
        <form method="post" action="/admin/pricing" class="inline" id="apply">
          <Csrf token={c.get('csrf')} />
          <input type="hidden" name="mode" value={mode} />
          <input type="hidden" name="seen" value={digestOf(seen)} />
          <SubscriberChoice plans={plans.update} holders={onPlans} display={settings} />
          <ErrorNote error={error} />
          <button type="submit">Confirm: apply “{sentence}”</button> <a href="/admin/pricing">Cancel</a>
        </form>
      </section>
    ),
  });
}

/** What became of the subscribers of the plans a mode gave new terms: how many keep their version, and how many move at their renewal. */
async function subscribersAfter(billing: Billing, slugs: readonly string[]): Promise<string> {
  const behind = (await Promise.all(slugs.map((slug) => billing.admin.planVersions(slug)))).flatMap((v) => v.behind.map((b) => ({ ...b, current: v.version })));
  if (behind.length === 0) return '';
  const moving = behind.filter((b) => b.waiting?.version === b.current).length;
  const keeping = behind.length - moving;
  const n = (count: number) => (count === 1 ? '1 subscriber' : `${count} subscribers`);
  return [moving ? ` ${n(moving)} ${moving === 1 ? 'moves' : 'move'} to the new version at ${moving === 1 ? 'its' : 'their'} renewal.` : '', keeping ? ` ${n(keeping)} ${keeping === 1 ? 'keeps its' : 'keep their'} version.` : ''].join('');
}

export const pricingPage: Page = (admin, billing) => {
  const show = async (c: AdminContext, error?: { mode: string; message: string }) => {
    const settings = await billing.admin.getSettings();
    const previews = await Promise.all(PRICING_MODES.map(async (mode) => told(billing, await billing.admin.previewPreset(mode))));
    const checks = await billing.admin.checks();
    const raised = await Promise.all(PRICING_MODES.map((mode) => billing.admin.presetChecks(mode)));
    return render(c, {
      title: 'Pricing mode',
      status: error ? 422 : 200,
      body: (
        <>
          <p class="lead">
            Pick how you sell. Each mode sets up its plans and packs, which you can edit afterwards. Current:{' '}
            <strong>{settings.pricingMode ? `“${modeSentence(settings.pricingMode, settings)}”` : 'none yet'}</strong>. Margin: {percent(settings.marginBps)}.{' '}
            <a href="/admin/pricing/table">See the pricing table as customers do →</a>
          </p>
          <ErrorNote error={error?.message} />
          <section class="card sanity" id="checks">
            <h2>{checks.length === 0 ? 'Nothing to look at in your plans and packs' : checks.length === 1 ? '1 thing to look at in your plans and packs' : `${checks.length} things to look at in your plans and packs`}</h2>
            {checks.length === 0 ? (
              <p class="muted">None loses money at the margin, every pack can be spent, no two plans share a name, and the limits fit what each plan includes.</p>
            ) : (
              <CheckList checks={checks} linked />
            )}
          </section>
          <div class="modes">
            {previews.map((preview, i) => {
              const sentence = modeSentence(preview.mode, settings);
              const current = settings.pricingMode === preview.mode;
              return (
                <section class={current ? 'card mode current' : 'card mode'} data-mode={preview.mode}>
                  <header>
                    <h2>“{sentence}”</h2>
                    <code>{preview.mode}</code>
                    {current ? <span class="badge">current</span> : null}
                  </header>
                  <p>{SUMMARY[preview.mode]}</p>
                  <Preview preview={preview} display={settings} />
                  <PresetChecks checks={raised[i]!} />
                  <a class={current ? 'button' : 'button primary'} href={`/admin/pricing/${preview.mode}/apply`}>
                    {current ? 'Apply again…' : `Apply “${sentence}”…`}
                  </a>
                </section>
              );
            })}
          </div>
        </>
      ),
    });
  };

  admin.get('/pricing', (c) => show(c));
  admin.get('/pricing/:mode/apply', async (c) => {
    const mode = c.req.param('mode');
    return PRICING_MODES.includes(mode as PricingMode) ? confirmPage(c, billing, mode as PricingMode) : notFoundPage(c);
  });
  admin.post('/pricing', async (c) => {
    const form = await readForm(c);
    const mode = form.mode ?? '';
    if (form.seen && PRICING_MODES.includes(mode as PricingMode) && form.seen !== digestOf(await billing.admin.previewPreset(mode as PricingMode))) {
      return confirmPage(c, billing, mode as PricingMode, 'The plans or packs changed since that page: this is what applying it does now. Nothing was applied.');
    }
    const subscribers: PresetSubscribers = form.subscribers === 'renewal' ? 'renewal' : 'keep';
    const changed = PRICING_MODES.includes(mode as PricingMode) ? (await billing.admin.previewPreset(mode as PricingMode)).plans.update.filter((p) => changesTerms(p.changes)) : [];
    const result = await attempt(() => billing.admin.applyPreset(mode as PricingMode, { subscribers }));
    if (!result.ok) return PRICING_MODES.includes(mode as PricingMode) ? confirmPage(c, billing, mode as PricingMode, result.error) : show(c, { mode, message: result.error });
    return done(c, '/admin/pricing', `Applied “${modeSentence(mode as PricingMode, result.value)}”.${await subscribersAfter(billing, changed.map((p) => p.slug))}`);
  });
};
