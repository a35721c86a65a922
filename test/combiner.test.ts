/** Natural batching, without a database: who goes in which batch, and how answers come back. */
import { describe, expect, it, vi } from 'vitest';
import { Combiner, outcomeOf, type BatchAnswer } from '../src/engine/combiner.ts';

/** A combiner that doubles its inputs, after a pause that stands for a statement, and records each batch. */
function doubling() {
  const batches: number[][] = [];
  const combiner = new Combiner<number, number>(async (inputs) => {
    batches.push(inputs);
    await new Promise((resolve) => setTimeout(resolve, 5));
    return Promise.all(inputs.map((n) => outcomeOf(async () => {
      if (n < 0) throw new Error(`negative: ${n}`);
      return n * 2;
    })));
  });
  return { combiner, batches };
}

describe('natural batching', () => {
  it('calls made in one tick go in one batch, each answered with its own result', async () => {
    const { combiner, batches } = doubling();
    expect(await Promise.all([1, 2, 3, 4, 5].map((n) => combiner.submit(n)))).toEqual([2, 4, 6, 8, 10]);
    expect(batches).toEqual([[1, 2, 3, 4, 5]]);
  });

  it('callers answered by one batch who call again at once go together in the next', async () => {
    const { combiner, batches } = doubling();
    const worker = async (id: number) => {
      for (let round = 0; round < 3; round++) await combiner.submit(id * 10 + round);
    };
    await Promise.all([1, 2, 3, 4].map(worker));
    expect(batches.map((b) => b.length)).toEqual([4, 4, 4]);
  });

  it('callers who come back a few turns after their answers, as over a network, still go together', async () => {
    const batches: number[] = [];
    // Bounds no run reaches: what goes together is decided by who calls, not by how fast the machine is.
    const combiner = new Combiner<number, number>(async (inputs) => {
      batches.push(inputs.length);
      await new Promise((resolve) => setTimeout(resolve, 5));
      return inputs.map((n) => ({ ok: true, value: n }));
    }, 100, { ms: 60_000, busyWithinMs: 60_000 });
    const turns = (n: number) => Array.from({ length: n }).reduce<Promise<unknown>>((p) => p.then(() => new Promise((resolve) => setImmediate(resolve))), Promise.resolve());
    const worker = async (id: number) => {
      for (let round = 0; round < 4; round++) {
        await combiner.submit(id * 10 + round);
        await turns(id); // each caller back after its own number of event loop turns
      }
    };
    await Promise.all([1, 2, 3, 4].map(worker));
    expect(batches).toEqual([4, 4, 4, 4]);
  });

  it('a lone caller never waits to be joined', async () => {
    const combiner = new Combiner<number, number>(async (inputs) => inputs.map((n) => ({ ok: true, value: n })), 100, { ms: 60_000, busyWithinMs: 60_000 });
    for (let round = 0; round < 5; round++) expect(await combiner.submit(round)).toBe(round); // a wait would outlast the test's timeout
  });

  it('calls that arrive while a batch is written wait for the next one', async () => {
    const { combiner, batches } = doubling();
    const first = combiner.submit(1);
    await new Promise((resolve) => setTimeout(resolve, 1)); // the first batch is being written
    const later = [combiner.submit(2), combiner.submit(3)];
    expect(await Promise.all([first, ...later])).toEqual([2, 4, 6]);
    expect(batches).toEqual([[1], [2, 3]]);
  });

  it("one call's failure is its own; a batch that throws fails only its calls", async () => {
    const { combiner } = doubling();
    const results = await Promise.allSettled([combiner.submit(1), combiner.submit(-1), combiner.submit(2)]);
    expect(results).toEqual([
      { status: 'fulfilled', value: 2 },
      { status: 'rejected', reason: new Error('negative: -1') },
      { status: 'fulfilled', value: 4 },
    ]);
    let batches = 0;
    const failing = new Combiner<number, number>(async (inputs) => {
      if (++batches === 1) throw new Error('statement failed');
      return inputs.map(() => ({ ok: true, value: 0 }));
    });
    const first = await Promise.allSettled([failing.submit(1), failing.submit(2)]);
    expect(first).toEqual([{ status: 'rejected', reason: new Error('statement failed') }, { status: 'rejected', reason: new Error('statement failed') }]);
    expect(await Promise.all([failing.submit(3), failing.submit(4)])).toEqual([0, 0]); // the next batch runs
  });

  it('a call the batch hands on to be done alone does not hold up the next batch', async () => {
    const answered: string[] = [];
    let releaseSlow: () => void = () => {};
    const combiner = new Combiner<string, string>(async (inputs) =>
      inputs.map((input): BatchAnswer<string> =>
        input === 'slow' ? new Promise((resolve) => (releaseSlow = () => resolve({ ok: true, value: input }))) : { ok: true, value: input },
      ),
    );
    const note = (p: Promise<string>) => p.then((value) => answered.push(value));
    const slow = note(combiner.submit('slow'));
    await note(combiner.submit('fast'));
    await note(combiner.submit('next batch'));
    expect(answered).toEqual(['fast', 'next batch']);
    releaseSlow();
    await slow;
    expect(answered).toEqual(['fast', 'next batch', 'slow']);
  });

  it('batches under fake timers, as an application testing its own code may install them', async () => {
    vi.useFakeTimers();
    try {
      const combiner = new Combiner<number, number>(async (inputs) => inputs.map((n) => ({ ok: true, value: n + 1 })));
      expect(await Promise.all([combiner.submit(1), combiner.submit(2)])).toEqual([2, 3]);
    } finally {
      vi.useRealTimers();
    }
  });
});
