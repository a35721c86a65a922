/**
 * The app kit's purchase through Stripe, in a browser: the app (Tollgate in its process) pays
 * through the real Stripe SDK talking to the local fake of Stripe's API. From the billing page a
 * user subscribes and buys a pack; each is a redirect to the checkout page, the plan and the
 * credit arrive only with Stripe's signed webhook to the app's /webhooks/stripe, once each, and
 * the chat answers on. Skipped, with a note, without /usr/bin/chromium.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_SHOTS as SHOTS, openAppBrowser, signUp, userIdOf, type AppBrowser } from './support/app-browser.ts';
import { haveChromium, noteMissingChromium } from './support/browser.ts';
import { StripeFake } from './support/stripe-fake.ts';

noteMissingChromium("the app kit's Stripe browser test is");

describe.skipIf(!haveChromium)('the app kit paying through Stripe (its local fake)', () => {
  let stripe: StripeFake;
  let world: AppBrowser;

  beforeAll(async () => {
    stripe = await StripeFake.start();
    world = await openAppBrowser({
      TOLLGATE_PROCESSOR: 'stripe', STRIPE_SECRET_KEY: stripe.secretKey, STRIPE_WEBHOOK_SECRET: stripe.webhookSecret, STRIPE_API_BASE: stripe.url, APP_DEMO_WORD_DELAY_MS: '1',
    });
    stripe.webhookUrl = `${world.app.url}/webhooks/stripe`;
    const billing = world.app.billing!;
    await billing.admin.updatePlan('plus', { processorPrices: { stripe: stripe.addPrice({ unitAmount: 20_00, interval: 'month' }) } });
    await billing.admin.updatePack('extra-10', { processorPrices: { stripe: stripe.addPrice({ unitAmount: 10_00 }) } });
    await billing.admin.createPlan({ slug: 'pro', name: 'Pro', priceCents: 50_00, overage: 'credits', sort: 2, processorPrices: { stripe: stripe.addPrice({ unitAmount: 50_00, interval: 'month' }) } });
  });

  afterAll(async () => {
    await world?.close();
    await stripe?.close();
  });

  it('subscribes and buys a pack through Checkout; the webhook credits each once, and the chat answers on', async () => {
    const { app } = world;
    const billing = app.billing!;
    const ann = await world.newPage();
    await ann.goto(`${app.url}/login`);
    await signUp(ann, 'Ann Archer', 'ann@example.com');
    await ann.waitForURL(`${app.url}/`);
    const account = `user_${await userIdOf(app, 'ann@example.com')}`;
    expect((await billing.getAccount(account)).processor).toBe('stripe');

    // Subscribe: the billing page sends the browser to Stripe's checkout; nothing changes until it is paid.
    await ann.click('nav.menu >> text=Billing');
    await ann.waitForURL(/\/billing/);
    await ann.locator('form[action="/billing/plan"]:has(input[value=plus]) button').click();
    await ann.waitForURL((url) => url.href.startsWith(stripe.url));
    await ann.screenshot({ path: `${SHOTS}/stripe-1-checkout.png` });
    expect((await billing.balance(account)).plan.slug).toBe('free');
    await ann.click('button');
    await ann.waitForURL((url) => url.pathname === '/billing' && url.searchParams.get('checkout') === 'paid');
    await expect.poll(async () => (await billing.balance(account)).plan.slug, { timeout: 10_000 }).toBe('plus');

    // A pack, the same way: credited once its payment's webhook arrives.
    const before = (await billing.balance(account)).availableMicros;
    await ann.goto(`${app.url}/billing-link`);
    await ann.locator('form[action="/billing/purchase"] button').first().click();
    await ann.waitForURL((url) => url.href.startsWith(stripe.url));
    expect((await billing.balance(account)).availableMicros).toBe(before);
    await ann.click('button');
    await ann.waitForURL((url) => url.pathname === '/billing' && url.searchParams.get('checkout') === 'paid');
    await expect.poll(async () => (await billing.balance(account)).availableMicros, { timeout: 10_000 }).toBe(before + 10_000_000);
    await ann.reload();
    await ann.screenshot({ path: `${SHOTS}/stripe-2-paid.png`, fullPage: true });

    // Every webhook was stored once; delivering them all again, signed, changes nothing, and a
    // forged one is refused.
    const stored = async () => (await billing.sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM webhook_events WHERE processor = 'stripe'`))[0]!.n;
    expect(await stored()).toBe(stripe.events.length);
    for (const event of [...stripe.events]) expect((await stripe.deliver(event.id)).status).toBe(200);
    expect(await stored()).toBe(stripe.events.length);
    expect((await stripe.deliver(stripe.events[0]!.id, { secret: 'whsec_forged' })).status).toBe(400);
    expect((await billing.balance(account)).availableMicros).toBe(before + 10_000_000);
    expect((await billing.payments(account)).map((p) => p.kind).sort()).toEqual(['pack', 'subscription']);

    // And the chat answers, drawing on it.
    await ann.goto(`${app.url}/chat`);
    await ann.fill('textarea[name=message]', 'Paid, now answer me');
    await ann.click('#chat-composer button[type=submit]');
    await expect.poll(() => ann.locator('.chat-message.assistant .chat-meta').first().innerText().catch(() => ''), { timeout: 20_000 }).toMatch(/cost/);
    expect((await billing.reconcile(account)).ok).toBe(true);
    expect(world.problems).toEqual([]);
  }, 180_000);

  it('says before an upgrade that the saved card is charged the difference at once, and when it renews', async () => {
    const { app } = world;
    const billing = app.billing!;
    const bea = await world.newPage(390, 844);
    await bea.goto(`${app.url}/login`);
    await signUp(bea, 'Bea Baker', 'bea@example.com');
    await bea.waitForURL(`${app.url}/`);
    const account = `user_${await userIdOf(app, 'bea@example.com')}`;
    await bea.click('nav.menu >> text=Billing');
    await bea.locator('form[action="/billing/plan"]:has(input[value=plus]) button').click();
    await bea.waitForURL((url) => url.href.startsWith(stripe.url));
    await bea.click('button');
    await bea.waitForURL((url) => url.pathname === '/billing');
    await expect.poll(async () => (await billing.balance(account)).plan.slug, { timeout: 10_000 }).toBe('plus');
    const renews = (await billing.balance(account)).period.end;

    // On a subscription, the change is made at Stripe at once, on the saved card: the page asks first, and says so.
    await bea.goto(`${app.url}/billing-link`);
    await bea.click('[data-plan=pro] a.button');
    await bea.waitForSelector('#change-confirm');
    const date = renews.toLocaleDateString('en-US', { month: 'short', day: 'numeric', year: 'numeric', timeZone: 'UTC' });
    expect(await bea.locator('#change-confirm p').first().innerText()).toBe(
      `Pro replaces Plus now, and renews ${date}, ${renews.toISOString().slice(11, 16)} UTC at $50.00 a month. Your saved card is charged now for the difference over the rest of this period. What is left of Plus's allowance ends now, and Pro's starts.`,
    );
    await bea.screenshot({ path: `${SHOTS}/stripe-3-upgrade-confirm-phone.png`, fullPage: true });
    expect((await billing.balance(account)).plan.slug).toBe('plus');

    // A card that declines the difference changes nothing, and the note says what to do in the customer's words.
    const [{ customer }] = (await billing.sql.query<{ customer: string }>('SELECT processor_customer_id AS customer FROM accounts WHERE id = $1', [account])) as [{ customer: string }];
    stripe.declines.set(customer, 'card_declined');
    await bea.click('#change-confirm button');
    await bea.waitForSelector('#note');
    expect(await bea.locator('#note').innerText()).toBe('The payment was declined, so nothing changed: update the card under "Payment method and invoices", then try again.');
    expect((await billing.balance(account)).plan.slug).toBe('plus');
    stripe.declines.delete(customer);

    await bea.click('[data-plan=pro] a.button');
    await bea.click('#change-confirm button');
    await bea.waitForSelector('#note');
    expect(await bea.locator('#note').innerText()).toBe('You are on Pro now.');
    expect((await billing.balance(account)).plan.slug).toBe('pro');
    expect((await billing.balance(account)).period.end).toEqual(renews);
    // The difference is a payment of its own, not a month of Pro; so is the downgrade's, which its credit covered.
    await stripe.flush();
    await bea.click('[data-plan=plus] a.button');
    expect(await bea.locator('#change-confirm p').first().innerText()).toContain('What you paid for Pro over the rest of this period is credited toward your next payment.');
    await bea.click('#change-confirm button');
    await bea.waitForSelector('#note');
    await stripe.flush();
    await bea.reload();
    const rows = await bea.locator('#payments tbody tr').allInnerTexts();
    expect(rows.map((row) => row.split('\t').slice(1).join(' '))).toEqual(['Plus plan $0.00', 'Pro plan $30.00', 'Plus plan, a month $20.00']);
    expect(world.problems).toEqual([]);
  }, 120_000);
});
