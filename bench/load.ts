/**
 * A closed-loop load generator: N workers each run one operation after another until the
 * time is up. The first seconds are a warm-up whose latencies are not kept; refusals and
 * errors count from the very first call, since a benchmark should see none at all.
 */
import { performance } from 'node:perf_hooks';

/** Runs one step of an operation ('authorize', 'settle', …) and keeps its latency. */
export type Step = <T>(name: string, work: () => Promise<T>) => Promise<T>;
/** One operation; resolves false when the gate refused it. */
export type Operation = (step: Step) => Promise<boolean>;

export interface Percentiles {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

export interface LoadResult {
  seconds: number;
  ops: number;
  opsPerSecond: number;
  refused: number;
  errors: number;
  firstError?: string;
  /** Milliseconds, per step and for the whole operation ('op'). */
  latency: Record<string, Percentiles>;
}

export interface LoadOptions {
  workers: number;
  seconds: number;
  warmupSeconds: number;
  /** Paced: start at most this many operations per second in all (open loop); default as fast as they go. */
  ratePerSecond?: number;
}

const MAX_ERRORS = 100;

/** Nearest-rank percentiles of latency samples in milliseconds. */
export function percentiles(samples: readonly number[]): Percentiles {
  const sorted = Float64Array.from(samples).sort();
  const at = (q: number) => (sorted.length ? sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]! : NaN);
  return { count: sorted.length, p50: at(0.5), p99: at(0.99), max: at(1) };
}

export async function runLoad(operation: Operation, { workers, seconds, warmupSeconds, ratePerSecond }: LoadOptions): Promise<LoadResult> {
  const samples: Record<string, number[]> = { op: [] };
  let ops = 0;
  let refused = 0;
  let errors = 0;
  let firstError: string | undefined;
  const measureFrom = performance.now() + warmupSeconds * 1000;
  let stopAt = measureFrom + seconds * 1000;

  // Paced runs give each worker its own schedule, so a slow call does not delay the next start.
  const intervalMs = ratePerSecond ? (1000 * workers) / ratePerSecond : 0;
  async function worker(index: number): Promise<void> {
    let nextStart = performance.now() + (intervalMs * index) / workers;
    while (performance.now() < stopAt) {
      if (intervalMs) {
        const wait = nextStart - performance.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        nextStart += intervalMs;
      }
      const began = performance.now();
      const steps: [string, number][] = [];
      const step: Step = async (name, work) => {
        const start = performance.now();
        const result = await work();
        steps.push([name, performance.now() - start]);
        return result;
      };
      try {
        if (!(await operation(step))) refused++;
        else if (began >= measureFrom) {
          ops++;
          for (const [name, ms] of steps) (samples[name] ??= []).push(ms);
          samples.op!.push(performance.now() - began);
        }
      } catch (error) {
        firstError ??= error instanceof Error ? error.message : String(error);
        if (++errors >= MAX_ERRORS) stopAt = 0;
      }
    }
  }

  await Promise.all(Array.from({ length: workers }, (_, i) => worker(i)));
  const elapsed = Math.max(0, performance.now() - measureFrom) / 1000;
  const latency = Object.fromEntries(Object.entries(samples).map(([name, list]) => [name, percentiles(list)]));
  return { seconds: elapsed, ops, opsPerSecond: elapsed > 0 ? ops / elapsed : 0, refused, errors, firstError, latency };
}
