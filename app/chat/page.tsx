/**
 * The chat page, rendered on the server: the account's plan and what it has left, the
 * conversation, and the composer with the plan's models. chat.js (no build step) sends each
 * message and reads the answer as it streams.
 */
import type { Child } from 'hono/jsx';
import type { ChatModel } from '../models/models.ts';
import type { Picker } from './picker.ts';

export interface Summary {
  accountName: string;
  planName: string;
  available: string;
  /** The account's limits and the user's own caps, as "Today: 4.2 of 10 credits". */
  limits: string[];
  billingHref: string;
}

/** The line above the chat: refreshed after each answer (GET {base}/summary). */
export function SummaryLine({ accountName, planName, available, limits, billingHref }: Summary) {
  return (
    <div class="chat-summary" id="chat-summary">
      <span><strong>{accountName}</strong> · {planName} plan</span>
      <span class="chat-available">Available: <strong data-available>{available}</strong></span>
      <a href={billingHref}>Billing</a>
      {limits.length > 0 && <span class="chat-limits">{limits.join(' · ')}</span>}
    </div>
  );
}

const names = (models: readonly ChatModel[]) => models.map((m) => m.label).join(', ');

export function ChatPage({ base, summary, picker }: { base: string; summary: Summary; picker: Picker }): Child {
  return (
    <section class="chat" data-chat data-base={base}>
      <link rel="stylesheet" href={`${base}/chat.css`} />
      <SummaryLine {...summary} />
      <ol class="chat-messages" id="chat-messages" aria-live="polite">
        <li class="chat-empty">Ask anything. Each answer shows its tokens and what it cost your account.</li>
      </ol>
      {picker.offered.length === 0 ? (
        <p class="chat-note">
          Your plan allows none of this app's models. <a href={summary.billingHref}>Change your plan</a> to chat.
        </p>
      ) : (
        <form class="chat-composer" id="chat-composer">
          <textarea name="message" rows={2} required placeholder="Ask something…" aria-label="Message" />
          <div class="chat-actions">
            <select name="model" aria-label="Model">
              {picker.offered.map((m) => <option value={m.id}>{m.label}</option>)}
            </select>
            <button type="submit">Send</button>
            <button type="button" class="secondary" data-stop hidden>Stop</button>
          </div>
        </form>
      )}
      {picker.others.length > 0 && (
        <p class="chat-note" id="chat-other-models">
          Not on your plan: {names(picker.others)}. <a href={summary.billingHref}>Upgrade</a> to use them.
        </p>
      )}
      <script type="module" src={`${base}/chat.js`} />
    </section>
  );
}
