/**
 * The derived figures beside a plan or pack form: the value it gives, the provider cost that
 * buys at the current margin, and about how many tokens of a model the admin picks. The panel
 * re-renders itself (htmx) as the form changes.
 */
import type { Billing } from '../engine/billing.ts';
import { BillingError } from '../core/errors.ts';
import type { Micros } from '../core/money.ts';
import type { PriceEntry } from '../core/pricing/price.ts';
import type { Settings } from '../core/settings.ts';
import { derive, SAMPLE_CALL } from './derive.ts';
import { percent, tokens, usd, value } from './format.ts';

/** Models offered in the picker; any model the price book knows may be typed. */
export const SAMPLE_MODELS = ['gpt-4o-mini', 'gpt-4.1-mini', 'gpt-4.1', 'gpt-5-mini', 'gpt-5', 'claude-haiku-4-5', 'claude-sonnet-4-5', 'gemini-2.5-flash', 'gemini-2.5-pro', 'deepseek-chat'];
export const DEFAULT_MODEL = 'gpt-4o-mini';

export function ModelList() {
  return (
    <datalist id="sample-models">
      {SAMPLE_MODELS.map((m) => (
        <option value={m} />
      ))}
    </datalist>
  );
}

export interface FiguresInput {
  /** The value the plan or pack gives, or why it cannot be worked out from the form yet. */
  value: Micros | { problem: string };
  /** A pack's price, to show its bonus. */
  priceMicros?: Micros;
  model: string;
}

/** The model's price now, or undefined when nothing prices it (or the name is not one). */
export async function priceOf(billing: Billing, model: string): Promise<PriceEntry | undefined> {
  try {
    return await billing.admin.priceOf({ model });
  } catch (error) {
    if (error instanceof BillingError) return undefined;
    throw error;
  }
}

/** The figures for `input` at the current settings and the model's current price. */
export async function figures(billing: Billing, input: FiguresInput, settings?: Settings) {
  const current = settings ?? (await billing.admin.getSettings());
  const model = input.model.trim() || DEFAULT_MODEL;
  const price = await priceOf(billing, model);
  return { ...input, model, settings: current, price, derived: typeof input.value === 'number' ? derive(input.value, current.marginBps, price) : undefined };
}

/** The figures themselves: what the panel below swaps in as the form changes. */
export function FigureList({ label, f }: { label: string; f: Awaited<ReturnType<typeof figures>> }) {
  const d = f.derived;
  const tokenText = !d
    ? '—'
    : !f.price
      ? `no price for “${f.model}”`
      : d.tokens === undefined
        ? `${f.model} is free`
        : `≈ ${tokens(d.tokens, true)} tokens of ${f.model}`;
  return (
    <>
      {typeof f.value === 'number' ? null : <p class="muted">{f.value.problem}</p>}
      <dl>
        <dt>{label}</dt>
        <dd data-figure="value">{d ? value(d.valueMicros, f.settings) : '—'}</dd>
        {d && f.priceMicros !== undefined && d.valueMicros > f.priceMicros ? (
          <>
            <dt>Bonus value</dt>
            <dd data-figure="bonus">
              {value(d.valueMicros - f.priceMicros, f.settings)} ({percent(Math.round(((d.valueMicros - f.priceMicros) / f.priceMicros) * 10_000))} more than paid)
            </dd>
          </>
        ) : null}
        <dt>Provider cost it buys at {percent(f.settings.marginBps)} margin</dt>
        <dd data-figure="cost">{d ? usd(d.costMicros) : '—'}</dd>
        <dt>About</dt>
        <dd data-figure="tokens">{tokenText}</dd>
      </dl>
    </>
  );
}

/**
 * The panel: it stays in place and asks the server for its contents whenever the form changes
 * (the latest request wins), so a change made while one is in flight is never lost.
 */
export function Figures({ endpoint, label, f }: { endpoint: string; label: string; f: Awaited<ReturnType<typeof figures>> }) {
  return (
    <div class="figures">
      <div hx-post={endpoint} hx-trigger="input from:closest form delay:200ms, change from:closest form" hx-swap="innerHTML" hx-include="closest form" hx-sync="this:queue last">
        <FigureList label={label} f={f} />
      </div>
      <small class="muted">
        Tokens in calls of {SAMPLE_CALL.inputTokens.toLocaleString('en-US')} input and {SAMPLE_CALL.outputTokens.toLocaleString('en-US')} output tokens, at the model's price today.
      </small>
    </div>
  );
}

/** The side of a plan or pack form: the model to count tokens of, and the figures. */
export function FiguresAside({ endpoint, label, model, f }: { endpoint: string; label: string; model?: string; f: Awaited<ReturnType<typeof figures>> }) {
  return (
    <aside>
      <h3>What it gives</h3>
      <label class="field">
        <span>Tokens of model</span>
        <input type="text" name="model" value={model ?? ''} list="sample-models" />
      </label>
      <ModelList />
      <Figures endpoint={endpoint} label={label} f={f} />
    </aside>
  );
}
