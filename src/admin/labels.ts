/**
 * The library names a bad field as a developer writes it ("surchargeCents", "fallbackRates.input");
 * the panel says it as its forms label it ("Surcharge", "Input ($ per 1M tokens)"). An error that
 * names fields (its issues, "field: what is wrong") is told again with the labels; any other is
 * shown as the library says it, in words already meant for a person.
 */
import type { BillingError } from '../core/errors.ts';

/** A rate's field, as the model prices and settings forms label it. */
const RATES = {
  input: 'Input ($ per 1M tokens)', output: 'Output ($ per 1M tokens)', cacheRead: 'Cache read ($ per 1M tokens)', cacheWrite: 'Cache write ($ per 1M tokens)',
  reasoning: 'Reasoning ($ per 1M tokens)', requests: 'Requests ($ per 1K requests)',
} as const;

/** The panel's label for each field of the library's input, by its path ("rates.input"). */
const LABELS: Record<string, string> = {
  // Plans and packs
  name: 'Name', slug: 'Slug', status: 'Status', priceCents: 'Price', surchargeCents: 'Surcharge', includedMicros: 'Included usage', limits: 'Limits',
  overage: 'Overage', models: 'Models allowed', sort: 'Order', public: 'Public', valueMicros: 'Value', expiresAfterDays: 'Expires after (days)', requiresPlan: 'Add-on only',
  // Settings
  marginBps: 'Margin', displayUnit: 'Display unit', creditValueMicros: 'A credit is worth', defaultPlan: 'Default plan', unknownModelPolicy: 'Policy for models the price book does not know',
  fallbackRates: 'Fallback price', minHoldMicros: 'Minimum hold', holdTtlSeconds: 'Hold lifetime', pastDueGraceDays: 'Grace (days)', refundUsedValue: 'Value already used',
  // Model prices, refunds and grants
  model: 'Model', provider: 'Provider', effectiveFrom: 'From', rates: 'Rates', amountMicros: 'Amount', amountCents: 'Amount', reason: 'Reason',
  source: 'Kind', reference: 'Reference', expiresAt: 'Expires', userId: 'Member (user id)', 'user id': 'Member (user id)',
  ...Object.fromEntries(Object.entries(RATES).flatMap(([key, label]) => [[`rates.${key}`, label], [`fallbackRates.${key}`, label]])),
};

/** The label of a field's path; a part of a list is labelled as the list ("limits.0.amount": "Limits"). */
function labelOf(path: string): string | undefined {
  for (let parts = path.split('.'); parts.length > 0; parts = parts.slice(0, -1)) {
    const label = LABELS[parts.join('.')];
    if (label) return label;
  }
  return undefined;
}

/** What went wrong, as the panel says it: each field by its label, or the library's sentence as it is. */
export function ownerMessage(error: BillingError): string {
  const issues = Array.isArray(error.details?.issues) ? (error.details.issues as string[]) : [];
  const labelled = issues.map((issue) => {
    const at = issue.indexOf(': ');
    const label = at > 0 ? labelOf(issue.slice(0, at)) : undefined;
    return label ? `${label}: ${issue.slice(at + 2)}` : undefined;
  });
  if (labelled.length === 0 || labelled.some((l) => l === undefined)) return error.message;
  return `${labelled.join('. ')}.`.replace(/\.\.$/, '.');
}
