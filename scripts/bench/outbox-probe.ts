/**
 * The outbox's own cost, without the handlers': N pending events over 4 destinations, one poller
 * whose handlers only wait LATENCY ms, until nothing is pending; prints events/s and the CPU of
 * the scratch database's backends per event. ANALYZE=0 leaves the table without statistics (the
 * state in which the claim used to read every pending row). docs/speed/outbox.md has the numbers.
 *
 *   bun scripts/bench/outbox-probe.ts                 N=8000 LATENCY=20 CONCURRENCY=32 BATCH=50 ANALYZE=1
 */
import { sql } from "kysely";
import { z } from "zod";
import { inTransaction } from "../../db/index.ts";
import { createLogger, systemClock } from "../../modules/kernel/index.ts";
import { createEventPublisher, createOutboxPoller, defineEvent, subscribe } from "../../modules/outbox/index.ts";
import { processCpu } from "./proc.ts";
import { createScratchDatabase } from "./services.ts";

const events = Number(process.env.N ?? 8000);
const latencyMs = Number(process.env.LATENCY ?? 20);
const destinations = ["a", "b", "c", "d"];
const probed = defineEvent("probe.paid", "order", z.strictObject({ orderId: z.number().int() }));
const publisher = createEventPublisher(destinations.map((destination) => subscribe(destination, [probed])));

const scratch = await createScratchDatabase("probe");
const db = scratch.handle.db;
const orders = events / destinations.length;
for (let start = 0; start < orders; start += 500) {
  const ids = Array.from({ length: Math.min(500, orders - start) }, (_, i) => start + i + 1);
  await inTransaction(db, (trx) =>
    publisher.publish(
      trx,
      new Date(),
      ids.map((orderId) => probed.event(orderId, { orderId })),
    ),
  );
}
if (process.env.ANALYZE !== "0") await sql`ANALYZE outbox_events`.execute(db);

async function backendSeconds(): Promise<number> {
  const rows = await sql<{ pid: number }>`SELECT pid FROM pg_stat_activity WHERE datname = current_database()`.execute(db);
  let seconds = 0;
  for (const { pid } of rows.rows) {
    const cpu = processCpu(pid);
    if (cpu) seconds += cpu.user + cpu.sys;
  }
  return seconds;
}

const wait = () => Bun.sleep(latencyMs);
const poller = createOutboxPoller({
  db,
  clock: systemClock,
  logger: createLogger("silent"),
  handlers: Object.fromEntries(destinations.map((d) => [d, wait])),
  config: { concurrency: Number(process.env.CONCURRENCY ?? 32), batchSize: Number(process.env.BATCH ?? 50) },
});
const pgBefore = await backendSeconds();
const started = performance.now();
poller.start();
for (;;) {
  await Bun.sleep(100);
  const left = await sql<{ n: number }>`SELECT count(*)::int AS n FROM outbox_events WHERE status = 'pending'`.execute(db);
  if (left.rows[0]?.n === 0) break;
}
const seconds = (performance.now() - started) / 1000;
const pgSeconds = (await backendSeconds()) - pgBefore;
await poller.stop();
console.log(
  `${events} events in ${seconds.toFixed(1)} s: ${Math.round(events / seconds)} events/s; PostgreSQL ${Math.round((pgSeconds * 1e6) / events)} µs per event`,
);
await scratch.drop();
process.exit(0);
