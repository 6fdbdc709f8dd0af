/** An outage is logged as one event: once when it starts, once when it is over. */
import { expect, test } from "bun:test";
import { createOutageLog, type Logger } from "../../modules/kernel/index.ts";

test("a pool whose connections fail one by one around a reconnect logs one warning and one recovery", async () => {
  const lines: string[] = [];
  const logger = { warn: (_: unknown, message: string) => lines.push(`warn ${message}`), info: (_: unknown, message: string) => lines.push(`info ${message}`) };
  const outage = createOutageLog(logger as unknown as Logger, "database", 30_000, 30);
  for (let i = 0; i < 5; i++) outage.lost(new Error("terminating connection due to administrator command"));
  outage.connected(); // the first new connection...
  outage.lost(new Error("Connection terminated unexpectedly")); // ...while the others still die
  outage.connected();
  expect(outage.isDown()).toBe(true);
  await Bun.sleep(60);
  expect(outage.isDown()).toBe(false);
  expect(lines).toEqual([
    "warn database: connection lost or refused; requests that need it answer SERVICE_UNAVAILABLE until it is back",
    "info database: connected again",
  ]);
});
