/**
 * Fewer round trips per transaction, on the pg pool's clients (db/client.ts wraps each one).
 *
 * A round trip costs the server the driver's work and, under load, a wait for its event loop; a
 * transaction that holds a hot row holds it across every one. Two things cut them, without changing
 * what a transaction does:
 *
 * - **BEGIN goes with the first statement.** Kysely's `begin` is not sent on its own: it is written
 *   right before the transaction's first statement, and both are answered in one round trip.
 * - **Statements whose answers nobody reads** (appends: an outbox event, a pending sale, the
 *   idempotency key's completion) can be sent without waiting for them: inside `deferring(trx, fn)`
 *   a statement is written and "answers" at once with no rows. Its real outcome is checked before
 *   the next statement's answer is handed out, or at COMMIT; the first failure is what the
 *   transaction throws (and it rolls back, as it would have). So a transaction's tail (everything
 *   after its last read) and its COMMIT leave together: the hot row it takes last is held for the
 *   statements and the commit only, not for the server's event loop in between.
 *
 * With pg's pipeline mode (db/client.ts turns it on unless told otherwise) the statements are on the
 * wire back to back; without it the driver still sends each as soon as the previous one is answered,
 * without waiting for the code that issued it. PGlite (one session, no pool) ignores all of this:
 * there `deferring` runs its statements one by one, with their answers.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type pg from "pg";
import type { Tx } from "./unit-of-work.ts";

/** Set while a `deferring` callback runs: statements of a transaction issued in it do not wait for their answers. */
const deferScope = new AsyncLocalStorage<true>();

/**
 * Runs `fn`, whose statements on `trx` are sent without waiting for their answers: each resolves at
 * once with no rows. Only for statements whose results are not read (appends, updates whose row
 * count nobody checks). Their failures surface at the transaction's next statement or its COMMIT.
 */
export function deferring<T>(_trx: Tx, fn: () => Promise<T>): Promise<T> {
  return deferScope.run(true, fn);
}

/**
 * A deferred statement failed in the driver (never reached the server) and the COMMIT behind it
 * committed the rest. A programming error (a value pg cannot encode); never retried by callers.
 */
export class CommittedDespiteFailedStatement extends Error {
  constructor(readonly failure: unknown) {
    super("the transaction committed although one of its deferred statements failed before it was sent", { cause: failure });
    this.name = "CommittedDespiteFailedStatement";
  }
}

interface PipelineState {
  /** Between Kysely's `begin` and the first statement: BEGIN is not sent yet. */
  beginPending: boolean;
  inTransaction: boolean;
  /** Deferred statements (and a BEGIN sent ahead) whose answers are not checked yet. */
  unchecked: Array<Promise<void>>;
  /** The first deferred statement that failed: the transaction is aborted, this is why. */
  failure: unknown;
  /** A COMMIT just failed: Kysely's ROLLBACK that follows has nothing to roll back. */
  ended: boolean;
}

export type QueryFn = (text: unknown, values?: unknown, callback?: unknown) => unknown;

const noRows = (command: string) => ({ command, rowCount: 0, rows: [], fields: [], oid: 0 }) as unknown as pg.QueryResult;

/**
 * Wraps `client.query` (already naming compiled statements, see client.ts: `send`) with the BEGIN and
 * deferral handling above. Calls with a callback (pg-pool's own `pool.query`) pass straight through.
 */
export function pipelining(send: QueryFn): QueryFn {
  const state: PipelineState = { beginPending: false, inTransaction: false, unchecked: [], failure: undefined, ended: false };
  const reset = () => {
    state.beginPending = false;
    state.inTransaction = false;
    state.unchecked = [];
    state.failure = undefined;
  };
  const track = (answer: Promise<unknown>) => {
    state.unchecked.push(
      answer.then(
        () => {},
        (error: unknown) => {
          if (state.failure === undefined) state.failure = error;
        },
      ),
    );
  };
  const sendBeginIfPending = () => {
    if (!state.beginPending) return;
    state.beginPending = false;
    track(send("begin") as Promise<unknown>);
  };
  /** Waits for everything sent before `answer`, then `answer`; the first failure wins. */
  const checked = async (answer: Promise<unknown>) => {
    const earlier = state.unchecked;
    state.unchecked = [];
    await Promise.all(earlier);
    if (state.failure !== undefined) {
      await answer.catch(() => {});
      throw state.failure;
    }
    return answer;
  };

  async function end(command: "commit" | "rollback"): Promise<unknown> {
    if (state.beginPending) {
      // Nothing ran: there is no transaction on the server to end.
      reset();
      return noRows(command === "commit" ? "COMMIT" : "ROLLBACK");
    }
    // Sent at once, behind whatever is still unanswered: the tail and its COMMIT travel together.
    const answer = send(command) as Promise<unknown>;
    try {
      if (command === "rollback") {
        // The transaction ends either way. An earlier deferred failure is not thrown again here: the
        // caller's own error stays the one reported, and the connection goes back to the pool clean.
        await Promise.all(state.unchecked);
        return await answer;
      }
      const earlier = state.unchecked;
      state.unchecked = [];
      await Promise.all(earlier);
      if (state.failure === undefined) return await answer;
      // A statement failed. Failed on the server, it aborted the transaction and COMMIT answers
      // ROLLBACK. Failed in the driver before it was sent (a value it could not encode), the server
      // transaction went on and COMMIT committed it: that must never read as "rolled back", or a caller
      // would run the work again.
      const committed = await answer.then(
        (result) => (result as { command?: string }).command === "COMMIT",
        () => false,
      );
      if (committed) throw new CommittedDespiteFailedStatement(state.failure);
      throw state.failure;
    } catch (error) {
      if (command === "commit") state.ended = true;
      throw error;
    } finally {
      reset();
    }
  }

  return (text: unknown, values?: unknown, callback?: unknown) => {
    if (callback !== undefined || typeof text !== "string") return send(text, values, callback);
    if (state.ended) {
      state.ended = false;
      // Kysely rolls back after a failed COMMIT; the server already ended that transaction.
      if (text === "rollback") return Promise.resolve(noRows("ROLLBACK"));
    }
    if (text === "begin" && !state.inTransaction) {
      state.inTransaction = true;
      state.beginPending = true;
      return Promise.resolve(noRows("BEGIN"));
    }
    if (state.inTransaction && (text === "commit" || text === "rollback")) return end(text);
    if (!state.inTransaction) return send(text, values);
    sendBeginIfPending();
    const answer = send(text, values) as Promise<unknown>;
    if (deferScope.getStore()) {
      track(answer);
      return Promise.resolve(noRows(""));
    }
    return checked(answer);
  };
}
