/**
 * The chat, as routes the app mounts (`app.route('/chat', chatRoutes({ … }))`):
 *
 *   GET  /          the page (the account's plan, what it has left, the plan's models)
 *   POST /answers   one answer, streamed as the AI SDK's UI message stream
 *   GET  /summary   the line with what the account has left, refreshed after each answer
 *   GET  /chat.js, /chat.css
 *
 * It asks Tollgate through the app's interface, so it works the same with Tollgate in this
 * process or over HTTP.
 */
import { readFileSync } from 'node:fs';
import { safeValidateUIMessages } from 'ai';
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Child } from 'hono/jsx';
import { z } from 'zod';
import type { ChatModel } from '../models/models.ts';
import type { BilledAccount, Tollgate } from '../tollgate/tollgate.ts';
import { answer } from './answer.ts';
import { displayAmount } from '../tollgate/display.ts';
import { limitLines } from './display.ts';
import { ChatPage, SummaryLine, type Summary } from './page.tsx';
import { picker } from './picker.ts';

/** Who is chatting, on which account (their own, or a team's). */
export interface ChatUser {
  account: BilledAccount;
  userId: string;
}

export interface ChatOptions {
  tollgate: Pick<Tollgate, 'authorize' | 'settle' | 'release' | 'balance' | 'pricing'>;
  currentAccount(c: Context): Promise<ChatUser | undefined> | ChatUser | undefined;
  models: ChatModel[];
  /** Where the account's billing page is reached (a refusal's remedy links there). */
  billingHref?: string;
  /** The most an answer may say: it also sizes the hold placed before it. */
  maxOutputTokens?: number;
  /** The time a refusal's reset is told against (Tollgate's clock, where it has its own). */
  now?: () => Date;
  /** The app's own frame around the page; a bare page by default. */
  render?(c: Context, page: { title: string; body: Child }): Response | Promise<Response>;
}

const script = readFileSync(new URL('./chat.js', import.meta.url), 'utf8');
const styles = readFileSync(new URL('./chat.css', import.meta.url), 'utf8');

const requestSchema = z.object({
  model: z.string().min(1).max(100),
  messages: z.array(z.unknown()).min(1).max(200),
});

/** The page on its own, for an app without a frame of its own. */
function barePage(c: Context, { title, body }: { title: string; body: Child }) {
  return c.html(
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{title}</title>
      </head>
      <body>{body}</body>
    </html>,
  );
}

const problem = (c: Context, status: 400 | 401 | 413, code: string, message: string) => c.json({ error: { code, message } }, status);

export function chatRoutes(options: ChatOptions): Hono {
  const { tollgate, models, billingHref = '/billing', maxOutputTokens = 600, now = () => new Date() } = options;
  const render = options.render ?? barePage;
  const chat = new Hono();

  async function summaryOf(user: ChatUser): Promise<{ summary: Summary; plan: { models: string[] } }> {
    const [balance, pricing] = await Promise.all([tollgate.balance(user.account.id), tollgate.pricing()]);
    const caps = balance.members.find((m) => m.userId === user.userId)?.limits ?? [];
    const limits = [...limitLines(balance.limits, pricing, ''), ...limitLines(caps, pricing, 'your cap ')];
    const summary = { accountName: user.account.name, planName: balance.plan.name, available: displayAmount(balance.availableMicros, pricing), limits, billingHref };
    return { summary, plan: balance.plan };
  }

  chat.get('/chat.js', (c) => c.body(script, 200, { 'content-type': 'text/javascript; charset=utf-8' }));
  chat.get('/chat.css', (c) => c.body(styles, 200, { 'content-type': 'text/css; charset=utf-8' }));

  chat.get('/', async (c) => {
    const user = await options.currentAccount(c);
    if (!user) return c.redirect('/');
    const { summary, plan } = await summaryOf(user);
    const base = c.req.path.replace(/\/$/, '');
    return render(c, { title: `Chat · ${user.account.name}`, body: <ChatPage base={base} summary={summary} picker={picker(models, plan)} /> });
  });

  chat.get('/summary', async (c) => {
    const user = await options.currentAccount(c);
    if (!user) return problem(c, 401, 'not_logged_in', 'Log in to chat.');
    return c.html(<SummaryLine {...(await summaryOf(user)).summary} />);
  });

  chat.post(
    '/answers',
    bodyLimit({ maxSize: 512 * 1024, onError: (c) => problem(c, 413, 'conversation_too_long', 'This conversation is too long to send: start a new chat.') }),
    async (c) => {
      const user = await options.currentAccount(c);
      if (!user) return problem(c, 401, 'not_logged_in', 'Log in to chat.');
      const body = requestSchema.safeParse(await c.req.json().catch(() => undefined));
      if (!body.success) return problem(c, 400, 'invalid_request', 'Send a model and the conversation\'s messages (at most 200).');
      const model = models.find((m) => m.id === body.data.model);
      if (!model) return problem(c, 400, 'unknown_model', `This app has no model "${body.data.model}": pick one of ${models.map((m) => m.label).join(', ')}.`);
      const messages = await safeValidateUIMessages({ messages: body.data.messages });
      if (!messages.success) return problem(c, 400, 'invalid_messages', 'The conversation\'s messages are not in the form the chat sends: reload the page and try again.');
      if (messages.data.at(-1)?.role !== 'user') return problem(c, 400, 'no_question', 'The conversation must end with your message.');
      const display = await tollgate.pricing();
      return answer({
        meter: tollgate, model, accountId: user.account.id, userId: user.userId, messages: messages.data,
        display, billingHref, maxOutputTokens, now: now(), abortSignal: c.req.raw.signal,
      });
    },
  );

  return chat;
}
