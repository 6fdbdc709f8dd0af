/**
 * Whether the outbox poller holds back at a busy moment: during the first `holdMs` of a rush, where
 * a rush is busy moments at most `gapMs` apart. So a sale's burst gets the machine whole, a rush
 * that lasts is held back once (then the poller sends at its under-load concurrency), and busy
 * flickering off and on does not start the hold again.
 */
export function rushHold(holdMs: number, gapMs: number): (busyAt: number) => boolean {
  let rushStartedAt = Number.NEGATIVE_INFINITY;
  let lastBusyAt = Number.NEGATIVE_INFINITY;
  return (busyAt) => {
    if (busyAt - lastBusyAt > gapMs) rushStartedAt = busyAt;
    lastBusyAt = busyAt;
    return busyAt - rushStartedAt < holdMs;
  };
}
