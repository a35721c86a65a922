/**
 * The app's models: the built-in demo model is a real LanguageModelV3 that the AI SDK streams
 * word by word, answers the same prompt the same way and different prompts differently, and
 * reports usage as a provider does (input from the prompt, output from what it streamed); real
 * providers take its place when their keys are set.
 */
import { generateText, streamText } from 'ai';
import { describe, expect, it } from 'vitest';
import { demoModel } from '../app/models/demo-model.ts';
import { demoAnswer, promptTokens, textTokens } from '../app/models/demo-text.ts';
import { chatModels } from '../app/models/models.ts';

const model = () => demoModel({ modelId: 'gpt-4o-mini', provider: 'openai.chat', wordDelayMs: 1 });

async function streamed(prompt: string, maxOutputTokens?: number) {
  const result = streamText({ model: model(), prompt, ...(maxOutputTokens === undefined ? {} : { maxOutputTokens }) });
  const deltas: string[] = [];
  for await (const delta of result.textStream) deltas.push(delta);
  return { deltas, text: deltas.join(''), usage: await result.usage, finishReason: await result.finishReason, modelId: (await result.response).modelId };
}

describe('the demo model', () => {
  it('streams its answer word by word through streamText, under the model id it plays', async () => {
    const { deltas, text, modelId, finishReason } = await streamed('What does a toll gate do?');
    expect(deltas.length).toBeGreaterThan(20);
    expect(deltas.slice(1).every((d) => d.startsWith(' ') && !d.slice(1).includes(' '))).toBe(true);
    expect(text).toContain('You asked: “What does a toll gate do?”.');
    expect(modelId).toBe('gpt-4o-mini');
    expect(finishReason).toBe('stop');
  });

  it('answers the same prompt the same way, and different prompts differently', async () => {
    const a = await streamed('How are tokens priced?');
    const b = await streamed('How are tokens priced?');
    expect(b.text).toBe(a.text);
    const questions = ['How are tokens priced?', 'Can a team share credit?', 'What happens when I run out?', 'Why micro-dollars?', 'hello', 'Tell me a story'];
    const bodies = new Set(questions.map((q) => demoAnswer([{ role: 'user', content: [{ type: 'text', text: q }] }]).replace(/You asked: “[^”]*”\./, '')));
    expect(bodies.size).toBeGreaterThan(3);
  });

  it('reports input tokens from the prompt and output tokens from what it streamed', async () => {
    const prompt = 'Explain holds in one paragraph, please.';
    const { text, usage } = await streamed(prompt);
    expect(usage.outputTokens).toBe(Math.ceil(Buffer.byteLength(text) / 4));
    expect(usage.outputTokens).toBe(textTokens(text));
    // 3 for the prompt, 4 for the message, and the text at four bytes a token.
    expect(usage.inputTokens).toBe(3 + 4 + Math.ceil(Buffer.byteLength(prompt) / 4));
    expect(usage.inputTokens).toBe(promptTokens([{ role: 'user', content: [{ type: 'text', text: prompt }] }]));
    const longer = await streamed(prompt.repeat(10));
    expect(longer.usage.inputTokens).toBeGreaterThan(usage.inputTokens! * 5);
  });

  it('keeps to maxOutputTokens, and says it stopped for length', async () => {
    const whole = await streamed('Tell me about plans and packs');
    const cut = await streamed('Tell me about plans and packs', 12);
    expect(cut.finishReason).toBe('length');
    expect(cut.usage.outputTokens).toBeLessThanOrEqual(12);
    expect(cut.usage.outputTokens).toBeGreaterThan(6);
    expect(whole.text.startsWith(cut.text)).toBe(true);
  });

  it('answers generateText with the same text and usage as its stream', async () => {
    const result = await generateText({ model: model(), prompt: 'What does a toll gate do?' });
    const stream = await streamed('What does a toll gate do?');
    expect(result.text).toBe(stream.text);
    expect(result.usage.inputTokens).toBe(stream.usage.inputTokens);
    expect(result.usage.outputTokens).toBe(stream.usage.outputTokens);
  });

  it('stops streaming when its call is aborted', async () => {
    const controller = new AbortController();
    const result = streamText({ model: demoModel({ modelId: 'gpt-4o-mini', provider: 'openai.chat', wordDelayMs: 20 }), prompt: 'hi', abortSignal: controller.signal, onError: () => {} });
    const deltas: string[] = [];
    for await (const part of result.fullStream) {
      if (part.type === 'text-delta') deltas.push(part.text);
      if (deltas.length === 3) controller.abort();
    }
    expect(deltas.length).toBeGreaterThanOrEqual(3);
    expect(deltas.length).toBeLessThan(6);
  });
});

describe('the models the chat offers', () => {
  it('are all played by the demo without keys, under ids the price book knows', async () => {
    const models = await chatModels({ env: {} });
    expect(models.map((m) => [m.id, m.demo])).toEqual([['gpt-4o-mini', true], ['gpt-4o', true], ['claude-haiku-4-5', true], ['claude-sonnet-4-5', true]]);
    expect(models.map((m) => m.model.provider)).toEqual(['openai.chat', 'openai.chat', 'anthropic.messages', 'anthropic.messages']);
    expect(models.every((m) => m.label.endsWith('(demo)'))).toBe(true);
  });

  it('use a real provider for each key that is set, and the demo for the others', async () => {
    const models = await chatModels({ env: { OPENAI_API_KEY: 'sk-test-not-used' } });
    const byId = Object.fromEntries(models.map((m) => [m.id, m]));
    expect(byId['gpt-4o']!.demo).toBe(false);
    expect(byId['gpt-4o']!.model.provider).toMatch(/^openai\./);
    expect(byId['gpt-4o']!.model.modelId).toBe('gpt-4o');
    expect(byId['claude-haiku-4-5']!.demo).toBe(true);
    const anthropic = await chatModels({ env: { ANTHROPIC_API_KEY: 'sk-ant-test-not-used' } });
    expect(anthropic.find((m) => m.id === 'claude-haiku-4-5')!.model.provider).toMatch(/^anthropic\./);
  });
});
