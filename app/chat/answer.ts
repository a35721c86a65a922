/**
 * One answer of the chat: the AI SDK's streamText on the chosen model, wrapped by Tollgate, sent
 * as the AI SDK's UI message stream (what its useChat reads too). The answer's last part carries
 * its tokens and what the account was charged, in the display unit; a refusal of the gate is
 * sent as a message of its own (a `data-refusal` part with its reason and remedy), never as a
 * broken stream. The request's abort signal is the call's: a reader that goes away stops the
 * model, and the middleware charges what was streamed and frees the rest of the hold.
 */
import type { LanguageModelV3 } from '@ai-sdk/provider';
import { convertToModelMessages, createUIMessageStream, createUIMessageStreamResponse, streamText, type UIMessage } from 'ai';
import type { Charge } from 'tollgate';
import { refusalOf, wrap, type Meter } from 'tollgate/ai';
import { displayAmount } from '../tollgate/display.ts';
import type { DisplayUnit } from './display.ts';
import { refusalView, type RefusalView } from './refusal.ts';

/** What the chat says of each answer, beside its text. */
export interface AnswerMetadata {
  model: string;
  usage?: { inputTokens: number; outputTokens: number };
  /** What the account was charged for it; absent when the charge could not be written. */
  cost?: { micros: number; shown: string };
}

export type ChatMessage = UIMessage<AnswerMetadata, { refusal: RefusalView }>;

export interface AnswerInput {
  meter: Meter;
  model: { id: string; model: LanguageModelV3 };
  accountId: string;
  userId: string;
  messages: UIMessage[];
  display: DisplayUnit;
  billingHref: string;
  maxOutputTokens: number;
  /** When the request came: a refusal's reset is told from it ("00:00 UTC", or with its day). */
  now: Date;
  abortSignal: AbortSignal;
}

const SYSTEM = 'You are a helpful assistant. Answer clearly and briefly.';

export async function answer(input: AnswerInput): Promise<Response> {
  // The charges of this answer, as the middleware writes them (one per model call).
  const charges: Charge[] = [];
  const meter: Meter = {
    authorize: (accountId, request) => input.meter.authorize(accountId, request),
    release: (holdId) => input.meter.release(holdId),
    settle: async (holdId, usage, options) => {
      const charge = await input.meter.settle(holdId, usage, options);
      charges.push(charge);
      return charge;
    },
  };
  const result = streamText({
    model: wrap(meter, input.model.model, { accountId: input.accountId, userId: input.userId, metadata: { from: 'chat' } }),
    system: SYSTEM,
    messages: await convertToModelMessages(input.messages),
    maxOutputTokens: input.maxOutputTokens,
    abortSignal: input.abortSignal,
    onError: () => {}, // a refusal is answered below; any other failure goes to the stream's error part
  });

  // The gate answers before the model is called: its refusal becomes the answer.
  const refusal = await refusalOf(result);
  if (refusal) {
    const view = refusalView(refusal, input.billingHref, input.now);
    const stream = createUIMessageStream<ChatMessage>({
      execute: ({ writer }) => {
        writer.write({ type: 'start', messageMetadata: { model: input.model.id } });
        writer.write({ type: 'data-refusal', data: view });
        writer.write({ type: 'finish', finishReason: 'other' });
      },
    });
    return createUIMessageStreamResponse({ stream });
  }

  return result.toUIMessageStreamResponse<ChatMessage>({
    messageMetadata: ({ part }): AnswerMetadata | undefined => {
      if (part.type === 'start') return { model: input.model.id };
      if (part.type !== 'finish') return undefined;
      // The middleware wrote the charge before the model's finish went on, so it is here.
      const micros = charges.reduce((sum, charge) => sum + charge.valueMicros, 0);
      return {
        model: input.model.id,
        usage: { inputTokens: part.totalUsage.inputTokens ?? 0, outputTokens: part.totalUsage.outputTokens ?? 0 },
        ...(charges.length > 0 && { cost: { micros, shown: displayAmount(micros, input.display) } }),
      };
    },
    onError: (error) => `The model could not answer: ${error instanceof Error ? error.message : String(error)}`,
  });
}
