/**
 * How many tokens a prompt will cost, before the call: the size of the hold the gate places.
 * A documented conservative ratio, not a tokenizer (docs/design.md, "The token estimate"):
 *
 *   - text counts one token per BYTES_PER_TOKEN bytes of UTF-8, rounded up. Measured with
 *     OpenAI's o200k and cl100k encodings, prose and code run 3–4.6 bytes a token in English,
 *     Russian, Japanese and Hindi, JSON 2.2; only random data (hex 1.8, base64 1.4) and emoji
 *     (1.4 on cl100k) are denser. Claude's and Gemini's tokenizers, which are not published,
 *     are said to count some 20% more than o200k. So two bytes a token holds more than the
 *     call uses for everything but random data, and about twice an English prompt's count;
 *   - each message adds MESSAGE_TOKENS (its role and separators), the prompt PROMPT_TOKENS;
 *   - tools count their names, descriptions and JSON schemas as text, plus TOOLS_TOKENS once,
 *     for the instructions a provider adds when tools are offered (Anthropic documents up to
 *     346 tokens);
 *   - an image counts IMAGE_TOKENS (a 1.15-megapixel image, the largest Anthropic bills
 *     without resizing, is about 1,600 tokens; OpenAI's high detail is at most 1,105 for a
 *     2048×768 image); any other file whose contents the estimate cannot read (a PDF, audio, a
 *     URL) counts FILE_TOKENS, a floor: its hold may fall short of what the provider bills, and
 *     the settle charges what it reports.
 *
 * A real tokenizer was measured and left out: gpt-tokenizer (pure JS, o200k) takes ~1 s and
 * ~60 MB to load and 3–6 µs a token on real prose, 30–80 ms for a 10k-token prompt on every
 * call, to be exact for one family of models only; the hold does not need exactness. A hold
 * larger than the call frees the rest at the settle; one smaller records what the buckets
 * cannot cover as debt, which the gate then refuses until paid.
 */
import type { LanguageModelV3CallOptions, LanguageModelV3FilePart, LanguageModelV3Message, LanguageModelV3ToolResultOutput } from '@ai-sdk/provider';

export const BYTES_PER_TOKEN = 2;
export const MESSAGE_TOKENS = 4;
export const PROMPT_TOKENS = 3;
export const TOOLS_TOKENS = 400;
export const IMAGE_TOKENS = 1_600;
export const FILE_TOKENS = 1_600;

/** Tokens of a text by the ratio: its UTF-8 bytes over BYTES_PER_TOKEN, rounded up. */
export function textTokens(text: string): number {
  return bytesToTokens(utf8Length(text));
}

export const bytesToTokens = (bytes: number): number => Math.ceil(bytes / BYTES_PER_TOKEN);

/** UTF-8 length without encoding the string: a prompt may be megabytes. */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      bytes += 4; // a surrogate pair: one code point of four bytes
      i++;
    } else bytes += 3;
  }
  return bytes;
}

const jsonTokens = (value: unknown): number => (value === undefined ? 0 : textTokens(JSON.stringify(value) ?? ''));

/** The input tokens of a call's prompt, tools and response format, by the ratio. */
export function promptTokens(params: Pick<LanguageModelV3CallOptions, 'prompt' | 'tools' | 'responseFormat'>): number {
  let tokens = PROMPT_TOKENS;
  for (const message of params.prompt) tokens += MESSAGE_TOKENS + messageTokens(message);
  if (params.tools && params.tools.length > 0) {
    tokens += TOOLS_TOKENS;
    for (const tool of params.tools) {
      tokens += textTokens(tool.name) + (tool.type === 'function' ? textTokens(tool.description ?? '') + jsonTokens(tool.inputSchema) : jsonTokens(tool.args));
    }
  }
  if (params.responseFormat?.type === 'json') tokens += jsonTokens(params.responseFormat.schema) + textTokens(params.responseFormat.description ?? '');
  return tokens;
}

function messageTokens(message: LanguageModelV3Message): number {
  if (message.role === 'system') return textTokens(message.content);
  let tokens = 0;
  for (const part of message.content) {
    switch (part.type) {
      case 'text':
      case 'reasoning':
        tokens += textTokens(part.text);
        break;
      case 'file':
        tokens += fileTokens(part);
        break;
      case 'tool-call':
        tokens += textTokens(part.toolName) + jsonTokens(part.input);
        break;
      case 'tool-result':
        tokens += textTokens(part.toolName) + outputTokens(part.output);
        break;
      case 'tool-approval-response':
        tokens += textTokens(part.reason ?? '') + 8;
        break;
    }
  }
  return tokens;
}

function fileTokens(part: Pick<LanguageModelV3FilePart, 'data' | 'mediaType'>): number {
  if (part.mediaType.startsWith('image/')) return IMAGE_TOKENS;
  if (isText(part.mediaType) && !(part.data instanceof URL)) {
    // Text the estimate can read: bytes as given, or base64 (four characters for three bytes).
    const bytes = part.data instanceof Uint8Array ? part.data.length : Math.ceil((part.data.length * 3) / 4);
    return bytesToTokens(bytes);
  }
  return FILE_TOKENS;
}

const isText = (mediaType: string) => mediaType.startsWith('text/') || /^application\/(json|xml|x-yaml|yaml|javascript|csv)\b/.test(mediaType);

function outputTokens(output: LanguageModelV3ToolResultOutput): number {
  switch (output.type) {
    case 'text':
    case 'error-text':
      return textTokens(output.value);
    case 'json':
    case 'error-json':
      return jsonTokens(output.value);
    case 'execution-denied':
      return textTokens(output.reason ?? '');
    case 'content':
      return output.value.reduce((sum, item) => {
        if (item.type === 'text') return sum + textTokens(item.text);
        if (item.type === 'image-data' || item.type === 'image-url' || item.type === 'image-file-id') return sum + IMAGE_TOKENS;
        if (item.type === 'file-data') return sum + fileTokens({ data: item.data, mediaType: item.mediaType });
        return sum + FILE_TOKENS;
      }, 0);
  }
}
