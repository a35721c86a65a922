/**
 * Who an action on a plan or pack reaches, as its confirmation page says it: how many accounts,
 * the first few of them linked, and what archiving does to them (read from the engine's rules:
 * checkout.ts takes no new subscriber on a plan off sale, purchases.ts sells no archived pack,
 * and a bucket is spent by its source and the plan's overage, never by its pack's status).
 */
import type { Billing } from '../engine/billing.ts';
import type { Holders } from '../engine/reads/admin-reads.ts';
import type { Pack } from '../core/pack.ts';
import type { Plan } from '../core/plan.ts';
import type { FieldChange } from '../core/presets.ts';
import { value } from './format.ts';

const accountPath = (id: string) => `/admin/accounts/${encodeURIComponent(id)}`;
const accountsText = (n: number) => (n === 1 ? '1 account' : `${n.toLocaleString('en-US')} accounts`);

/** "3 accounts (acme, beta, corp)", the first few linked, "and N more" for the rest. */
export function HolderList({ holders, none = 'no account' }: { holders: Holders | undefined; none?: string }) {
  if (!holders || holders.accounts === 0) return <span data-holders="0">{none}</span>;
  const more = holders.accounts - holders.firstIds.length;
  return (
    <span data-holders={holders.accounts}>
      <strong>{accountsText(holders.accounts)}</strong> (
      {holders.firstIds.map((id, i) => (
        <>
          {i > 0 ? ', ' : ''}
          <a href={accountPath(id)} data-account={id}>
            {id}
          </a>
        </>
      ))}
      {more > 0 ? ` and ${more.toLocaleString('en-US')} more` : ''})
    </span>
  );
}

/** Off sale, the default plan is still where every new account starts (the settings name it, not its status): said before it is taken off sale. */
async function DefaultPlanNote({ billing, plan }: { billing: Billing; plan: Plan }) {
  if ((await billing.admin.getSettings()).defaultPlanId !== plan.id) return null;
  return (
    <p class="warn" data-figure="default-plan">
      {plan.name} is the default plan: every new account still starts on it, off sale or not. To start them on another, choose it as the default plan in{' '}
      <a href="/admin/settings">Settings</a> first.
    </p>
  );
}

/** What archiving a plan does to the accounts on it. */
export const planArchiveEffect = (billing: Billing) => async (plan: Plan) => {
  const holders = (await billing.admin.planHolders([plan.slug])).get(plan.slug);
  return (
    <>
      <p>
        <HolderList holders={holders} /> {(holders?.accounts ?? 0) > 1 ? 'are' : 'is'} on {plan.name} now.
      </p>
      <p>
        Archived, it is off sale: nobody new can take it, and it leaves the pricing table. The accounts on it stay on it, on its price, allowance and
        limits, and renew as before; nothing moves at a processor and nobody's credit is touched.
      </p>
      {await DefaultPlanNote({ billing, plan })}
    </>
  );
};

/** What a plan's save does to the accounts on it: a new version they do not get (they keep theirs), and off sale as legacy. */
export const planSaveEffect = (billing: Billing) => async (plan: Plan, save: { changes: FieldChange[]; version: number; legacy: boolean; free: boolean; describe: (c: FieldChange) => string }) => {
  const holders = (await billing.admin.planHolders([plan.slug])).get(plan.slug);
  const many = (holders?.accounts ?? 0) > 1;
  return (
    <>
      {save.changes.length ? (
        <p id="new-version">
          Saving makes <strong>version {save.version + 1}</strong> of {plan.name}, for new subscribers: {save.changes.map(save.describe).join('; ')}.{' '}
          {save.free ? (
            <>
              Nobody paid for a free plan: <HolderList holders={holders} /> on it {many ? 'are' : 'is'} on the new version at once.
            </>
          ) : (
            <>
              <HolderList holders={holders} /> on it {many ? 'keep the versions they are' : 'keeps the version it is'} on, as bought, until you move {many ? 'them' : 'it'} from the
              plan's page (now, or at {many ? 'their' : 'its'} renewal).
            </>
          )}
        </p>
      ) : null}
      {save.legacy ? (
        <p id="legacy">
          As legacy, {plan.name} is off sale: nobody new can take it, and it leaves the pricing table. <HolderList holders={holders} /> on it {many ? 'stay' : 'stays'} on it, on its price,
          allowance and limits, and {many ? 'renew' : 'renews'} as before; nothing moves at a processor and nobody's credit is touched.
        </p>
      ) : null}
      {save.legacy ? await DefaultPlanNote({ billing, plan }) : null}
    </>
  );
};

/** What archiving a pack does to the accounts holding credit it granted. */
export const packArchiveEffect = (billing: Billing) => async (pack: Pack) => {
  const holders = await billing.admin.packHolders(pack.slug);
  const display = await billing.admin.getSettings();
  return (
    <>
      <p>
        <HolderList holders={holders} /> {holders.accounts > 1 ? 'have' : 'has'} credit left from {pack.name}
        {holders.accounts ? (
          <>
            : <strong data-figure="unspent">{value(holders.unspentMicros, display)}</strong> unspent and unexpired
          </>
        ) : null}
        .
      </p>
      <p>
        Archived, it is no longer sold: nobody can buy it, and automatic recharges set to buy it stop buying. The credit already bought stays in its buckets
        and is spent as before, until it runs out or expires; nothing moves at a processor.
      </p>
    </>
  );
};
