/**
 * `npm start`: open the embedded database and show what is here. The HTTP server, admin
 * panel and chat app build on this library.
 */
import { createBilling, formatUsd } from './index.ts';

const database = process.env.DATABASE_URL ?? 'pglite://./.tollgate';
const billing = await createBilling({ database });
const settings = await billing.admin.getSettings();
if (!settings.pricingMode) await billing.admin.applyPreset('subscription-plus-packs');

const plans = await billing.admin.listPlans({ status: 'active' });
const packs = await billing.admin.listPacks({ status: 'active' });
const margin = (await billing.admin.getSettings()).marginBps / 100;
console.log(`Tollgate — billing for AI apps
database: ${database}
pricing mode: ${(await billing.admin.getSettings()).pricingMode}, margin ${margin}%
plans: ${plans.map((p) => `${p.name} (${formatUsd(p.priceCents * 10_000)}/month)`).join(', ')}
packs: ${packs.map((p) => `${p.name} (${formatUsd(p.priceCents * 10_000)})`).join(', ') || 'none'}

Use it as a library: import { createBilling } from 'tollgate' — see README.md.`);
await billing.close();
