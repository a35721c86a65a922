/**
 * Natural batching: calls that arrive while a batch is being written wait, and go together
 * in the next one. One call alone goes after a single turn of the event loop, so an idle
 * system pays next to no latency for it; a busy one pays one statement and one commit for
 * many calls.
 */
// Node's own, not the global that test fake timers replace: a batch must not wait on a fake clock.
import { setImmediate } from 'node:timers';

type Outcome<Out> = { ok: true; value: Out } | { ok: false; error: unknown };

interface Waiting<In, Out> {
  input: In;
  resolve: (value: Out) => void;
  reject: (error: unknown) => void;
}

/**
 * A batch's answer for each of its calls: an outcome, or a promise of one for a call the batch
 * handed on to be done alone. The next batch does not wait for those: one call waiting on a
 * lock must not hold up the calls of every other account.
 */
export type BatchAnswer<Out> = Outcome<Out> | Promise<Outcome<Out>>;

export class Combiner<In, Out> {
  #waiting: Waiting<In, Out>[] = [];
  #busy = false;

  constructor(
    private readonly runBatch: (inputs: In[]) => Promise<BatchAnswer<Out>[]>,
    private readonly maxBatch = 100,
  ) {}

  submit(input: In): Promise<Out> {
    return new Promise<Out>((resolve, reject) => {
      this.#waiting.push({ input, resolve, reject });
      if (!this.#busy) void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#busy = true;
    try {
      while (this.#waiting.length > 0) {
        // One turn of the event loop first: callers just answered, and calls made in the same
        // tick, get to submit theirs and go in this batch instead of waiting out the next.
        await new Promise((resolve) => setImmediate(resolve));
        const batch = this.#waiting.splice(0, this.maxBatch);
        let answers: BatchAnswer<Out>[];
        try {
          answers = await this.runBatch(batch.map((w) => w.input));
        } catch (error) {
          answers = batch.map(() => ({ ok: false, error }));
        }
        batch.forEach((w, i) => void Promise.resolve(answers[i]!).then((outcome) => (outcome.ok ? w.resolve(outcome.value) : w.reject(outcome.error))));
      }
    } finally {
      this.#busy = false;
    }
  }
}

export async function outcomeOf<T>(work: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await work() };
  } catch (error) {
    return { ok: false, error };
  }
}
