import { type RawBuilder, sql } from "kysely";
import { compiledQuery, type Db, deferring, inTransaction, type Tx } from "../../db/index.ts";

type Executor = Db | Tx;

export interface NewOutboxRow {
  id: string;
  aggregateType: string;
  aggregateId: string;
  type: string;
  destination: string;
  payload: unknown;
  at: Date;
}

/**
 * Due times and leases are on the DATABASE's clock (`now()`), as pg-boss keeps its jobs: every
 * instance compares against the same clock, so one whose clock runs ahead cannot take events
 * whose lease has not ended, and one whose clock runs behind cannot leave due events waiting.
 *
 * `pinned` is for tests only: a ManualClock's instant, pushed into the statement in place of
 * `now()` (see `outboxNow` in service.ts), so a test that moves its clock by 5 minutes moves the
 * outbox's notion of now by exactly that. Production passes null.
 */
export type PinnedNow = Date | null;

function databaseNow(pinned: PinnedNow, plusMs = 0): RawBuilder<Date> {
  const base = pinned ? sql<Date>`${pinned}::timestamptz` : sql<Date>`now()`;
  return plusMs === 0 ? base : sql<Date>`(${base} + ${Math.round(plusMs)}::float8 * interval '1 millisecond')`;
}

/**
 * The claim must walk outbox_events_due_idx in order and stop after `limit` rows. The planner does
 * not know that when its statistics predate a burst (a table analyzed while nothing was pending,
 * or never): it then read every pending row through outbox_events_status_idx, probed each for an
 * earlier event and sorted them all, ~100 ms per claim at 8,000 pending. Without a sort, the due
 * index in order is the only plan left, whatever the statistics say.
 */
async function claimSettings(trx: Tx): Promise<void> {
  // No JIT: enable_sort = off prices any sort in a plan so high that PostgreSQL compiled the
  // statement (~300 ms per fan-out in a drain). And the claim's own inserts (the fan-out's) notify
  // nobody (db/migrations/2026-12-04T00-00-outbox-fan-out.ts).
  await sql`SELECT set_config('enable_sort', 'off', true), set_config('jit', 'off', true), set_config('agora.outbox_quiet', 'on', true)`.execute(trx);
}

/** The claim's and the sent mark's "now" as one statement text for both clocks (`pinned` null: the database's now()). */
function nowOrPinned(pinned: PinnedNow): RawBuilder<Date> {
  return sql<Date>`coalesce(${pinned}::timestamptz, now())`;
}

/**
 * The destination of an event written once for all of its destinations (contract.ts, `fanOut`):
 * the poller writes its rows per destination later, in its claim's transaction (fanOutStatement).
 */
export const FAN_OUT = "fan-out";
/** In the SQL text, not a parameter: the partial indexes' predicates name it, and the planner must see it to use them. */
const fanOutLiteral = sql.lit(FAN_OUT);

type ClaimedRow = {
  id: string;
  aggregate_type: string;
  aggregate_id: string;
  type: string;
  destination: string;
  payload: unknown;
  attempts: number;
  created_at: Date;
};

/**
 * Up to `limit` due rows of those `kept`, oldest first, locked (SKIP LOCKED): none whose aggregate
 * has an earlier row still pending for its destination, or an earlier event not fanned out yet. The
 * claim's rows and the fan-out's events alike (claimStatement, fanOutStatement).
 */
function dueInOrder(now: RawBuilder<Date>, kept: RawBuilder<boolean>, limit: number) {
  return sql`
        SELECT e.id FROM outbox_events e
        WHERE e.status = 'pending'
          AND ${kept}
          AND e.next_attempt_at <= ${now}
          AND (e.locked_until IS NULL OR e.locked_until <= ${now})
          AND NOT EXISTS (
            SELECT 1 FROM outbox_events earlier
            WHERE earlier.status = 'pending'
              AND earlier.aggregate_type = e.aggregate_type
              AND earlier.aggregate_id = e.aggregate_id
              AND earlier.destination IN (e.destination, ${fanOutLiteral})
              AND earlier.id < e.id
          )
        ORDER BY e.next_attempt_at, e.id
        LIMIT ${limit}
        FOR UPDATE SKIP LOCKED`;
}

/**
 * Claims due events in ONE statement: rows locked by a concurrent claim are skipped (SKIP LOCKED),
 * and the lease (locked_until) keeps other pollers off them until it ends. A poller that dies
 * mid-batch simply lets its leases run out; its events are then claimed again.
 * Per aggregate and destination, events go out in order: one waits while an earlier one is
 * still pending (being sent, or waiting to be retried), so "delivered" never overtakes "shipped";
 * an earlier event of the aggregate not yet fanned out (FAN_OUT) counts as pending for every
 * destination. That question is one probe of outbox_events_pending_aggregate_idx per destination
 * asked. Rows waiting to be fanned out are not in the due index the claim walks (a sale's backlog of
 * them is never read past), and no poller claims them: fanOutStatement writes their rows.
 *
 * Built with the values as parameters only, so Kysely compiles it once. It is NOT a named prepared
 * statement: PostgreSQL would keep one generic plan for it per connection, made with the statistics
 * of that moment, and `bench scale` caught such a plan (from the first round's statistics) running
 * one claim for over a minute on the bigger table of the second round. Unnamed, it is planned with
 * its values and today's statistics on every call.
 */
function claimStatement(pinned: PinnedNow, leaseMs: number, owner: string, limit: number, destinations: string[]) {
  const now = nowOrPinned(pinned);
  return sql<ClaimedRow>`
      WITH due AS (${dueInOrder(now, sql`e.destination <> ${fanOutLiteral} AND e.destination = ANY(${destinations}::text[])`, limit)})
      UPDATE outbox_events o SET locked_until = ${now} + ${leaseMs}::float8 * interval '1 millisecond', locked_by = ${owner}
      FROM due WHERE o.id = due.id
      RETURNING o.id, o.aggregate_type, o.aggregate_id, o.type, o.destination, o.payload, o.attempts, o.created_at`;
}

const claim = compiledQuery(
  (_db, pinned: PinnedNow, leaseMs: number, owner: string, limit: number, destinations: string[]) =>
    claimStatement(pinned, leaseMs, owner, limit, destinations),
  { prepared: false },
);

/** Events sent by this owner, marked in one statement (a lease another poller took since is left alone). */
const markSentStatement = compiledQuery(
  (_db, ids: string[], owner: string, pinned: PinnedNow) => sql`
    UPDATE outbox_events
       SET status = 'sent', sent_at = ${nowOrPinned(pinned)}, attempts = attempts + 1, locked_until = NULL, locked_by = NULL, last_error = NULL
     WHERE id = ANY(${ids}::uuid[]) AND locked_by = ${owner}`,
  // Planned on every call, like the claim: a generic plan made while the table was small could scan it all.
  { prepared: false },
);

/** A destination whose rows are written only where `writtenWhen` holds for the event's type (contract.ts). */
export interface RowCondition {
  destination: string;
  writtenWhen: (eventType: RawBuilder<string>) => RawBuilder<boolean>;
}

/** Whether a row is wanted: each destination's condition on the event's type, as one SQL expression (true without a condition). */
function rowsWanted(conditions: readonly RowCondition[], destination: RawBuilder<string>, type: RawBuilder<string>): RawBuilder<boolean> {
  if (conditions.length === 0) return sql<boolean>`true`;
  return sql<boolean>`CASE ${destination} ${sql.join(
    conditions.map(({ destination: name, writtenWhen }) => sql`WHEN ${name} THEN ${writtenWhen(type)}`),
    sql` `,
  )} ELSE true END`;
}

/** Where an event goes when it is fanned out: its type, a destination, and the destination's number (1…255, its rows' ids). */
export interface FanOutRoute {
  type: string;
  destination: string;
  n: number;
}

/**
 * Writes the rows of up to `limit` events written once (FAN_OUT), one per route of their type
 * (where the destination's condition holds, judged now), and marks those events sent: in the
 * claim's transaction, before the claim, which then sees the new rows. Per aggregate one event at
 * a time, in order, as the claim delivers (an earlier one still waiting keeps the next waiting).
 * A row's id is its event's id with the last byte replaced by the route's number: the rows of
 * later events of an aggregate sort after those of earlier ones, as rows written directly do,
 * and fanning an event out again (an operator's retry) writes nothing twice (ON CONFLICT).
 * Unprepared like the claim: its plan depends on how many are waiting. The probe for an earlier
 * event is written as the claim's (`IN (e.destination, …)`, e's destination being the fan-out's):
 * with the constant alone, the planner, its statistics from before a burst, scanned every waiting
 * event per candidate.
 */
function fanOutStatement(conditions: readonly RowCondition[]) {
  return compiledQuery(
    (_db, pinned: PinnedNow, limit: number, types: string[], destinations: string[], numbers: number[]) => {
      const now = nowOrPinned(pinned);
      return sql`
      WITH due AS (${dueInOrder(now, sql`e.destination = ${fanOutLiteral}`, limit)}), fanned AS (
        UPDATE outbox_events o SET status = 'sent', sent_at = ${now}, attempts = attempts + 1, locked_until = NULL, locked_by = NULL, last_error = NULL
        FROM due WHERE o.id = due.id
        RETURNING o.id, o.aggregate_type, o.aggregate_id, o.type, o.payload, o.created_at
      )
      INSERT INTO outbox_events (id, aggregate_type, aggregate_id, type, destination, payload, status, next_attempt_at, created_at)
      SELECT encode(overlay(uuid_send(f.id) PLACING set_byte(decode('00', 'hex'), 0, r.n) FROM 16 FOR 1), 'hex')::uuid,
             f.aggregate_type, f.aggregate_id, f.type, r.destination, f.payload, 'pending', ${now}, f.created_at
        FROM fanned f
        JOIN unnest(${types}::text[], ${destinations}::text[], ${numbers}::int4[]) AS r(type, destination, n) ON r.type = f.type
       WHERE ${rowsWanted(conditions, sql<string>`r.destination`, sql<string>`f.type`)}
      ON CONFLICT (id) DO NOTHING`;
    },
    { prepared: false },
  );
}

/** Fans out up to `limit` waiting events in `trx` (fanOutStatement). */
export type FanOut = (trx: Tx, pinned: PinnedNow, limit: number) => Promise<void>;

/**
 * Every paid order writes its events with this: compiled once per publisher (db/compiled.ts) and
 * run as a named prepared statement, however many rows (one per event and destination). A row of a
 * destination with a condition is left out where the condition does not hold, judged by this
 * statement (its snapshot) in the producer's transaction; such a statement returns the ids it wrote.
 */
function insertEventsStatement(conditions: readonly RowCondition[]) {
  const kept = conditions.length === 0 ? sql`` : sql`WHERE ${rowsWanted(conditions, sql<string>`e.destination`, sql<string>`e.type`)} RETURNING id`;
  // The rows go as one JSON document: pg writes a text[] of JSON payloads by escaping every quote in
  // JavaScript, ~4 % of the server's CPU in order-rush-spread; JSON.stringify of the rows is native.
  return compiledQuery(
    (_db, rows: string) => sql<{ id: string }>`
    INSERT INTO outbox_events (id, aggregate_type, aggregate_id, type, destination, payload, status, next_attempt_at, created_at)
    SELECT e.id, e.aggregate_type, e.aggregate_id, e.type, e.destination, e.payload, 'pending', least(now(), e.at), e.at
      FROM jsonb_to_recordset(${rows}::jsonb)
           AS e(id uuid, aggregate_type text, aggregate_id text, type text, destination text, payload jsonb, at timestamptz)
    ${kept}`,
  );
}

export const outboxRepository = {
  /**
   * The writer of a publisher's rows (insertEventsStatement). `at` is the caller's (domain) time,
   * recorded as created_at. The event is due at once: at the database's now(), or at `at` if that is
   * earlier (a test's clock in the past), never later, so an instance whose clock runs ahead does
   * not write events due in the future. Returns the ids written.
   *
   * Locks: none in the global order (db/unit-of-work.ts). The rows are new (uuidv7 keys, no foreign
   * key), so nobody waits on them and they wait on nobody; a condition only reads; the NOTIFY that
   * wakes a waiting poller takes PostgreSQL's notify lock at COMMIT, after every row lock of the
   * transaction. Hence no noteLock here, and events may be written at any step of a transaction.
   */
  rowInserter(conditions: readonly RowCondition[]) {
    const insertEvents = insertEventsStatement(conditions);
    return async (trx: Tx, rows: NewOutboxRow[]): Promise<string[]> => {
      if (rows.length === 0) return [];
      const result = await insertEvents(
        trx,
        JSON.stringify(
          rows.map((row) => ({
            id: row.id,
            aggregate_type: row.aggregateType,
            aggregate_id: row.aggregateId,
            type: row.type,
            destination: row.destination,
            payload: row.payload,
            at: row.at,
          })),
        ),
      );
      return conditions.length === 0 ? rows.map((row) => row.id) : result.rows.map((row) => row.id);
    };
  },

  /** The function that fans out waiting events along `routes` (fanOutStatement), compiled once. */
  fanOut(routes: readonly FanOutRoute[], conditions: readonly RowCondition[]): FanOut {
    const statement = fanOutStatement(conditions);
    const types = routes.map((r) => r.type);
    const destinations = routes.map((r) => r.destination);
    const numbers = routes.map((r) => r.n);
    return async (trx, pinned, limit) => {
      await statement(trx, pinned, limit, types, destinations, numbers);
    };
  },

  /**
   * Claims up to `limit` due events for `owner` (claimStatement), in a transaction of its own, and
   * first marks `sentIds` sent (events this owner sent since its last claim): one transaction and
   * one COMMIT for both, and the claim already sees them sent, so the next event of their aggregates
   * can be claimed at once. With `fanOut`, up to `limit` events written once are fanned out first,
   * and the claim sees their rows. The settings, the mark and the fan-out go out with the claim
   * (db/pipeline.ts): two round trips in all.
   */
  async markSentAndClaimDue(
    db: Db,
    sentIds: string[],
    pinned: PinnedNow,
    leaseMs: number,
    owner: string,
    limit: number,
    destinations: string[],
    fanOut: FanOut | null = null,
  ): Promise<ClaimedRow[]> {
    return inTransaction(db, async (trx) => {
      const claiming = limit > 0 && destinations.length > 0;
      await deferring(trx, async () => {
        await claimSettings(trx);
        if (sentIds.length > 0) await markSentStatement(trx, sentIds, owner, pinned);
        if (claiming && fanOut) await fanOut(trx, pinned, limit);
      });
      if (!claiming) return [];
      return (await claim(trx, pinned, leaseMs, owner, limit, destinations)).rows;
    });
  },

  /** The plan the claim runs with (EXPLAIN: nothing is claimed), one line per node. */
  async claimPlan(db: Db, pinned: PinnedNow, limit: number, destinations: string[]): Promise<string[]> {
    return inTransaction(db, async (trx) => {
      await claimSettings(trx);
      const plan = await sql<{ "QUERY PLAN": string }>`EXPLAIN ${claimStatement(pinned, 60_000, "explain", limit, destinations)}`.execute(trx);
      return plan.rows.map((row) => row["QUERY PLAN"]);
    });
  },

  /** Several events sent by this owner, in one statement. */
  async markSent(db: Db, ids: string[], owner: string, pinned: PinnedNow): Promise<void> {
    if (ids.length === 0) return;
    await markSentStatement(db, ids, owner, pinned);
  },

  /** Records a failed attempt: retried `retryInMs` from now (database clock), or dead when `dead`. */
  async markFailed(db: Db, id: string, owner: string, error: string, retryInMs: number, dead: boolean, pinned: PinnedNow): Promise<void> {
    await db
      .updateTable("outbox_events")
      .set((eb) => ({
        status: dead ? "dead" : "pending",
        attempts: eb("attempts", "+", 1),
        last_error: error.slice(0, 1000),
        next_attempt_at: databaseNow(pinned, dead ? 0 : retryInMs),
        locked_until: null,
        locked_by: null,
      }))
      .where("id", "=", id)
      .where("locked_by", "=", owner)
      .execute();
  },

  /** Gives an event back without counting an attempt (the poller was stopped before sending it). */
  async release(db: Db, id: string, owner: string): Promise<void> {
    await db.updateTable("outbox_events").set({ locked_until: null, locked_by: null }).where("id", "=", id).where("locked_by", "=", owner).execute();
  },

  /** This poller found nothing to do and listens: inserts notify it until `waitMs` from now (database clock). */
  async markWaiting(db: Db, owner: string, waitMs: number): Promise<void> {
    const until = databaseNow(null, waitMs);
    await db
      .insertInto("outbox_waiting_pollers")
      .values({ owner, until })
      .onConflict((oc) => oc.column("owner").doUpdateSet({ until }))
      .execute();
  },

  /** This poller is busy again: inserts need not notify on its account. */
  async markBusy(db: Db, owner: string): Promise<void> {
    await db.deleteFrom("outbox_waiting_pollers").where("owner", "=", owner).execute();
  },

  list(
    db: Executor,
    filter: { status?: "pending" | "sent" | "dead"; destination?: string; type?: string; aggregateId?: string; afterId?: string; limit: number },
  ) {
    let q = db.selectFrom("outbox_events").selectAll().orderBy("id").limit(filter.limit);
    if (filter.status) q = q.where("status", "=", filter.status);
    if (filter.destination) q = q.where("destination", "=", filter.destination);
    if (filter.type) q = q.where("type", "=", filter.type);
    if (filter.aggregateId) q = q.where("aggregate_id", "=", filter.aggregateId);
    if (filter.afterId) q = q.where("id", ">", filter.afterId);
    return q.execute();
  },

  find(db: Executor, id: string) {
    return db.selectFrom("outbox_events").selectAll().where("id", "=", id).executeTakeFirst();
  },

  /** The rows of these aggregates' events of `type` for `destination`, and those events' rows written once (FAN_OUT). */
  forAggregate(db: Executor, aggregateType: string, aggregateIds: string[], type: string, destination: string) {
    if (aggregateIds.length === 0) return Promise.resolve([]);
    return db
      .selectFrom("outbox_events")
      .select(["aggregate_id", "destination", "status", "attempts", "last_error", "next_attempt_at", "sent_at"])
      .where("aggregate_type", "=", aggregateType)
      .where("aggregate_id", "in", aggregateIds)
      .where("type", "=", type)
      .where("destination", "in", [destination, FAN_OUT])
      .execute();
  },

  /** Due now (database clock), unless it is sent or a poller holds a live lease on it (being sent this moment). */
  async retryNow(db: Db, id: string, pinned: PinnedNow): Promise<Date | null> {
    const now = databaseNow(pinned);
    const row = await db
      .updateTable("outbox_events")
      .set({ status: "pending", next_attempt_at: now })
      .where("id", "=", id)
      .where("status", "in", ["pending", "dead"])
      .where((w) => w.or([w("locked_until", "is", null), w("locked_until", "<=", now)]))
      .returning("next_attempt_at")
      .executeTakeFirst();
    return row?.next_attempt_at ?? null;
  },

  /** Pending count and the age of the oldest pending event (database clock), for the lag metric. */
  async pendingStats(db: Db, pinned: PinnedNow): Promise<{ pending: number; oldestSeconds: number }> {
    const row = await db
      .selectFrom("outbox_events")
      .select([
        sql<number>`count(*)::int8`.as("pending"),
        sql<number | null>`extract(epoch from ${databaseNow(pinned)} - min(created_at))::float8`.as("oldest_seconds"),
      ])
      .where("status", "=", "pending")
      .executeTakeFirstOrThrow();
    return { pending: Number(row.pending), oldestSeconds: Math.max(0, Number(row.oldest_seconds ?? 0)) };
  },
};
