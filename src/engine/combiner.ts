/**
 * Natural batching: calls that arrive while a batch is being written wait, and go together
 * in the next one. One call alone goes after a single turn of the event loop, so an idle
 * system pays next to no latency for it; a busy one pays one statement and one commit for
 * many calls.
 *
 * Callers over a network do not come back in one tick: each answer crosses to a client and its
 * next call back, and the first to return went alone while the others waited out its statement.
 * Eight HTTP connections to the server made batches of 2.8 calls on average, a third of them of
 * one (0.7 statements an authorize+settle pair, against 0.25 for eight callers in the process).
 * So a busy combiner, whose last batch of n calls was answered a moment ago, waits for n calls
 * before the next statement, a millisecond at most: its batches hold together. A lone caller's
 * last batch was of one, so it never waits; nor does a call after a quiet spell.
 */
// Node's own, not the global that test fake timers replace: a batch must not wait on a fake clock.
import { performance } from 'node:perf_hooks';
import { clearTimeout, setImmediate, setTimeout } from 'node:timers';

export interface Gathering {
  /** The longest a busy combiner waits for as many calls as its last batch had. */
  ms: number;
  /** A last batch answered longer ago than this says nothing of who is about to call. */
  busyWithinMs: number;
}
const GATHERING: Gathering = { ms: 1, busyWithinMs: 5 };

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
  /** The last batch's size and when it was answered. */
  #last = { size: 0, at: 0 };
  /** Ends the wait for a busy batch's calls, while there is one. */
  #gathered: (() => void) | undefined;

  constructor(
    private readonly runBatch: (inputs: In[]) => Promise<BatchAnswer<Out>[]>,
    private readonly maxBatch = 100,
    private readonly gathering = GATHERING,
  ) {}

  submit(input: In): Promise<Out> {
    return new Promise<Out>((resolve, reject) => {
      this.#waiting.push({ input, resolve, reject });
      if (!this.#busy) void this.#drain();
      else if (this.#waiting.length >= this.#last.size) this.#gathered?.();
    });
  }

  async #drain(): Promise<void> {
    this.#busy = true;
    try {
      while (this.#waiting.length > 0) {
        // One turn of the event loop first: callers just answered, and calls made in the same
        // tick, get to submit theirs and go in this batch instead of waiting out the next.
        await new Promise((resolve) => setImmediate(resolve));
        if (this.#waiting.length < this.#last.size && performance.now() - this.#last.at < this.gathering.busyWithinMs) await this.#gather();
        const batch = this.#waiting.splice(0, this.maxBatch);
        let answers: BatchAnswer<Out>[];
        try {
          answers = await this.runBatch(batch.map((w) => w.input));
        } catch (error) {
          answers = batch.map(() => ({ ok: false, error }));
        }
        this.#last = { size: batch.length, at: performance.now() };
        batch.forEach((w, i) => void Promise.resolve(answers[i]!).then((outcome) => (outcome.ok ? w.resolve(outcome.value) : w.reject(outcome.error))));
      }
    } finally {
      this.#busy = false;
    }
  }

  /** Until as many calls wait as the last batch had, or `gathering.ms`. */
  #gather(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#gathered = undefined;
        resolve();
      };
      const timer = setTimeout(done, this.gathering.ms);
      this.#gathered = done;
    });
  }
}

export async function outcomeOf<T>(work: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await work() };
  } catch (error) {
    return { ok: false, error };
  }
}
