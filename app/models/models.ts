/**
 * The models the chat offers. Each provider whose key is set (OPENAI_API_KEY,
 * ANTHROPIC_API_KEY) is the real one; a provider without a key is played by the built-in demo
 * model under the same ids, so the whole app works with no keys and no network, and is priced
 * the same. Which of these an account may use is its plan's business (the chat filters them).
 */
import type { LanguageModelV3 } from '@ai-sdk/provider';
import { demoModel } from './demo-model.ts';

export interface ChatModel {
  /** The model id, as the price book and a plan's model list name it. */
  id: string;
  label: string;
  /** True when the demo model plays it. */
  demo: boolean;
  model: LanguageModelV3;
}

/** The ids offered, cheapest of each provider first: the Free plans of the presets allow the small ones. */
const OFFERED = [
  { id: 'gpt-4o-mini', label: 'GPT-4o mini', provider: 'openai' },
  { id: 'gpt-4o', label: 'GPT-4o', provider: 'openai' },
  { id: 'claude-haiku-4-5', label: 'Claude Haiku 4.5', provider: 'anthropic' },
  { id: 'claude-sonnet-4-5', label: 'Claude Sonnet 4.5', provider: 'anthropic' },
] as const;

type Provider = (typeof OFFERED)[number]['provider'];

export interface ChatModelOptions {
  env?: Record<string, string | undefined>;
  /** The demo's pause before each word (tests make it short or long, or change it as a stream goes). */
  wordDelayMs?: number | (() => number);
}

export async function chatModels({ env = process.env, wordDelayMs }: ChatModelOptions = {}): Promise<ChatModel[]> {
  const real: Partial<Record<Provider, (id: string) => LanguageModelV3>> = {};
  if (env.OPENAI_API_KEY) {
    const { createOpenAI } = await import('@ai-sdk/openai');
    real.openai = createOpenAI({ apiKey: env.OPENAI_API_KEY });
  }
  if (env.ANTHROPIC_API_KEY) {
    const { createAnthropic } = await import('@ai-sdk/anthropic');
    real.anthropic = createAnthropic({ apiKey: env.ANTHROPIC_API_KEY });
  }
  return OFFERED.map(({ id, label, provider }) => {
    const make = real[provider];
    if (make) return { id, label, demo: false, model: make(id) };
    // The demo names its provider as the AI SDK's do, so the price book finds the same price.
    const name = provider === 'openai' ? 'openai.chat' : 'anthropic.messages';
    return { id, label: `${label} (demo)`, demo: true, model: demoModel({ modelId: id, provider: name, ...(wordDelayMs === undefined ? {} : { wordDelayMs }) }) };
  });
}
