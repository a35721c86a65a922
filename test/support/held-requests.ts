/**
 * A fake vendor's requests held on their way in, as a processor slow to answer holds them: the
 * next request to a path waits, before the vendor does anything, until the test releases it. The
 * test learns when it arrived, so it can act while the caller waits, with no timing.
 */
export interface HeldRequest {
  /** Resolves once the request arrived and is waiting. */
  readonly reached: Promise<void>;
  /** Lets it through: the vendor then answers it as usual. */
  release(): void;
}

const ANSWERED = 'answered:';

export class HeldRequests {
  private readonly waiting = new Map<string, { arrived(): void; released: Promise<void> }>();

  /**
   * Hold the next request to `path` (a fake names its paths as its failNext does); `answered`:
   * hold its answer instead, after the vendor did what it asks (and sent its events).
   */
  next(path: string, { answered = false } = {}): HeldRequest {
    let arrived!: () => void;
    let release!: () => void;
    const reached = new Promise<void>((resolve) => (arrived = resolve));
    const released = new Promise<void>((resolve) => (release = resolve));
    this.waiting.set(answered ? ANSWERED + path : path, { arrived, released });
    return { reached, release };
  }

  /** Waits, if the first of `paths` held has a request held: that request is let through after. */
  async pass(...paths: string[]): Promise<void> {
    await this.wait(paths);
  }

  /** Waits, if the first of `paths` held has its answer held: that answer is sent after. */
  async passAnswer(...paths: string[]): Promise<void> {
    await this.wait(paths.map((p) => ANSWERED + p));
  }

  private async wait(paths: string[]): Promise<void> {
    const path = paths.find((p) => this.waiting.has(p));
    if (path === undefined) return;
    const held = this.waiting.get(path)!;
    this.waiting.delete(path);
    held.arrived();
    await held.released;
  }
}
