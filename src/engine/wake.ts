/**
 * A wake-up that can be awaited again and again: work that ended (a call, a poll, a batch job)
 * says so, and whoever sleeps on `next()` looks again. Nothing is passed: what ended is read then.
 */
export class Wake {
  private resolve: (() => void) | undefined;
  private signal: Promise<void>;

  constructor() {
    this.signal = this.arm();
  }

  private arm(): Promise<void> {
    return new Promise((resolve) => {
      this.resolve = resolve;
    });
  }

  /** Resolves at the next `notify()`. */
  next(): Promise<void> {
    return this.signal;
  }

  notify(): void {
    const resolve = this.resolve;
    this.signal = this.arm();
    resolve?.();
  }
}

/** Sleeps `ms`, or less when one of `woken` resolves first. */
export async function sleepOrWake(ms: number, woken: Promise<void>[]): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([...woken, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}
