/**
 * Natural batching: calls that arrive while a batch is being written wait, and go together
 * in the next one. One call alone goes after a single turn of the event loop, so an idle
 * system pays next to no latency for it; a busy one pays one statement and one commit for
 * many calls.
 */
type Outcome<Out> = { ok: true; value: Out } | { ok: false; error: unknown };

interface Waiting<In, Out> {
  input: In;
  resolve: (value: Out) => void;
  reject: (error: unknown) => void;
}

export class Combiner<In, Out> {
  #waiting: Waiting<In, Out>[] = [];
  #busy = false;

  constructor(
    private readonly runBatch: (inputs: In[]) => Promise<Outcome<Out>[]>,
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
        let outcomes: Outcome<Out>[];
        try {
          outcomes = await this.runBatch(batch.map((w) => w.input));
        } catch (error) {
          outcomes = batch.map(() => ({ ok: false, error }));
        }
        batch.forEach((w, i) => {
          const outcome = outcomes[i]!;
          if (outcome.ok) w.resolve(outcome.value);
          else w.reject(outcome.error);
        });
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
