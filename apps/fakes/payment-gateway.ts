/**
 * A fake card gateway that speaks the HTTP contract of modules/wallet/gateway.ts over a real
 * socket (Hono on Bun.serve), for tests, the dev server and benchmarks.
 *
 *   POST /v1/charges                    Idempotency-Key header, { userId, amount, currency? }
 *     200 { status: "approved", reference }
 *     402 { status: "declined", code: "LIMIT_EXCEEDED" | "CARD_DECLINED", reason }
 *     503 { status: "error", code: "UNAVAILABLE" }                      (scripted or random failure)
 *     409 { status: "error", code: "IDEMPOTENCY_KEY_MISMATCH" }         (same key, other user or amount)
 *     400 { status: "error", code: "BAD_REQUEST" }                      (no key, bad body)
 *     no answer at all                                                  (hangNext: until the client gives up)
 *   POST /v1/charges/:reference/void    → 200 { status: "voided", reference } | 404 | 409 (declined charge)
 *   GET  /v1/charges/by-key/:key        → 200 { status: "approved" | "voided", reference } | { status: "declined", code, reason }
 *                                         | 404 { status: "not_found" } (no charge was ever decided with this key)
 *
 * Card payments of orders (authorize at placement, capture after the order commits):
 *   POST /v1/authorizations             Idempotency-Key header, { userId, amount, currency? }
 *     200 { status: "authorized", reference } | 402 declined | 503 | 409 key mismatch | 400 | no answer (same rules as charges)
 *   POST /v1/authorizations/:ref/capture → 200 { status: "captured", reference } (again: the same)
 *                                         | 409 { code: "AUTHORIZATION_VOIDED" } | 503 (failCapturesNext) | 404
 *   POST /v1/authorizations/:ref/void    → 200 { status: "voided", reference } | 409 { code: "ALREADY_CAPTURED" } | 404
 *   POST /v1/authorizations/:ref/refund  → 200 { status: "refunded", reference, amount } (again: the same)
 *                                         | 409 { code: "NOT_CAPTURED" } | 404
 *   GET  /v1/authorizations/by-key/:key  → 200 { status: "authorized" | "captured" | "voided" | "refunded", reference }
 *                                         | { status: "declined", code, reason } | 404 { status: "not_found" }
 *   GET  /_stats                        → stats()
 *   POST /_control                      → { configure?, declineNext?, failNext?, hangNext?, approveThenHang?, failCapturesNext?, reset? }; answers the state
 *   GET  /health
 *
 * Rules, in the order they apply to a charge request:
 *   1. A key seen before with a decided answer (approved or declined) returns that same answer
 *      (a "replay"; scripts and rates are not consumed). Same key, other user or amount → 409.
 *   2. The next scripted outcome (declineNext / failNext / hangNext, first in first out), else
 *      failureRate (503), then the per-charge limit (amount > perChargeLimit → LIMIT_EXCEEDED),
 *      then declineRate (CARD_DECLINED), else approved.
 *   3. latencyMs (+ up to latencyJitterMs) before every answer.
 * A 503 or a plain hang decides nothing (a retry runs as new); `hangNext(n, { afterCharging: true })`
 * records the charge and then never answers: the "answer lost in transit" case. `approveThenHang(n)`
 * says the same for a test of "the gateway approved, then the caller died": the charge is captured,
 * the caller never hears it, and only a lookup by key (recovery) finds it.
 *
 * Authorizations follow the same rules 1-3 and share the script queue: a scripted decline, failure or
 * hang applies to the next new charge OR authorization, whichever comes first. `failCapturesNext(n)`
 * makes the next n captures answer 503 (the authorization stays uncaptured until a retry).
 *
 * Run standalone: `bun apps/fakes/payment-gateway.ts` (PORT, default 4010; FAKE_GATEWAY_* env, see bottom).
 */
import { type Context, Hono } from "hono";

export type FakeDeclineCode = "LIMIT_EXCEEDED" | "CARD_DECLINED";

export interface FakeGatewayBehaviour {
  /** Delay before every answer. */
  latencyMs: number;
  /** Extra random delay, 0..latencyJitterMs. */
  latencyJitterMs: number;
  /** 0..1: share of new charges answered 503. */
  failureRate: number;
  /** 0..1: share of new charges declined with CARD_DECLINED. */
  declineRate: number;
  /** A single charge above this many won is declined with LIMIT_EXCEEDED. */
  perChargeLimit: number;
}

export interface FakeGatewayOptions extends Partial<FakeGatewayBehaviour> {
  /** 0 (default) picks a free port. */
  port?: number;
  hostname?: string;
  /** Source of randomness for the rates (inject a seeded one for repeatable benchmarks). */
  random?: () => number;
  /** When set, requests must carry `Authorization: Bearer <apiKey>` (401 otherwise). */
  apiKey?: string;
}

export interface FakeGatewayStats {
  /** Every POST /v1/charges that reached the handler. */
  requests: number;
  /** New charges approved (replays not counted). */
  approved: number;
  /** New charges declined (replays not counted). */
  declined: number;
  /** 503 answers. */
  failed: number;
  /** Requests that were never answered. */
  hung: number;
  /** Requests answered from the idempotency memory. */
  replayed: number;
  /** Same key with a different body (409). */
  mismatched: number;
  /** 400 / 401 answers. */
  rejected: number;
  voided: number;
  /** GET /v1/charges/by-key answers (recovery asking what became of a charge). */
  lookups: number;
  /** Won approved and not voided: what the customers' cards really paid. */
  capturedAmount: number;
  /** Requests being handled right now. */
  inFlight: number;
  /** Every POST /v1/authorizations that reached the handler. */
  authorizationRequests: number;
  /** New authorizations approved (replays not counted; declines count in `declined`). */
  authorized: number;
  captured: number;
  /** Authorizations voided before capture. */
  authorizationsVoided: number;
  refunded: number;
  /** Won captured from cards by orders (refunds not subtracted). */
  cardCapturedAmount: number;
  /** Won refunded to cards. */
  cardRefundedAmount: number;
}

export interface FakeAuthorization {
  reference: string | null;
  idempotencyKey: string;
  userId: number;
  amount: number;
  status: "authorized" | "declined" | "captured" | "voided" | "refunded";
  code: FakeDeclineCode | null;
}

export interface FakeCharge {
  reference: string | null;
  idempotencyKey: string;
  userId: number;
  amount: number;
  status: "approved" | "declined" | "voided";
  code: FakeDeclineCode | null;
}

export interface FakeGatewayControl {
  configure(patch: Partial<FakeGatewayBehaviour>): FakeGatewayBehaviour;
  behaviour(): FakeGatewayBehaviour;
  /** The next n new charges are declined with `code`. */
  declineNext(n?: number, code?: FakeDeclineCode): void;
  /** The next n new charges answer 503 (nothing is charged). */
  failNext(n?: number): void;
  /** The next n new charges never answer; with afterCharging the charge is recorded (approved) first. */
  hangNext(n?: number, options?: { afterCharging?: boolean }): void;
  /** "Approve, then the caller dies": the next n new charges are approved and captured, and never answered. */
  approveThenHang(n?: number): void;
  /** Scripted outcomes still queued. */
  queued(): number;
  /** Every decided charge, oldest first. */
  charges(): FakeCharge[];
  /** Every decided card authorization (orders), oldest first. */
  authorizations(): FakeAuthorization[];
  /** The next n captures answer 503 and capture nothing. */
  failCapturesNext(n?: number): void;
  /** Back to the start options: empties scripts, stats and the idempotency memory. */
  reset(): void;
}

export interface FakePaymentGateway {
  url: string;
  port: number;
  control: FakeGatewayControl;
  stats(): FakeGatewayStats;
  /** Closes the socket and releases hung requests. */
  stop(): Promise<void>;
}

type Script = { kind: "decline"; code: FakeDeclineCode } | { kind: "fail" } | { kind: "hang"; afterCharging: boolean };
type Answer = { status: 200 | 402; body: Record<string, unknown> };
interface Remembered {
  userId: number;
  amount: number;
  answer: Answer;
  charge: FakeCharge;
}
interface RememberedAuthorization {
  userId: number;
  amount: number;
  answer: Answer;
  authorization: FakeAuthorization;
}

const defaults: FakeGatewayBehaviour = { latencyMs: 0, latencyJitterMs: 0, failureRate: 0, declineRate: 0, perChargeLimit: 2_000_000 };

function emptyStats(): FakeGatewayStats {
  return {
    requests: 0,
    approved: 0,
    declined: 0,
    failed: 0,
    hung: 0,
    replayed: 0,
    mismatched: 0,
    rejected: 0,
    voided: 0,
    lookups: 0,
    capturedAmount: 0,
    inFlight: 0,
    authorizationRequests: 0,
    authorized: 0,
    captured: 0,
    authorizationsVoided: 0,
    refunded: 0,
    cardCapturedAmount: 0,
    cardRefundedAmount: 0,
  };
}

function checkBehaviour(b: FakeGatewayBehaviour): FakeGatewayBehaviour {
  for (const rate of ["failureRate", "declineRate"] as const) {
    if (!(b[rate] >= 0 && b[rate] <= 1)) throw new Error(`fake gateway: ${rate} must be within 0..1`);
  }
  for (const ms of ["latencyMs", "latencyJitterMs", "perChargeLimit"] as const) {
    if (!(Number.isFinite(b[ms]) && b[ms] >= 0)) throw new Error(`fake gateway: ${ms} must be ≥ 0`);
  }
  return b;
}

const sleep = (ms: number) => (ms > 0 ? new Promise<void>((resolve) => setTimeout(resolve, ms)) : Promise.resolve());
const positiveInt = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v > 0;

export function startFakePaymentGateway(options: FakeGatewayOptions = {}): FakePaymentGateway {
  const { port = 0, hostname = "127.0.0.1", random = Math.random, apiKey, ...initial } = options;
  const given = Object.fromEntries(Object.entries(initial).filter(([, v]) => v !== undefined)) as Partial<FakeGatewayBehaviour>;
  const start = checkBehaviour({ ...defaults, ...given });
  let behaviour = { ...start };
  let scripts: Script[] = [];
  let stats = emptyStats();
  let memory = new Map<string, Remembered>();
  let byReference = new Map<string, Remembered>();
  let authorizations = new Map<string, RememberedAuthorization>();
  let authorizationsByReference = new Map<string, RememberedAuthorization>();
  let failingCaptures = 0;
  let sequence = 0;
  const hung = new Set<() => void>();

  const control: FakeGatewayControl = {
    configure(patch) {
      behaviour = checkBehaviour({ ...behaviour, ...patch });
      return { ...behaviour };
    },
    behaviour: () => ({ ...behaviour }),
    declineNext(n = 1, code = "CARD_DECLINED") {
      for (let i = 0; i < n; i++) scripts.push({ kind: "decline", code });
    },
    failNext(n = 1) {
      for (let i = 0; i < n; i++) scripts.push({ kind: "fail" });
    },
    hangNext(n = 1, hangOptions = {}) {
      for (let i = 0; i < n; i++) scripts.push({ kind: "hang", afterCharging: hangOptions.afterCharging ?? false });
    },
    approveThenHang(n = 1) {
      for (let i = 0; i < n; i++) scripts.push({ kind: "hang", afterCharging: true });
    },
    queued: () => scripts.length,
    charges: () => [...memory.values()].map((r) => ({ ...r.charge })),
    authorizations: () => [...authorizations.values()].map((r) => ({ ...r.authorization })),
    failCapturesNext(n = 1) {
      failingCaptures += n;
    },
    reset() {
      behaviour = { ...start };
      scripts = [];
      stats = { ...emptyStats(), inFlight: stats.inFlight };
      memory = new Map();
      byReference = new Map();
      authorizations = new Map();
      authorizationsByReference = new Map();
      failingCaptures = 0;
    },
  };

  function decide(key: string, userId: number, amount: number, code: FakeDeclineCode | null): Remembered {
    const reference = code ? null : `ch_${String(++sequence).padStart(6, "0")}_${crypto.randomUUID().slice(0, 8)}`;
    const answer: Answer = code
      ? {
          status: 402,
          body: {
            status: "declined",
            code,
            reason: code === "LIMIT_EXCEEDED" ? "The amount exceeds the card's per-charge limit" : "The card issuer declined the charge",
          },
        }
      : { status: 200, body: { status: "approved", reference } };
    const remembered: Remembered = {
      userId,
      amount,
      answer,
      charge: { reference, idempotencyKey: key, userId, amount, status: code ? "declined" : "approved", code },
    };
    memory.set(key, remembered);
    if (reference) byReference.set(reference, remembered);
    if (code) stats.declined++;
    else {
      stats.approved++;
      stats.capturedAmount += amount;
    }
    return remembered;
  }

  function declineAnswer(code: FakeDeclineCode, what: string): Answer {
    return {
      status: 402,
      body: {
        status: "declined",
        code,
        reason: code === "LIMIT_EXCEEDED" ? `The amount exceeds the card's per-${what} limit` : `The card issuer declined the ${what}`,
      },
    };
  }

  function authorize(key: string, userId: number, amount: number, code: FakeDeclineCode | null): RememberedAuthorization {
    const reference = code ? null : `au_${String(++sequence).padStart(6, "0")}_${crypto.randomUUID().slice(0, 8)}`;
    const answer: Answer = code ? declineAnswer(code, "charge") : { status: 200, body: { status: "authorized", reference } };
    const remembered: RememberedAuthorization = {
      userId,
      amount,
      answer,
      authorization: { reference, idempotencyKey: key, userId, amount, status: code ? "declined" : "authorized", code },
    };
    authorizations.set(key, remembered);
    if (reference) authorizationsByReference.set(reference, remembered);
    if (code) stats.declined++;
    else stats.authorized++;
    return remembered;
  }

  /** Waits until the client gives up (its socket closes) or the fake stops. */
  function hang(signal: AbortSignal): Promise<Response> {
    stats.hung++;
    return new Promise((resolve) => {
      const release = () => {
        hung.delete(release);
        resolve(new Response(null, { status: 504 }));
      };
      hung.add(release);
      if (signal.aborted) release();
      else signal.addEventListener("abort", release, { once: true });
    });
  }

  const app = new Hono();

  app.use("/v1/*", async (c, next) => {
    stats.inFlight++;
    try {
      if (apiKey && c.req.header("authorization") !== `Bearer ${apiKey}`) {
        stats.rejected++;
        return c.json({ status: "error", code: "UNAUTHORIZED" }, 401);
      }
      await next();
    } finally {
      stats.inFlight--;
    }
  });

  /**
   * One request that moves money (a charge or an authorization): the same key gets the same answer,
   * decided once; the scripted and random failures, hangs and declines apply to both kinds alike.
   */
  async function decideOnce(
    c: Context,
    what: "charge" | "authorization",
    remembered: (key: string) => { userId: number; amount: number; answer: Answer } | undefined,
    decideNew: (key: string, userId: number, amount: number, code: FakeDeclineCode | null) => { answer: Answer },
  ): Promise<Response> {
    const key = c.req.header("idempotency-key")?.trim();
    const body = (await c.req.json().catch(() => null)) as { userId?: unknown; amount?: unknown } | null;
    if (!key || key.length > 255 || !body || !positiveInt(body.userId) || !positiveInt(body.amount)) {
      stats.rejected++;
      return c.json(
        { status: "error", code: "BAD_REQUEST", reason: "Idempotency-Key header and a body { userId, amount } of positive integers are required" },
        400,
      );
    }
    const { userId, amount } = body;
    // From here to the first await everything is synchronous: two racing requests with one key
    // cannot both decide.
    const seen = remembered(key);
    let outcome: { answer: Answer } | { fail: true } | { hang: true };
    if (seen) {
      if (seen.userId !== userId || seen.amount !== amount) {
        stats.mismatched++;
        return c.json({ status: "error", code: "IDEMPOTENCY_KEY_MISMATCH", reason: `This key was used for a different ${what}` }, 409);
      }
      stats.replayed++;
      outcome = { answer: seen.answer };
    } else {
      const script = scripts.shift();
      if (script?.kind === "fail" || (!script && behaviour.failureRate > 0 && random() < behaviour.failureRate)) outcome = { fail: true };
      else if (script?.kind === "hang" && !script.afterCharging) outcome = { hang: true };
      else {
        let code: FakeDeclineCode | null = null;
        if (script?.kind === "decline") code = script.code;
        else if (amount > behaviour.perChargeLimit) code = "LIMIT_EXCEEDED";
        else if (!script && behaviour.declineRate > 0 && random() < behaviour.declineRate) code = "CARD_DECLINED";
        const decided = decideNew(key, userId, amount, code);
        outcome = script?.kind === "hang" ? { hang: true } : { answer: decided.answer };
      }
    }
    await sleep(behaviour.latencyMs + (behaviour.latencyJitterMs > 0 ? Math.floor(random() * (behaviour.latencyJitterMs + 1)) : 0));
    if ("hang" in outcome) return hang(c.req.raw.signal);
    if ("fail" in outcome) {
      stats.failed++;
      return c.json({ status: "error", code: "UNAVAILABLE", reason: "The gateway is temporarily unavailable" }, 503);
    }
    return c.json(outcome.answer.body, outcome.answer.status);
  }

  app.post("/v1/charges", (c) => {
    stats.requests++;
    return decideOnce(c, "charge", (key) => memory.get(key), decide);
  });

  app.post("/v1/charges/:reference/void", async (c) => {
    const remembered = byReference.get(c.req.param("reference"));
    await sleep(behaviour.latencyMs);
    if (!remembered) return c.json({ status: "error", code: "NOT_FOUND" }, 404);
    if (remembered.charge.status === "approved") {
      remembered.charge.status = "voided";
      stats.voided++;
      stats.capturedAmount -= remembered.amount;
    }
    return c.json({ status: "voided", reference: remembered.charge.reference });
  });

  app.get("/v1/charges/by-key/:key", async (c) => {
    stats.lookups++;
    const remembered = memory.get(c.req.param("key"));
    await sleep(behaviour.latencyMs);
    if (!remembered) return c.json({ status: "not_found" }, 404);
    const { charge } = remembered;
    if (charge.status === "declined") return c.json(remembered.answer.body);
    return c.json({ status: charge.status, reference: charge.reference });
  });

  app.post("/v1/authorizations", (c) => {
    stats.authorizationRequests++;
    return decideOnce(c, "authorization", (key) => authorizations.get(key), authorize);
  });

  app.post("/v1/authorizations/:reference/capture", async (c) => {
    const remembered = authorizationsByReference.get(c.req.param("reference"));
    await sleep(behaviour.latencyMs);
    if (!remembered) return c.json({ status: "error", code: "NOT_FOUND" }, 404);
    const { authorization } = remembered;
    if (authorization.status === "voided") return c.json({ status: "error", code: "AUTHORIZATION_VOIDED" }, 409);
    if (authorization.status === "authorized") {
      if (failingCaptures > 0) {
        failingCaptures--;
        stats.failed++;
        return c.json({ status: "error", code: "UNAVAILABLE", reason: "The gateway is temporarily unavailable" }, 503);
      }
      authorization.status = "captured";
      stats.captured++;
      stats.cardCapturedAmount += remembered.amount;
    }
    return c.json({ status: "captured", reference: authorization.reference });
  });

  app.post("/v1/authorizations/:reference/void", async (c) => {
    const remembered = authorizationsByReference.get(c.req.param("reference"));
    await sleep(behaviour.latencyMs);
    if (!remembered) return c.json({ status: "error", code: "NOT_FOUND" }, 404);
    const { authorization } = remembered;
    if (authorization.status === "captured" || authorization.status === "refunded") return c.json({ status: "error", code: "ALREADY_CAPTURED" }, 409);
    if (authorization.status === "authorized") {
      authorization.status = "voided";
      stats.authorizationsVoided++;
    }
    return c.json({ status: "voided", reference: authorization.reference });
  });

  app.post("/v1/authorizations/:reference/refund", async (c) => {
    const remembered = authorizationsByReference.get(c.req.param("reference"));
    await sleep(behaviour.latencyMs);
    if (!remembered) return c.json({ status: "error", code: "NOT_FOUND" }, 404);
    const { authorization } = remembered;
    if (authorization.status !== "captured" && authorization.status !== "refunded") return c.json({ status: "error", code: "NOT_CAPTURED" }, 409);
    if (authorization.status === "captured") {
      authorization.status = "refunded";
      stats.refunded++;
      stats.cardRefundedAmount += remembered.amount;
    }
    return c.json({ status: "refunded", reference: authorization.reference, amount: remembered.amount });
  });

  app.get("/v1/authorizations/by-key/:key", async (c) => {
    stats.lookups++;
    const remembered = authorizations.get(c.req.param("key"));
    await sleep(behaviour.latencyMs);
    if (!remembered) return c.json({ status: "not_found" }, 404);
    const { authorization } = remembered;
    if (authorization.status === "declined") return c.json(remembered.answer.body);
    return c.json({ status: authorization.status, reference: authorization.reference });
  });

  app.get("/_stats", (c) => c.json({ ...stats }));
  app.get("/health", (c) => c.json({ status: "ok" }));
  app.post("/_control", async (c) => {
    const body = (await c.req.json().catch(() => ({}))) as {
      reset?: boolean;
      configure?: Partial<FakeGatewayBehaviour>;
      declineNext?: { n?: number; code?: FakeDeclineCode };
      failNext?: number;
      hangNext?: { n?: number; afterCharging?: boolean };
      approveThenHang?: number;
      failCapturesNext?: number;
    };
    try {
      if (body.reset) control.reset();
      if (body.configure) control.configure(body.configure);
      if (body.declineNext) control.declineNext(body.declineNext.n ?? 1, body.declineNext.code ?? "CARD_DECLINED");
      if (body.failNext) control.failNext(body.failNext);
      if (body.hangNext) control.hangNext(body.hangNext.n ?? 1, { afterCharging: body.hangNext.afterCharging ?? false });
      if (body.approveThenHang) control.approveThenHang(body.approveThenHang);
      if (body.failCapturesNext) control.failCapturesNext(body.failCapturesNext);
    } catch (error) {
      return c.json({ error: String(error) }, 400);
    }
    return c.json({ behaviour, queued: scripts.length, stats });
  });

  const server = Bun.serve({ port, hostname, fetch: app.fetch, idleTimeout: 120 });
  const url = `http://${hostname}:${server.port}`;

  return {
    url,
    port: server.port ?? 0,
    control,
    stats: () => ({ ...stats }),
    async stop() {
      for (const release of [...hung]) release();
      await server.stop(true);
    },
  };
}

if (import.meta.main) {
  const env = process.env;
  const num = (name: string) => (env[name] === undefined || env[name] === "" ? undefined : Number(env[name]));
  const gateway = startFakePaymentGateway({
    port: num("PORT") ?? 4010,
    hostname: env.HOST ?? "127.0.0.1",
    latencyMs: num("FAKE_GATEWAY_LATENCY_MS"),
    latencyJitterMs: num("FAKE_GATEWAY_LATENCY_JITTER_MS"),
    failureRate: num("FAKE_GATEWAY_FAILURE_RATE"),
    declineRate: num("FAKE_GATEWAY_DECLINE_RATE"),
    perChargeLimit: num("FAKE_GATEWAY_PER_CHARGE_LIMIT"),
    apiKey: env.FAKE_GATEWAY_API_KEY || undefined,
  });
  console.log(`fake payment gateway listening on ${gateway.url} (POST /_control to script it, GET /_stats)`);
  const stop = () => void gateway.stop().then(() => process.exit(0));
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}
