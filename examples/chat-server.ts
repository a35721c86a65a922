/**
 * A tiny chat server with Tollgate in front of its model: `npm run example:chat`.
 *
 * POST /chat streams the model's answer (streamText with the wrapped model); an account the
 * gate refuses gets a 402 with the refusal's code, message and remedy instead, before any
 * token is spent. GET /balance/:account shows what the calls were charged.
 *
 * The model is the AI SDK's mock model, unless OPENAI_API_KEY (gpt-4o-mini) or
 * ANTHROPIC_API_KEY (claude-3-5-haiku) is set. The billing database is in memory, and two
 * accounts are made at start: "demo" with $1 of credit, and "broke", whose allowance is spent.
 * At start the server sends itself one request for each and prints what came back; then it
 * serves until stopped (Ctrl-C). It takes its own port, 3001, so that it runs beside the
 * server (`npm start`, on 3000); EXAMPLE_PORT, else PORT, sets another.
 */
import { serve } from '@hono/node-server';
import type { LanguageModelV3, LanguageModelV3StreamPart } from '@ai-sdk/provider';
import { streamText, simulateReadableStream } from 'ai';
import { MockLanguageModelV3 } from 'ai/test';
import { Hono } from 'hono';
import { createBilling, formatUsd } from 'tollgate';
import { refusalOf, wrap } from 'tollgate/ai';
import { refusalBody } from 'tollgate/hono';

const billing = await createBilling({ database: 'memory://' });
await billing.admin.applyPreset('credit-packs'); // pay as you go: $0.10 included a month, then credit packs
await billing.upsertAccount({ id: 'demo', kind: 'team', name: 'Demo team' });
await billing.credit('demo', { source: 'bonus', amountMicros: 1_000_000, reference: 'welcome' });
await billing.upsertAccount({ id: 'broke', kind: 'personal', name: 'Broke' });
// Earlier usage that spent this month's allowance.
await billing.record('broke', { model: 'gpt-4o-mini', usage: { inputTokens: 333_333, outputTokens: 0 } }, { idempotencyKey: 'earlier' }); // $0.10 of usage

const { model, name } = await chooseModel();
const app = new Hono();

app.post('/chat', async (c) => {
  const accountId = c.req.header('x-account') ?? 'demo'; // a real app takes it from its session
  const { message } = await c.req.json<{ message: string }>();
  const result = streamText({
    // One line: every model call is authorized before it and settled after it.
    model: wrap(billing, model, { accountId, userId: c.req.header('x-user'), metadata: { route: '/chat' } }),
    system: 'You are a helpful assistant. Answer in two sentences.',
    prompt: message,
    maxOutputTokens: 300,
    // A client that goes away aborts the call: what was streamed is charged, the rest of the hold freed.
    abortSignal: c.req.raw.signal,
    onError: () => {}, // a refusal is answered below
  });
  // The gate answers before the model is called: a refusal is still a 402, not a broken stream.
  const refusal = await refusalOf(result);
  if (refusal) return c.json(refusalBody(refusal), 402);
  return result.toTextStreamResponse();
});

app.get('/balance/:account', async (c) => {
  const balance = await billing.balance(c.req.param('account'));
  return c.json({ available: formatUsd(balance.availableMicros), held: formatUsd(balance.heldMicros), debt: formatUsd(balance.debtMicros) });
});

const port = Number(process.env.EXAMPLE_PORT ?? process.env.PORT ?? 3001);
const server = serve({ fetch: app.fetch, port }, async () => {
  const base = `http://127.0.0.1:${port}`;
  console.log(`Chat server with Tollgate on ${base} (model: ${name})\n`);
  for (const account of ['demo', 'broke']) {
    console.log(`$ curl -X POST ${base}/chat -H 'x-account: ${account}' -H 'content-type: application/json' -d '{"message":"What does a toll gate do?"}'`);
    const response = await fetch(`${base}/chat`, {
      method: 'POST', headers: { 'x-account': account, 'content-type': 'application/json' }, body: JSON.stringify({ message: 'What does a toll gate do?' }),
    });
    console.log(`HTTP ${response.status}\n${await response.text()}\n`);
    console.log(`$ curl ${base}/balance/${account}\n${await (await fetch(`${base}/balance/${account}`)).text()}\n`);
  }
  console.log('Serving until stopped (Ctrl-C).');
});

const stop = async () => {
  server.close();
  await billing.close();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

/** A real provider when its key is set, else the AI SDK's mock model streaming a canned answer with the usage a provider reports. */
async function chooseModel(): Promise<{ model: LanguageModelV3; name: string }> {
  if (process.env.OPENAI_API_KEY) {
    const { openai } = await import('@ai-sdk/openai');
    return { model: openai('gpt-4o-mini'), name: 'OpenAI gpt-4o-mini' };
  }
  if (process.env.ANTHROPIC_API_KEY) {
    const { anthropic } = await import('@ai-sdk/anthropic');
    return { model: anthropic('claude-3-5-haiku-latest'), name: 'Anthropic claude-3-5-haiku-latest' };
  }
  const words = 'A toll gate stops each vehicle until it pays its way. Tollgate does the same for AI calls, and says what to do when one cannot pay.'.split(' ');
  const chunks: LanguageModelV3StreamPart[] = [
    { type: 'stream-start', warnings: [] },
    { type: 'response-metadata', id: 'mock-response', modelId: 'gpt-4o-mini' },
    { type: 'text-start', id: 't' },
    ...words.map((word, i): LanguageModelV3StreamPart => ({ type: 'text-delta', id: 't', delta: i === 0 ? word : ` ${word}` })),
    { type: 'text-end', id: 't' },
    {
      type: 'finish', finishReason: { unified: 'stop', raw: 'stop' },
      usage: { inputTokens: { total: 42, noCache: 42, cacheRead: undefined, cacheWrite: undefined }, outputTokens: { total: 31, text: 31, reasoning: undefined } },
    },
  ];
  const mock = new MockLanguageModelV3({
    provider: 'openai.chat', modelId: 'gpt-4o-mini',
    doStream: async () => ({ stream: simulateReadableStream({ chunks, chunkDelayInMs: 15 }) }),
  });
  return { model: mock, name: 'the AI SDK mock model (set OPENAI_API_KEY or ANTHROPIC_API_KEY for a real one)' };
}
