/**
 * A fake parcel carrier that speaks the HTTP contract of modules/shipping/carrier.ts over a real
 * socket (Hono on Bun.serve), and sends SIGNED tracking webhooks back, for tests and the dev server.
 *
 *   POST /v1/shipments                         Idempotency-Key header, { orderId, address, items }
 *     201 { carrier, trackingNumber, status: "booked" }     a new booking
 *     200 (same body)                                       the same key again: the same booking (a "replay")
 *     409 { code: "IDEMPOTENCY_KEY_MISMATCH" }              same key, another order
 *     422 { code: "INVALID_ADDRESS" }                       no address
 *     400 { code: "BAD_REQUEST" }                           no key, unreadable body
 *   POST /v1/shipments/:trackingNumber/cancel
 *     200 { status: "cancelled", trackingNumber }           also when already cancelled
 *     409 { code: "ALREADY_IN_TRANSIT" }                    once in transit or delivered
 *     404 { code: "NOT_FOUND" }
 *   GET  /v1/shipments/:trackingNumber          → 200 the shipment | 404
 *   Any POST under /v1 answers 503 { code: "UNAVAILABLE" } while failAlways is on or a failNext is
 *   queued; with `failNext(n, { afterApplying: true })` the request is applied first and only the
 *   answer is lost (the "answer lost in transit" case).
 *   latencyMs before every /v1 answer.
 *
 * Webhooks: `advance(trackingNumber, status)` moves the parcel and POSTs
 *   { eventId, trackingNumber, status, occurredAt, description }
 * to `webhookUrl` (or through `webhookFetch`, e.g. straight into an in-process Hono app) with
 *   X-Carrier-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>
 * `signCarrierWebhook` builds that header on its own, so tests can forge good and bad ones. This
 * file deliberately does not import the verifier in modules/shipping: the two sides are written
 * against the contract, so a mistake in one shows up as a failed test instead of cancelling out.
 *
 * Controls over HTTP for the standalone fake: GET /_stats, GET /_shipments,
 * POST /_control { failNext?, failAlways?, latencyMs?, reset? }, POST /_advance { trackingNumber, status, eventId? }.
 *
 * Run standalone: `bun apps/fakes/carrier.ts` (PORT default 4030; FAKE_CARRIER_WEBHOOK_URL,
 * FAKE_CARRIER_WEBHOOK_SECRET, FAKE_CARRIER_LATENCY_MS).
 */
import { createHmac } from "node:crypto";
import { Hono } from "hono";

export type FakeParcelStatus = "booked" | "in_transit" | "out_for_delivery" | "delivered" | "cancelled";
export type WebhookStatus = "in_transit" | "out_for_delivery" | "delivered";

export interface FakeParcel {
  trackingNumber: string;
  carrier: string;
  idempotencyKey: string;
  orderId: number;
  address: string;
  items: unknown[];
  status: FakeParcelStatus;
  createdAt: Date;
}

export interface FakeCarrierStats {
  /** Every POST /v1/shipments that reached the handler. */
  createRequests: number;
  /** New bookings. */
  created: number;
  /** Create requests answered from the idempotency memory. */
  replayed: number;
  /** Every POST .../cancel that reached the handler. */
  cancelRequests: number;
  /** Bookings that went from booked to cancelled. */
  cancelled: number;
  /** Cancels refused with 409 (already in transit). */
  cancelRefused: number;
  /** 503 answers (scripted or failAlways). */
  failed: number;
  /** 400 / 401 / 404 / 409 mismatch / 422 answers. */
  rejected: number;
  webhooksSent: number;
  /** Webhooks the receiver did not answer with 2xx (or that could not be sent). */
  webhooksRefused: number;
}

export interface WebhookDelivery {
  eventId: string;
  /** Exactly the bytes that were sent. */
  rawBody: string;
  signature: string;
  /** The receiver's answer (0 when it could not be reached). */
  status: number;
  body: unknown;
}

export interface AdvanceOptions {
  eventId?: string;
  occurredAt?: Date;
  description?: string;
  /** Signature timestamp (unix seconds); default: now() of the fake. */
  timestampSeconds?: number;
  /** Sign with another secret (a forged webhook). */
  secret?: string;
  /** false: move the parcel at the carrier without telling anyone (the webhook is late or lost). */
  notify?: boolean;
}

export interface FakeCarrierOptions {
  port?: number;
  hostname?: string;
  /** The carrier name it reports (default "fake-carrier"). */
  carrierName?: string;
  latencyMs?: number;
  /** Where webhooks go; with webhookFetch it is only the URL of the Request handed to it. */
  webhookUrl?: string;
  /** Sends a webhook request (default: the global fetch). Tests route it into an in-process app. */
  webhookFetch?: (request: Request) => Promise<Response>;
  /** HMAC secret for the webhook signature. */
  webhookSecret?: string;
  /** The fake's clock for signature timestamps and occurredAt (tests pass their ManualClock). */
  now?: () => Date;
  /** When set, /v1 requests must carry `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
}

export interface FakeCarrier {
  url: string;
  port: number;
  carrierName: string;
  control: {
    /** The next n POSTs under /v1 answer 503; with afterApplying the request takes effect first. */
    failNext(n?: number, options?: { afterApplying?: boolean }): void;
    /** Every POST under /v1 answers 503 until turned off. */
    failAlways(on: boolean): void;
    latency(ms: number): void;
    /** Empties scripts and stats (bookings are kept: idempotency outlives a reset). */
    reset(): void;
  };
  stats(): FakeCarrierStats;
  shipments(): FakeParcel[];
  shipment(trackingNumber: string): FakeParcel | undefined;
  /** Bookings made for an order (a correct client makes at most one). */
  shipmentsFor(orderId: number): FakeParcel[];
  /** Moves a parcel and (unless notify: false) sends the signed webhook; resolves with what the receiver answered. */
  advance(trackingNumber: string, status: WebhookStatus, options?: AdvanceOptions): Promise<WebhookDelivery>;
  /** Sends exactly the same bytes and signature again (a carrier retry, or a replay attack). */
  replay(delivery: Pick<WebhookDelivery, "rawBody" | "signature">): Promise<WebhookDelivery>;
  /** Sends any body with any signature header (null: none), for forged and malformed webhooks. */
  sendWebhook(rawBody: string, signature: string | null): Promise<WebhookDelivery>;
  stop(): Promise<void>;
}

/** The X-Carrier-Signature header value for `rawBody` signed at `timestampSeconds`. */
export function signCarrierWebhook(secret: string, rawBody: string, timestampSeconds: number): string {
  const t = Math.floor(timestampSeconds);
  const v1 = createHmac("sha256", secret).update(`${t}.${rawBody}`).digest("hex");
  return `t=${t},v1=${v1}`;
}

function emptyStats(): FakeCarrierStats {
  return {
    createRequests: 0,
    created: 0,
    replayed: 0,
    cancelRequests: 0,
    cancelled: 0,
    cancelRefused: 0,
    failed: 0,
    rejected: 0,
    webhooksSent: 0,
    webhooksRefused: 0,
  };
}

const sleep = (ms: number) => (ms > 0 ? Bun.sleep(ms) : Promise.resolve());
const describeStatus: Record<WebhookStatus, string> = {
  in_transit: "Picked up by the carrier",
  out_for_delivery: "Out for delivery",
  delivered: "Delivered",
};

export function startFakeCarrier(options: FakeCarrierOptions = {}): FakeCarrier {
  const carrierName = options.carrierName ?? "fake-carrier";
  const now = options.now ?? (() => new Date());
  const secret = options.webhookSecret ?? "fake-carrier-webhook-secret";
  const webhookUrl = options.webhookUrl ?? "http://agora.test/webhooks/carrier";
  const send = options.webhookFetch ?? ((request: Request) => fetch(request));
  let latencyMs = options.latencyMs ?? 0;
  let scripts: Array<{ afterApplying: boolean }> = [];
  let failAlways = false;
  let stats = emptyStats();
  let sequence = 0;
  let eventSequence = 0;
  const byKey = new Map<string, FakeParcel>();
  const byNumber = new Map<string, FakeParcel>();
  const run = crypto.randomUUID().slice(0, 6).toUpperCase();

  /** What the next POST does: answer normally, 503 before applying, or apply and then 503. */
  function nextFailure(): "none" | "before" | "after" {
    if (failAlways) return "before";
    const script = scripts.shift();
    if (!script) return "none";
    return script.afterApplying ? "after" : "before";
  }
  const unavailable = () => {
    stats.failed++;
    return Response.json({ status: "error", code: "UNAVAILABLE", reason: "The carrier is temporarily unavailable" }, { status: 503 });
  };
  const view = (p: FakeParcel) => ({
    carrier: p.carrier,
    trackingNumber: p.trackingNumber,
    orderId: p.orderId,
    status: p.status,
    address: p.address,
    createdAt: p.createdAt.toISOString(),
  });

  const app = new Hono();

  app.use("/v1/*", async (c, next) => {
    if (options.apiKey && c.req.header("authorization") !== `Bearer ${options.apiKey}`) {
      stats.rejected++;
      return c.json({ status: "error", code: "UNAUTHORIZED" }, 401);
    }
    await sleep(latencyMs);
    await next();
  });

  app.post("/v1/shipments", async (c) => {
    stats.createRequests++;
    const key = c.req.header("idempotency-key")?.trim();
    const body = (await c.req.json().catch(() => null)) as { orderId?: unknown; address?: unknown; items?: unknown } | null;
    if (!key || key.length > 255 || !body || typeof body.orderId !== "number" || !Number.isSafeInteger(body.orderId) || !Array.isArray(body.items)) {
      stats.rejected++;
      return c.json({ status: "error", code: "BAD_REQUEST", reason: "Idempotency-Key header and a body { orderId, address, items[] } are required" }, 400);
    }
    const orderId = body.orderId;
    const seen = byKey.get(key);
    if (seen && seen.orderId !== orderId) {
      stats.rejected++;
      return c.json({ status: "error", code: "IDEMPOTENCY_KEY_MISMATCH", reason: "This key was used for another order" }, 409);
    }
    if (typeof body.address !== "string" || body.address.trim().length === 0) {
      stats.rejected++;
      return c.json({ status: "error", code: "INVALID_ADDRESS", reason: "A delivery address is required" }, 422);
    }
    const failure = nextFailure();
    if (failure === "before") return unavailable();
    let parcel = seen;
    let created = false;
    if (parcel) stats.replayed++;
    else {
      parcel = {
        trackingNumber: `FC${String(++sequence).padStart(6, "0")}${run}`,
        carrier: carrierName,
        idempotencyKey: key,
        orderId,
        address: body.address,
        items: body.items,
        status: "booked",
        createdAt: now(),
      };
      byKey.set(key, parcel);
      byNumber.set(parcel.trackingNumber, parcel);
      stats.created++;
      created = true;
    }
    if (failure === "after") return unavailable();
    return c.json({ carrier: parcel.carrier, trackingNumber: parcel.trackingNumber, status: parcel.status }, created ? 201 : 200);
  });

  app.post("/v1/shipments/:trackingNumber/cancel", (c) => {
    stats.cancelRequests++;
    const parcel = byNumber.get(c.req.param("trackingNumber"));
    if (!parcel) {
      stats.rejected++;
      return c.json({ status: "error", code: "NOT_FOUND" }, 404);
    }
    const failure = nextFailure();
    if (failure === "before") return unavailable();
    if (parcel.status === "in_transit" || parcel.status === "out_for_delivery" || parcel.status === "delivered") {
      stats.cancelRefused++;
      return c.json({ status: "error", code: "ALREADY_IN_TRANSIT", reason: `The parcel is ${parcel.status}` }, 409);
    }
    if (parcel.status === "booked") {
      parcel.status = "cancelled";
      stats.cancelled++;
    }
    if (failure === "after") return unavailable();
    return c.json({ status: "cancelled", trackingNumber: parcel.trackingNumber });
  });

  app.get("/v1/shipments/:trackingNumber", (c) => {
    const parcel = byNumber.get(c.req.param("trackingNumber"));
    return parcel ? c.json(view(parcel)) : c.json({ status: "error", code: "NOT_FOUND" }, 404);
  });

  async function sendWebhook(rawBody: string, signature: string | null): Promise<WebhookDelivery> {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (signature !== null) headers["x-carrier-signature"] = signature;
    let eventId = "";
    try {
      eventId = String((JSON.parse(rawBody) as { eventId?: unknown }).eventId ?? "");
    } catch {
      eventId = "";
    }
    stats.webhooksSent++;
    try {
      const response = await send(new Request(webhookUrl, { method: "POST", headers, body: rawBody }));
      const text = await response.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
      if (!response.ok) stats.webhooksRefused++;
      return { eventId, rawBody, signature: signature ?? "", status: response.status, body };
    } catch (error) {
      stats.webhooksRefused++;
      return { eventId, rawBody, signature: signature ?? "", status: 0, body: String(error) };
    }
  }

  async function advance(trackingNumber: string, status: WebhookStatus, advanceOptions: AdvanceOptions = {}): Promise<WebhookDelivery> {
    const parcel = byNumber.get(trackingNumber);
    if (!parcel) throw new Error(`fake carrier: no shipment ${trackingNumber}`);
    if (parcel.status === "cancelled") throw new Error(`fake carrier: ${trackingNumber} is cancelled`);
    parcel.status = status;
    const at = now();
    const payload = {
      eventId: advanceOptions.eventId ?? `evt_${run}_${String(++eventSequence).padStart(6, "0")}`,
      trackingNumber,
      status,
      occurredAt: (advanceOptions.occurredAt ?? at).toISOString(),
      description: advanceOptions.description ?? describeStatus[status],
    };
    const rawBody = JSON.stringify(payload);
    const signature = signCarrierWebhook(advanceOptions.secret ?? secret, rawBody, advanceOptions.timestampSeconds ?? Math.floor(at.getTime() / 1000));
    if (advanceOptions.notify === false) return { eventId: payload.eventId, rawBody, signature, status: 0, body: null };
    return sendWebhook(rawBody, signature);
  }

  app.get("/_stats", (c) => c.json({ ...stats }));
  app.get("/_shipments", (c) => c.json([...byNumber.values()].map(view)));
  app.get("/health", (c) => c.json({ status: "ok" }));
  app.post("/_control", async (c) => {
    const body = (await c.req.json().catch(() => ({}))) as { failNext?: number; failAlways?: boolean; latencyMs?: number; reset?: boolean };
    if (body.reset) control.reset();
    if (body.failNext) control.failNext(body.failNext);
    if (body.failAlways !== undefined) control.failAlways(body.failAlways);
    if (body.latencyMs !== undefined) control.latency(body.latencyMs);
    return c.json({ failAlways, queued: scripts.length, latencyMs, stats });
  });
  app.post("/_advance", async (c) => {
    const body = (await c.req.json().catch(() => null)) as { trackingNumber?: string; status?: WebhookStatus; eventId?: string } | null;
    if (!body?.trackingNumber || !body.status || !(body.status in describeStatus)) return c.json({ error: "{ trackingNumber, status } required" }, 400);
    try {
      return c.json(await advance(body.trackingNumber, body.status, { eventId: body.eventId }));
    } catch (error) {
      return c.json({ error: String(error) }, 404);
    }
  });

  const control: FakeCarrier["control"] = {
    failNext(n = 1, failOptions = {}) {
      for (let i = 0; i < n; i++) scripts.push({ afterApplying: failOptions.afterApplying ?? false });
    },
    failAlways(on) {
      failAlways = on;
    },
    latency(ms) {
      latencyMs = ms;
    },
    reset() {
      scripts = [];
      failAlways = false;
      latencyMs = options.latencyMs ?? 0;
      stats = emptyStats();
    },
  };

  const server = Bun.serve({ port: options.port ?? 0, hostname: options.hostname ?? "127.0.0.1", fetch: app.fetch, idleTimeout: 60 });
  return {
    url: `http://${server.hostname}:${server.port}`,
    port: server.port ?? 0,
    carrierName,
    control,
    stats: () => ({ ...stats }),
    shipments: () => [...byNumber.values()].map((p) => ({ ...p })),
    shipment: (trackingNumber) => {
      const parcel = byNumber.get(trackingNumber);
      return parcel ? { ...parcel } : undefined;
    },
    shipmentsFor: (orderId) => [...byNumber.values()].filter((p) => p.orderId === orderId).map((p) => ({ ...p })),
    advance,
    replay: (delivery) => sendWebhook(delivery.rawBody, delivery.signature),
    sendWebhook,
    async stop() {
      await server.stop(true);
    },
  };
}

if (import.meta.main) {
  const env = process.env;
  const carrier = startFakeCarrier({
    port: Number(env.PORT ?? 4030),
    hostname: env.HOST ?? "127.0.0.1",
    latencyMs: env.FAKE_CARRIER_LATENCY_MS ? Number(env.FAKE_CARRIER_LATENCY_MS) : undefined,
    webhookUrl: env.FAKE_CARRIER_WEBHOOK_URL ?? "http://127.0.0.1:3000/webhooks/carrier",
    webhookSecret: env.FAKE_CARRIER_WEBHOOK_SECRET || undefined,
  });
  console.log(`fake carrier listening on ${carrier.url} (POST /_advance to send a signed webhook, POST /_control, GET /_stats)`);
  const stop = () => void carrier.stop().then(() => process.exit(0));
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}
