/**
 * What the demo model says, and what its answers cost in tokens. The same prompt always gets
 * the same answer (tests and screenshots are repeatable); different prompts get different ones,
 * picked from a few openings, middles and endings by a hash of the question, which the answer
 * quotes so it reads as a reply.
 */
import type { LanguageModelV3Prompt } from '@ai-sdk/provider';

const OPENINGS = [
  'Good question.',
  'Here is the short version.',
  'Happy to help with that.',
  'Let me walk through it.',
  'There are a few parts to this.',
];

const MIDDLES = [
  'A toll gate lets each car through once it has paid, and Tollgate does the same for every AI call: it holds the worst case before the model starts, then charges what the model really used.',
  'Every answer is priced from the price book by model and token type, so a long answer from a large model costs more than a short one from a small model.',
  'When an account runs out, the gate says no before a single token is spent, and says what to do: buy a pack, upgrade the plan, or wait until the limit resets.',
  'A team shares one pool of credit, and its owner can cap what each member may use of it, so one busy member cannot drain the pool for everyone else.',
  'Stopping an answer half way is fine: the account pays for the words that were streamed, and the rest of what was held goes back at once.',
  'Usage is counted in micro-dollars, so even a call that costs a fraction of a cent is charged exactly, never rounded away.',
  'Plans, daily and monthly limits, credit packs and a free tier can be mixed, and the admin can switch between pricing modes without stranding anyone\'s credit.',
];

const ENDINGS = [
  'This answer comes from the built-in demo model, which needs no key and no network.',
  'Set OPENAI_API_KEY or ANTHROPIC_API_KEY to talk to a real model instead of this demo.',
  'Ask me something else and I will answer differently.',
  'The tokens and cost below this answer are what your account was charged for it.',
];

/** The demo's answer to a prompt: its last user message, quoted, then three to four sentences chosen by its hash. */
export function demoAnswer(prompt: LanguageModelV3Prompt): string {
  const question = lastUserText(prompt).replace(/\s+/g, ' ').trim();
  const hash = fnv1a(question);
  const pick = <T>(list: readonly T[], salt: number): T => list[(hash >>> salt) % list.length]!;
  const first = pick(MIDDLES, 3);
  const second = MIDDLES[(MIDDLES.indexOf(first) + 1 + ((hash >>> 11) % (MIDDLES.length - 1))) % MIDDLES.length]!;
  const quoted = question.length > 60 ? `${question.slice(0, 57).trimEnd()}…` : question;
  const about = quoted ? ` You asked: “${quoted}”.` : '';
  return [`${pick(OPENINGS, 0)}${about}`, first, ...(hash % 3 === 0 ? [] : [second]), pick(ENDINGS, 7)].join(' ');
}

/**
 * Tokens as a provider's tokenizer counts English prose, about four bytes a token, rounded up:
 * the demo reports usage of realistic size. (The gate's hold estimates more generously, two
 * bytes a token, so that it covers what a real model reports.)
 */
export const BYTES_PER_TOKEN = 4;
export const textTokens = (text: string): number => Math.ceil(Buffer.byteLength(text, 'utf8') / BYTES_PER_TOKEN);

/** The prompt's input tokens: each message's text, plus a few tokens for its role and separators, as chat models count. */
export function promptTokens(prompt: LanguageModelV3Prompt): number {
  const MESSAGE_TOKENS = 4;
  return prompt.reduce((sum, message) => sum + MESSAGE_TOKENS + textTokens(messageText(message)), 3);
}

type Message = LanguageModelV3Prompt[number];

function messageText(message: Message): string {
  if (typeof message.content === 'string') return message.content;
  return message.content.map((part) => ('text' in part && typeof part.text === 'string' ? part.text : '')).join('');
}

function lastUserText(prompt: LanguageModelV3Prompt): string {
  const last = [...prompt].reverse().find((message) => message.role === 'user');
  return last ? messageText(last) : '';
}

/** A 32-bit FNV-1a hash: small, stable across runs and platforms. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(text, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}
