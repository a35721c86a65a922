/**
 * The app's chat, end to end with the real AI SDK: the answer is streamed as the AI SDK's UI
 * message stream (read here by its own chat transport, as useChat reads it), through Tollgate's
 * middleware, on the demo model. Each answer carries its tokens and the charge, which is the
 * price book's price of its usage to the micro-dollar; a refusal arrives as a message with its
 * remedy; the picker offers the plan's models only; a stream stopped half way is charged what
 * was streamed and frees the rest. With Tollgate in this process and over HTTP.
 */
import type { LanguageModelV3StreamPart } from '@ai-sdk/provider';
import { DefaultChatTransport, readUIMessageStream, simulateReadableStream, type UIMessageChunk } from 'ai';
import { MockLanguageModelV3 } from 'ai/test';
import { Hono } from 'hono';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import type { ChatMessage } from '../app/chat/answer.ts';
import { demoAnswer } from '../app/models/demo-text.ts';
import { chatModels } from '../app/models/models.ts';
import { inProcessTollgate } from '../app/tollgate/in-process.ts';
import { httpTollgate } from '../app/tollgate/over-http.ts';
import { displayAmount } from '../app/tollgate/display.ts';
import { memberName } from '../app/tollgate/tollgate.ts';
import { memberNameSchema } from '../src/engine/gate/members.ts';
import { amount } from '../src/billing-page/money.ts';
import { serveApp } from './support/browser.ts';
import { ENGINES } from './support/harness.ts';
import { chatApp, chatWorld, priceOf } from './support/chat-world.ts';
import { API_KEY, useApi, type Api } from './support/http.ts';

/** One question, as the AI SDK's chat transport sends it and reads the answer: the final message and every chunk. */
async function ask(app: Hono, account: string, question: string, model = 'gpt-4o-mini') {
  const transport = new DefaultChatTransport<ChatMessage>({
    api: 'http://app.test/chat/answers', headers: { 'x-account': account }, body: { model },
    fetch: (url, init) => Promise.resolve(app.request(String(url), init)),
  });
  const messages: ChatMessage[] = [{ id: 'q1', role: 'user', parts: [{ type: 'text', text: question }] }];
  const stream = await transport.sendMessages({ chatId: 'c1', messages, trigger: 'submit-message', messageId: undefined, abortSignal: undefined });
  const chunks: UIMessageChunk[] = [];
  const tapped = stream.pipeThrough(new TransformStream<UIMessageChunk, UIMessageChunk>({ transform: (chunk, c) => (chunks.push(chunk), c.enqueue(chunk)) }));
  let message: ChatMessage | undefined;
  for await (const snapshot of readUIMessageStream<ChatMessage>({ stream: tapped as ReadableStream<never> })) message = snapshot;
  return { message: message!, chunks };
}

const textOf = (message: ChatMessage) => message.parts.filter((p) => p.type === 'text').map((p) => p.text).join('');

async function usageEvents(api: Api) {
  return api.sql.query<{ account_id: string; user_id: string; model: string; input_tokens: number; output_tokens: number; value_micros: number; metadata: { aiCall?: { finishReason?: string } } }>(
    'SELECT account_id, user_id, model, input_tokens::int, output_tokens::int, value_micros::int, metadata FROM usage_events WHERE account_id <> $1 ORDER BY id', ['bea'],
  );
}

for (const engine of ENGINES) {
  describe(`the app's chat on ${engine.name}`, () => {
    const api = useApi(engine);
    let closers: (() => Promise<void>)[] = [];
    afterEach(async () => {
      for (const close of closers) await close();
      closers = [];
    });

    const inProcess = () => inProcessTollgate({ billing: api.billing, server: api.app, billingLink: async () => 'http://billing.test/' });
    const overHttp = async () => {
      const server = await serveApp(api.app);
      closers.push(server.close);
      return httpTollgate({ url: server.base, apiKey: API_KEY });
    };

    for (const [way, tollgateOf] of [['in this process', async () => inProcess()], ['over HTTP', overHttp]] as const) {
      it(`streams an answer with its tokens and a charge that is the price book's price of its usage, to the micro-dollar (Tollgate ${way})`, async () => {
        const marginBps = await chatWorld(api.billing);
        const app = chatApp(await tollgateOf(), await chatModels({ env: {}, wordDelayMs: 1 }), api.clock);
        const before = await api.billing.balance('ann');
        const question = 'What does a toll gate do?';

        const { message, chunks } = await ask(app, 'ann', question);
        expect(chunks.filter((c) => c.type === 'text-delta').length).toBeGreaterThan(20); // word by word
        expect(chunks.some((c) => c.type === 'error')).toBe(false);
        expect(textOf(message)).toBe(demoAnswer([{ role: 'user', content: [{ type: 'text', text: question }] }]));
        const { usage, cost, model } = message.metadata!;
        expect(model).toBe('gpt-4o-mini');
        expect(usage!.outputTokens).toBe(Math.ceil(Buffer.byteLength(textOf(message)) / 4));
        expect(usage!.inputTokens).toBeGreaterThan(10);

        const [event] = await usageEvents(api);
        expect(event).toMatchObject({ account_id: 'ann', user_id: 'u_ann', model: 'gpt-4o-mini', input_tokens: usage!.inputTokens, output_tokens: usage!.outputTokens });
        const price = priceOf('gpt-4o-mini', usage!, marginBps);
        expect(price).toBeGreaterThan(0);
        expect(event!.value_micros).toBe(price);
        // Said as the billing page says it: three digits below a dollar, exact under a tenth of a cent.
        expect(cost).toEqual({ micros: price, shown: amount(price, await api.billing.admin.getSettings()) });
        const after = await api.billing.balance('ann');
        expect(after.heldMicros).toBe(0);
        expect(before.availableMicros - after.availableMicros).toBe(price);
      });

      it(`answers a refused account with the refusal as a message, its reason and remedy, and charges nothing (Tollgate ${way})`, async () => {
        await chatWorld(api.billing);
        const app = chatApp(await tollgateOf(), await chatModels({ env: {}, wordDelayMs: 1 }), api.clock);
        const before = await api.billing.balance('bea');
        const { message, chunks } = await ask(app, 'bea', 'Still there?');
        // A whole stream: started, the refusal, finished; no error part.
        expect(chunks.map((c) => c.type)).toEqual(['start', 'data-refusal', 'finish']);
        expect(textOf(message)).toBe('');
        const refusal = message.parts.find((p) => p.type === 'data-refusal')!.data;
        expect(refusal).toMatchObject({ code: 'daily_limit', resets: '00:00 UTC on Mar 11', billingHref: '/billing', remedy: { label: 'Try again after 00:00 UTC on Mar 11' } });
        expect(refusal.message).toBe('This account has reached its daily limit of $0.10.'); // its reset told in words above, not as a timestamp
        expect(await api.billing.balance('bea')).toEqual(before);
        expect(await usageEvents(api)).toEqual([]);
      });
    }

    it('offers only the plan\'s models, says each limit\'s use, and answers a model outside the plan with the gate\'s refusal to upgrade', async () => {
      await chatWorld(api.billing);
      const app = chatApp(inProcess(), await chatModels({ env: {}, wordDelayMs: 1 }), api.clock);
      const options = async (account: string) => {
        const html = await (await app.request('/chat', { headers: { 'x-account': account } })).text();
        return [...html.matchAll(/<option value="([^"]+)"/g)].map((m) => m[1]);
      };
      expect(await options('ann')).toEqual(['gpt-4o-mini', 'claude-haiku-4-5']); // Free: cheap models
      expect(await options('cy')).toEqual(['gpt-4o-mini', 'gpt-4o', 'claude-haiku-4-5', 'claude-sonnet-4-5']); // Pro: all
      const page = await (await app.request('/chat', { headers: { 'x-account': 'ann' } })).text();
      expect(page).toContain('Not on your plan: GPT-4o (demo), Claude Sonnet 4.5 (demo)');
      // Above the chat, each limit's use, and the member's own cap where the account sets one.
      const summary = async (account: string) => (await (await app.request('/chat/summary', { headers: { 'x-account': account } })).text()).replace(/<[^>]+>/g, ' ');
      expect(await summary('bea')).toContain('Today: $0.10 of $0.10 · This month: $0.10 of $0.50');
      await api.billing.admin.setMemberLimits('cy', 'u_cy', [{ window: 'day', unit: 'usd', amount: 50_000 }]);
      expect(await summary('cy')).toContain('This month: $0.00 of $20.00 · Your cap today: $0.00 of $0.05');

      const { message, chunks } = await ask(app, 'ann', 'Use the big one', 'gpt-4o');
      expect(chunks.some((c) => c.type === 'text-delta' || c.type === 'error')).toBe(false);
      expect(message.parts.find((p) => p.type === 'data-refusal')!.data).toMatchObject({
        code: 'model_not_allowed', remedy: { label: 'Upgrade your plan', href: '/billing' },
      });
      expect(await usageEvents(api)).toEqual([]);
      // On Pro the same model answers, at its own price.
      const pro = await ask(app, 'cy', 'Use the big one', 'claude-haiku-4-5');
      expect(pro.message.metadata!.cost!.micros).toBe(priceOf('claude-haiku-4-5', pro.message.metadata!.usage!, (await api.billing.admin.catalog()).settings.marginBps));
      // In credits, when the settings say credits: as the billing page lists the same call.
      const settings = await api.billing.admin.updateSettings({ displayUnit: 'credits', creditValueMicros: 10_000 });
      const inCredits = (await ask(app, 'cy', 'Once more, in credits', 'claude-haiku-4-5')).message.metadata!.cost!;
      // A fraction of a credit, finer than two places: three significant digits, as the page says it.
      expect(inCredits.micros).toBeLessThan(10_000);
      expect(inCredits.micros % 100).not.toBe(0);
      expect(inCredits.shown).toBe(amount(inCredits.micros, settings));
      expect(inCredits.shown).toMatch(/^0\.0*[1-9]\d{0,2} credits$/);
    });

    it('charges a stream stopped half way for what was streamed, and frees the rest of its hold', async () => {
      const marginBps = await chatWorld(api.billing);
      const app = chatApp(inProcess(), await chatModels({ env: {}, wordDelayMs: 30 }), api.clock);
      const server = await serveApp(app);
      closers.push(server.close);
      const before = await api.billing.balance('ann');
      const question = 'Tell me everything about holds';
      const whole = demoAnswer([{ role: 'user', content: [{ type: 'text', text: question }] }]);

      // A real connection, cut by the reader after a few words, as the page's Stop button does.
      const controller = new AbortController();
      const response = await fetch(`${server.base}/chat/answers`, {
        method: 'POST', signal: controller.signal, headers: { 'content-type': 'application/json', 'x-account': 'ann' },
        body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ id: 'q1', role: 'user', parts: [{ type: 'text', text: question }] }] }),
      });
      expect(response.status).toBe(200);
      const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
      let received = '';
      let buffer = '';
      while ((received.match(/ /g) ?? []).length < 5) {
        buffer += (await reader.read()).value ?? '';
        for (const [, json] of buffer.matchAll(/data: (\{.*\})\n\n/g)) {
          const part = JSON.parse(json!) as { type: string; delta?: string };
          if (part.type === 'text-delta') received += part.delta;
        }
        buffer = buffer.slice(buffer.lastIndexOf('\n\n') + 2);
      }
      controller.abort();

      // The server notices the cut connection, and the middleware settles what was streamed.
      let events = await usageEvents(api);
      for (let i = 0; i < 100 && events.length === 0; i++) {
        await new Promise((r) => setTimeout(r, 50));
        events = await usageEvents(api);
      }
      expect(events).toHaveLength(1);
      const [event] = events;
      expect(event!.metadata.aiCall?.finishReason).toBe('aborted');
      // Output counted from the deltas streamed, at the gate's two bytes a token: at least what
      // the reader got, well short of the whole answer.
      expect(event!.output_tokens).toBeGreaterThanOrEqual(Math.ceil(Buffer.byteLength(received) / 2));
      expect(event!.output_tokens).toBeLessThan(Math.ceil(Buffer.byteLength(whole) / 2) / 2);
      expect(event!.value_micros).toBe(priceOf('gpt-4o-mini', { inputTokens: event!.input_tokens, outputTokens: event!.output_tokens }, marginBps));
      const after = await api.billing.balance('ann');
      expect(after.heldMicros).toBe(0);
      expect(before.availableMicros - after.availableMicros).toBe(event!.value_micros);
      expect((await api.billing.reconcile('ann')).ok).toBe(true);
    });

    it('tells a model that fails half way in the chat, and charges what it streamed before it failed', async () => {
      const marginBps = await chatWorld(api.billing);
      const failing = new MockLanguageModelV3({
        provider: 'openai.chat', modelId: 'gpt-4o-mini',
        doStream: async () => ({
          stream: simulateReadableStream<LanguageModelV3StreamPart>({
            chunks: [
              { type: 'stream-start', warnings: [] },
              { type: 'text-start', id: 't' },
              { type: 'text-delta', id: 't', delta: 'Half an' },
              { type: 'text-delta', id: 't', delta: ' answer' },
              { type: 'error', error: new Error('the provider is overloaded') },
            ],
          }),
        }),
      });
      const app = chatApp(inProcess(), [{ id: 'gpt-4o-mini', label: 'GPT-4o mini', demo: false, model: failing }], api.clock);
      const { message, chunks } = await ask(app, 'ann', 'Are you there?');
      expect(textOf(message)).toBe('Half an answer');
      expect(chunks.find((c) => c.type === 'error')).toEqual({ type: 'error', errorText: 'The model could not answer: the provider is overloaded' });
      const [event] = await usageEvents(api);
      expect(event!.metadata.aiCall?.finishReason).toBe('error');
      expect(event!.output_tokens).toBe(Math.ceil(Buffer.byteLength('Half an answer') / 2));
      expect(event!.value_micros).toBe(priceOf('gpt-4o-mini', { inputTokens: event!.input_tokens, outputTokens: event!.output_tokens }, marginBps));
      expect((await api.billing.balance('ann')).heldMicros).toBe(0);
    });

    it('says what to fix when a request is wrong, before anything reaches the gate', async () => {
      await chatWorld(api.billing);
      const app = chatApp(inProcess(), await chatModels({ env: {}, wordDelayMs: 1 }), api.clock);
      const post = (body: unknown, headers: Record<string, string> = { 'x-account': 'ann' }) =>
        app.request('/chat/answers', { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
      const question = [{ id: 'q', role: 'user', parts: [{ type: 'text', text: 'hi' }] }];
      const cases: [unknown, number, string, RegExp][] = [
        [{ model: 'gpt-4o-mini', messages: question }, 401, 'not_logged_in', /Log in/],
        [{ model: 'gpt-5-ultra', messages: question }, 400, 'unknown_model', /no model "gpt-5-ultra": pick one of GPT-4o mini \(demo\)/],
        [{ model: 'gpt-4o-mini', messages: [] }, 400, 'invalid_request', /messages/],
        ['not json', 400, 'invalid_request', /Send a model/],
        [{ model: 'gpt-4o-mini', messages: [{ id: 'q', role: 'wizard', parts: [] }] }, 400, 'invalid_messages', /reload the page/],
        [{ model: 'gpt-4o-mini', messages: [{ id: 'a', role: 'assistant', parts: [{ type: 'text', text: 'hello' }] }] }, 400, 'no_question', /end with your message/],
        [{ model: 'gpt-4o-mini', messages: [{ id: 'q', role: 'user', parts: [{ type: 'text', text: 'x'.repeat(600_000) }] }] }, 413, 'conversation_too_long', /start a new chat/],
      ];
      for (const [i, [body, status, code, message]] of cases.entries()) {
        const response = await post(body, i === 0 ? {} : undefined);
        const json = (await response.json()) as { error: { code: string; message: string } };
        expect({ status: response.status, code: json.error.code }, JSON.stringify(json)).toEqual({ status, code });
        expect(json.error.message).toMatch(message);
      }
      expect(await usageEvents(api)).toEqual([]);
      expect((await api.billing.balance('ann')).heldMicros).toBe(0);
    });
  });
}

describe('amounts in the display unit', () => {
  it('are as the billing page says them: dollars to the cent, three digits below a dollar; credits by the same rule', () => {
    const usd = { unit: 'usd' as const, credit: null };
    expect(displayAmount(291, usd)).toBe('$0.000291');
    expect(displayAmount(12_345, usd)).toBe('$0.0123');
    expect(displayAmount(1_234_567, usd)).toBe('$1.23');
    const credits = { unit: 'credits' as const, credit: { micros: 10_000, display: '$0.01' } };
    expect(displayAmount(2_910, credits)).toBe('0.291 credits');
    expect(displayAmount(10_000, credits)).toBe('1 credit');
    expect(displayAmount(1_234_567, credits)).toBe('123.46 credits');
    expect(displayAmount(0, credits)).toBe('0 credits');
    for (const micros of [291, 12_345, 1_234_567]) {
      expect(displayAmount(micros, usd)).toBe(amount(micros, { displayUnit: 'usd', creditValueMicros: 10_000 }));
      expect(displayAmount(micros, credits)).toBe(amount(micros, { displayUnit: 'credits', creditValueMicros: 10_000 }));
    }
  });
});

describe('a member\'s name as the app gives it to Tollgate', () => {
  it('is one Tollgate takes, whatever the sign-up name, or none when nothing of it is left', () => {
    expect(memberName('  Bob Baker ')).toBe('Bob Baker');
    expect(memberName('Bob\nBaker\t')).toBe('Bob Baker');
    expect(memberName(' \u0000 ')).toBeUndefined();
    expect(memberName(`${'x'.repeat(99)}🙂`)).toBe('x'.repeat(99));
    fc.assert(
      fc.property(fc.string({ unit: fc.oneof(fc.constantFrom(' ', '\n', '\u0000', '\ud83d', '\ude42', '\u0085'), fc.string({ unit: 'grapheme', maxLength: 1 })), maxLength: 140 }), (name) => {
        const fitted = memberName(name);
        if (fitted !== undefined) expect(memberNameSchema.safeParse(fitted)).toEqual({ success: true, data: fitted });
        else expect(name.replace(/[\s\u0000-\u001f\u007f-\u009f\ud800-\udbff]/g, '')).toBe(''); // at most a cut half of an emoji besides blanks
      }),
    );
  });
});
