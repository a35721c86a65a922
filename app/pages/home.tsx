/**
 * The account's page: what it is on and what it has left (from Tollgate's balance), each limit
 * with when it resets, and the plans and packs on sale as the admin set them (switch a pricing
 * mode in the admin panel and this page changes with it). Buying goes through Billing.
 */
import type { Hono } from 'hono';
import type { Balance, Limit } from 'tollgate';
import type { AppEnv, Viewer } from '../auth/viewer.ts';
import { displayAmount } from '../tollgate/display.ts';
import type { Pricing, Tollgate, Wire } from '../tollgate/tollgate.ts';
import { picker } from '../chat/picker.ts';
import type { ChatModel } from '../models/models.ts';
import { render } from './layout.tsx';

type LimitView = Wire<Balance>['limits'][number];

function limitText(limit: Wire<Limit> & { used: number }, pricing: Pricing): string {
  const per = limit.window === 'day' ? 'today' : 'this month';
  const show = (n: number) => (limit.unit === 'tokens' ? `${n.toLocaleString('en-US')} tokens` : displayAmount(n, pricing));
  return `${show(limit.used)} of ${show(limit.amount)} used ${per}`;
}

const resets = (at: string) => `resets ${new Date(at).toISOString().slice(0, 16).replace('T', ' ')} UTC`;

function Limits({ title, limits, pricing }: { title: string; limits: LimitView[]; pricing: Pricing }) {
  if (limits.length === 0) return null;
  return (
    <div class="limits">
      <h3>{title}</h3>
      <ul>
        {limits.map((limit) => (
          <li>
            <progress max={limit.amount} value={Math.min(limit.used, limit.amount)} />
            <span>{limitText(limit, pricing)}</span> <small class="muted">{resets(limit.resetsAt)}</small>
          </li>
        ))}
      </ul>
    </div>
  );
}

/**
 * The models a plan allows, as the chat's picker names them ("GPT-4o mini"), not the plan's own
 * patterns ("claude-haiku-*"), which a customer is not asked to read.
 */
function modelsLine(plan: { models: string[] }, models: readonly ChatModel[]): string {
  if (plan.models.length === 0) return 'Every model';
  const { offered, others } = picker(models, plan);
  if (others.length === 0) return 'Every model';
  return offered.length === 0 ? 'None of the chat\'s models' : `Models: ${offered.map((m) => m.label).join(', ')}`;
}

function Overview({ viewer, balance, pricing, models }: { viewer: Viewer; balance: Wire<Balance>; pricing: Pricing; models: readonly ChatModel[] }) {
  const { current } = viewer;
  const mine = balance.members.find((m) => m.userId === viewer.user.id);
  return (
    <>
      <h1>{current.name}</h1>
      <p class="muted">
        {current.kind === 'personal' ? 'Your own account.' : `A team account: its members share one pool. You are its ${current.role}.`}
      </p>
      <div class="tiles">
        <div class="tile"><span>Plan</span><strong data-plan={balance.plan.slug}>{balance.plan.name}</strong></div>
        <div class="tile"><span>Available</span><strong data-available>{displayAmount(balance.availableMicros, pricing)}</strong></div>
        {balance.debtMicros > 0 && <div class="tile"><span>Owed</span><strong>{displayAmount(balance.debtMicros, pricing)}</strong></div>}
      </div>
      <p>
        <a class="button" href="/chat">Chat</a> <a class="button secondary" href="/billing-link">Billing</a>
      </p>
      <Limits title="Limits" limits={balance.limits} pricing={pricing} />
      {mine && <Limits title="Your cap in this team" limits={mine.limits} pricing={pricing} />}
      <h2>Plans</h2>
      <div class="plans">
        {pricing.plans.map((plan) => (
          <div class={`card plan${plan.slug === balance.plan.slug ? ' current' : ''}`}>
            <h3>{plan.name} {plan.slug === balance.plan.slug && <span class="badge">your plan</span>}</h3>
            <p class="price">{plan.free ? 'Free' : `${plan.price.display} a month`}</p>
            <p>{plan.included.display} of usage included</p>
            {plan.limits.map((l) => <p class="muted">{l.display}</p>)}
            <p class="muted">{modelsLine(plan, models)}</p>
            {plan.overage === 'credits' && <p class="muted">Beyond it, credit packs pay</p>}
          </div>
        ))}
      </div>
      {pricing.packs.length > 0 && (
        <>
          <h2>Credit packs</h2>
          <div class="plans">
            {pricing.packs.map((pack) => (
              <div class="card plan">
                <h3>{pack.name}</h3>
                <p class="price">{pack.price.display}</p>
                <p>{pack.value.display} of usage{pack.addOn ? ', with a paid plan' : ''}</p>
              </div>
            ))}
          </div>
        </>
      )}
      <p class="muted">Subscribe, buy a pack or see what you used in <a href="/billing-link">Billing</a>.</p>
    </>
  );
}

export function homePage(app: Hono<AppEnv>, { tollgate, models }: { tollgate: Tollgate; models: readonly ChatModel[] }) {
  app.get('/', async (c) => {
    const viewer = c.get('viewer')!;
    const [balance, pricing] = await Promise.all([tollgate.balance(viewer.current.id), tollgate.pricing()]);
    return render(c, viewer.current.name, viewer, <Overview viewer={viewer} balance={balance} pricing={pricing} models={models} />);
  });
}
