// The chat in the browser, with no build step: it keeps the conversation, posts it with the
// chosen model to {base}/answers, and reads the answer as the AI SDK's UI message stream
// (server-sent events, one JSON part each): text as it streams, then the answer's tokens and
// cost, or the gate's refusal with its remedy. Stop aborts the request; the server then charges
// what was streamed.
const root = document.querySelector('[data-chat]');
const base = root.dataset.base;
const list = root.querySelector('#chat-messages');
const form = root.querySelector('#chat-composer');
const stopButton = root.querySelector('[data-stop]');
/** The conversation as UI messages: what the server reads back on each turn. */
const messages = [];
let running = null;

const el = (tag, className, text) => {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
};

function add(role) {
  root.querySelector('.chat-empty')?.remove();
  const item = el('li', `chat-message ${role}`);
  const text = el('div', 'chat-text');
  const meta = el('div', 'chat-meta');
  item.append(text, meta);
  list.append(item);
  follow(true);
  return { item, text, meta };
}

/** Keeps the newest words in sight above the composer, unless the reader scrolled up to read. */
function follow(always = false) {
  const page = document.documentElement;
  if (always || window.innerHeight + window.scrollY >= page.scrollHeight - 120) window.scrollTo(0, page.scrollHeight);
}

const tokens = (n) => `${n.toLocaleString('en-US')} ${n === 1 ? 'token' : 'tokens'}`;

function showRefusal(view, { item, text, meta }) {
  item.classList.add('refusal');
  text.append(el('strong', null, 'Not answered. '), document.createTextNode(view.message));
  // A limit's reset is said once: as the remedy when waiting is the remedy, else on its own line.
  if (view.resets && view.remedy.href) text.append(el('div', 'chat-resets', `The limit resets at ${view.resets}.`));
  const actions = el('div', 'chat-remedy');
  if (view.remedy.href) {
    const link = el('a', 'button', view.remedy.label);
    link.href = view.remedy.href;
    actions.append(link);
  } else actions.append(el('span', null, view.remedy.label));
  if (view.remedy.href !== view.billingHref) {
    const billing = el('a', null, 'Open billing');
    billing.href = view.billingHref;
    actions.append(billing);
  }
  meta.replaceWith(actions);
}

function showCost(metadata, meta) {
  const parts = [];
  if (metadata.usage) parts.push(`${tokens(metadata.usage.inputTokens)} in · ${tokens(metadata.usage.outputTokens)} out`);
  parts.push(metadata.cost ? `cost ${metadata.cost.shown}` : 'cost not recorded yet');
  meta.textContent = parts.join(' · ');
}

/** The parts of a UI message stream: `data: {json}` events, ending with `data: [DONE]`. */
async function* parts(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      for (const line of event.split('\n')) {
        if (!line.startsWith('data: ')) continue;
        const data = line.slice(6);
        if (data !== '[DONE]') yield JSON.parse(data);
      }
    }
  }
}

async function refreshSummary() {
  const response = await fetch(`${base}/summary`);
  if (response.ok) root.querySelector('#chat-summary').outerHTML = await response.text();
}

async function send(question, model) {
  const user = add('user');
  user.text.textContent = question;
  messages.push({ id: crypto.randomUUID(), role: 'user', parts: [{ type: 'text', text: question }] });
  const view = add('assistant');
  view.item.classList.add('streaming');
  const reply = { id: '', role: 'assistant', parts: [{ type: 'text', text: '' }], metadata: undefined };
  let refused = false;
  running = new AbortController();
  stopButton.hidden = false;
  try {
    const response = await fetch(`${base}/answers`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, signal: running.signal,
      body: JSON.stringify({ model, messages }),
    });
    if (!response.ok || !response.headers.get('content-type')?.startsWith('text/event-stream')) {
      // An error says what to fix; a page instead of a stream is a log-in page: the session ended.
      const { error } = await response.json().catch(() => ({ error: { message: response.redirected ? 'You were logged out: log in again to chat.' : `The chat answered ${response.status}.` } }));
      view.item.classList.add('failed');
      view.text.textContent = error.message;
      messages.pop();
      return;
    }
    for await (const part of parts(response.body)) {
      if (part.type === 'start' && part.messageId) reply.id = part.messageId;
      else if (part.type === 'text-delta') {
        reply.parts[0].text += part.delta;
        view.text.textContent = reply.parts[0].text;
        follow();
      } else if (part.type === 'data-refusal') {
        refused = true;
        showRefusal(part.data, view);
      } else if (part.type === 'error') {
        view.item.classList.add('failed');
        view.meta.textContent = part.errorText;
      }
      if (part.messageMetadata) {
        reply.metadata = part.messageMetadata;
        if (!refused && part.type === 'finish') showCost(reply.metadata, view.meta);
      }
    }
    // A refused turn is not part of the conversation the model sees.
    if (refused) messages.pop();
    else messages.push({ ...reply, id: reply.id || crypto.randomUUID() });
  } catch (error) {
    // Stopped, or the connection lost: either way the server charges what was streamed.
    const stopped = error.name === 'AbortError';
    view.item.classList.add(stopped ? 'stopped' : 'failed');
    view.meta.textContent = stopped ? 'Stopped: charged for what was streamed, the rest freed.' : 'The connection was lost before the answer ended: charged for what was streamed.';
    if (reply.parts[0].text) messages.push({ ...reply, id: reply.id || crypto.randomUUID() });
    else messages.pop();
  } finally {
    view.item.classList.remove('streaming');
    running = null;
    stopButton.hidden = true;
    form.querySelector('button[type=submit]').disabled = false;
    refreshSummary();
  }
}

form?.addEventListener('submit', (event) => {
  event.preventDefault();
  const question = form.message.value.trim();
  if (!question || running) return;
  form.message.value = '';
  form.querySelector('button[type=submit]').disabled = true;
  send(question, form.model.value);
});

form?.message.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey) {
    event.preventDefault();
    form.requestSubmit();
  }
});

stopButton?.addEventListener('click', () => running?.abort());
