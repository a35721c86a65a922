/**
 * The catalog's sanity checks (core/sanity.ts) where the owner acts: every one on the pricing
 * page, and under a plan or pack form those its values would raise, worked out again as the
 * form changes, before it is saved. Nothing is refused for them: an owner may mean it.
 */
import type { Check } from '../core/sanity.ts';

/** The checks as a list, after `lead` when there are any; `linked`: each names its plan or pack, with a link to it. */
export function CheckList({ checks, linked = false, lead }: { checks: readonly Check[]; linked?: boolean; lead?: string }) {
  if (checks.length === 0) return null;
  return (
    <>
      {lead ? <p class="checks-lead">{lead}</p> : null}
      <ul class="checks">
        {checks.map((c) => (
          <li class={c.severity} data-check={c.code} data-subject={`${c.subject.kind}:${c.subject.slug}`}>
            {linked ? (
              <>
                <a href={`/admin/${c.subject.kind}s/${c.subject.slug}`}>
                  {c.subject.kind} <code>{c.subject.slug}</code>
                </a>{' '}
              </>
            ) : null}
            {c.message}
          </li>
        ))}
      </ul>
    </>
  );
}

/** What a form's checks are: warnings to read before saving, which do not stop it. */
export const FORM_LEAD = 'Before you save (saving is not refused for these):';

/** Under a form: what saving it as it stands would leave wrong, asked of `endpoint` as the form changes. */
export function FormChecks({ endpoint, checks }: { endpoint: string; checks: readonly Check[] }) {
  return (
    <div
      class="form-checks" aria-live="polite" hx-post={endpoint} hx-trigger="input from:closest form delay:250ms, change from:closest form"
      hx-swap="innerHTML" hx-include="closest form" hx-sync="this:queue last"
    >
      <CheckList checks={checks} lead={FORM_LEAD} />
    </div>
  );
}

/** Under a preset's preview: what applying it would leave to look at, before it is applied. */
export function PresetChecks({ checks }: { checks: readonly Check[] }) {
  return (
    <div class="preset-checks" data-preset-checks={checks.length}>
      {checks.length === 0 ? (
        <p class="muted">Applying it leaves nothing new to look at in the plans and packs.</p>
      ) : (
        <CheckList checks={checks} lead="Applying it would leave these to look at (applying is not refused for them):" />
      )}
    </div>
  );
}
