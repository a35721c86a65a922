/**
 * Taking back a bonus or adjustment granted by mistake, from the account page's bucket list: a
 * page that says what will happen (the bucket, what it has left unspent, what the account will
 * have after) and asks to confirm; confirmed, a negative adjustment off the bucket, once per the
 * form's key (billing.takeBack), never more than the bucket has left unspent.
 */
import type { Billing } from '../../engine/billing.ts';
import type { BucketView } from '../../engine/reads/reads.ts';
import { dateTime, plainDollars, usd, value } from '../format.ts';
import { effectKey, microsField, readForm } from '../form.ts';
import { attempt, Csrf, done, EffectKey, ErrorNote, Field, render, type AdminApp, type AdminContext } from '../layout.tsx';

const accountPath = (id: string) => `/admin/accounts/${encodeURIComponent(id)}`;
const takeBackPath = (accountId: string, bucketId: number) => `${accountPath(accountId)}/buckets/${bucketId}/take-back`;

/** The sources a take-back may draw on (engine/grants/take-back.ts). */
const CREDITS: readonly string[] = ['bonus', 'adjustment'];

/** The bucket list's action: a link to the confirmation page, for a credit with value left. */
export function TakeBackLink({ accountId, bucket }: { accountId: string; bucket: BucketView }) {
  if (bucket.id === null || !CREDITS.includes(bucket.source) || bucket.remainingMicros <= 0) return null;
  return (
    <a class="button secondary" href={takeBackPath(accountId, bucket.id)}>
      Take back…
    </a>
  );
}

async function confirmPage(c: AdminContext, billing: Billing, accountId: string, bucketId: number, error?: { message: string; amount: string }) {
  const balance = await billing.balance(accountId);
  const bucket = balance.buckets.find((b) => b.id === bucketId);
  if (!bucket || !CREDITS.includes(bucket.source)) {
    return render(c, { title: 'Nothing to take back', status: 404, body: <p class="error">Account {accountId} has no bonus or adjustment #{bucketId} with value left. <a href={accountPath(accountId)}>Back to the account</a></p> });
  }
  const display = await billing.admin.getSettings();
  // What open calls hold stays for their charges: a spendable bucket gives at most what the account has available.
  const most = bucket.usable ? Math.min(bucket.remainingMicros, balance.availableMicros) : bucket.remainingMicros;
  const after = Math.max(0, balance.availableMicros - most);
  return render(c, {
    title: `Take back ${bucket.source} #${bucketId}`,
    status: error ? 422 : 200,
    body: (
      <section class="card" id="take-back-confirm">
        <p>
          A {bucket.source} of <strong>{usd(bucket.amountMicros)}</strong> granted to <strong>{accountId}</strong> from {dateTime(bucket.startsAt)} UTC
          {bucket.expiresAt ? `, expiring ${dateTime(bucket.expiresAt)} UTC` : ', never expiring'}. It has <strong data-figure="unspent">{usd(bucket.remainingMicros)}</strong> left unspent.
        </p>
        <p>
          Taking it back writes a negative adjustment in the ledger and takes the value out of this bucket: what was already spent stays spent, and nothing
          moves at a processor. Taken back in full, the account has {value(after, display)} available after, instead of {value(balance.availableMicros, display)}. What
          calls in progress hold stays, for their charges.
        </p>
        <form method="post" action={takeBackPath(accountId, bucketId)} class="form" id="take-back">
          <Csrf token={c.get('csrf')} />
          <EffectKey />
          <Field label="Amount to take back ($)" name="amount" value={error?.amount ?? plainDollars(most)} step="0.000001" required hint={most < bucket.remainingMicros ? 'At most what is filled in, exactly: calls in progress hold the rest.' : 'At most what is filled in, exactly: all it has left.'} />
          <ErrorNote error={error?.message} />
          <button type="submit">Confirm take-back</button> <a href={accountPath(accountId)}>Cancel</a>
        </form>
      </section>
    ),
  });
}

/** The confirm page and the take-back it confirms. */
export function accountTakeBackRoutes(admin: AdminApp, billing: Billing) {
  admin.get('/accounts/:id/buckets/:bucketId/take-back', (c) => confirmPage(c, billing, c.req.param('id'), Number(c.req.param('bucketId'))));

  admin.post('/accounts/:id/buckets/:bucketId/take-back', async (c) => {
    const id = c.req.param('id');
    const bucketId = Number(c.req.param('bucketId'));
    const form = await readForm(c);
    const result = await attempt(async () => billing.takeBack(id, bucketId, { amountMicros: microsField(form, 'amount', 'Amount to take back') }, effectKey(form)));
    if (!result.ok) return confirmPage(c, billing, id, bucketId, { message: result.error, amount: form.amount ?? '' });
    const { takenMicros, remainingMicros } = result.value;
    return done(c, accountPath(id), `Took back ${usd(takenMicros)} of bucket #${bucketId}; it has ${usd(remainingMicros)} left.`);
  });
}
