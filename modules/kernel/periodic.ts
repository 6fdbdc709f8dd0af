/**
 * A background pass run in this process every `intervalMs` (recoveries, sweeps, roll-ups), one pass at
 * a time: a tick that finds the previous pass still running skips, so a slow database never piles
 * passes up. A failed pass is reported to `onError` and the next tick tries again. Several instances
 * may each run theirs: the passes themselves are safe to run concurrently (SKIP LOCKED, conditional updates).
 */
export interface PeriodicTask {
  start(): void;
  /** Stops the ticks and waits for a pass under way. */
  stop(): Promise<void>;
}

export function periodicTask(intervalMs: number, pass: () => Promise<unknown>, onError: (error: unknown) => void): PeriodicTask {
  let timer: ReturnType<typeof setInterval> | null = null;
  let running: Promise<void> | null = null;
  return {
    start() {
      if (timer || intervalMs <= 0) return;
      timer = setInterval(() => {
        if (running) return;
        running = pass()
          .then(() => {}, onError)
          .finally(() => {
            running = null;
          });
      }, intervalMs);
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = null;
      await running;
    },
  };
}
