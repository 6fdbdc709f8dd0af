/**
 * Webhooks for integrators. An operator registers endpoints (URL, the event types wanted); Agora
 * makes the signing secret and shows it once. Each subscribed event reaches each active endpoint
 * through the outbox in two hops:
 *   1. fan-out (destination "webhooks"): one webhook_deliveries row per active endpoint that wants
 *      the event (unique per endpoint and event, so a repeated fan-out adds nothing) and, in the same
 *      transaction, one `webhook.delivery` event per new row;
 *   2. delivery (destination "webhook"): one signed POST. The outbox retries it with backoff and
 *      declares it dead after the limit (the operators are alerted by the composition root's onDead).
 * The body is the data platform's envelope; `Agora-Signature: t=<unix seconds>,v1=<hex
 * HMAC-SHA256(secret, "<t>.<body>")>` is the scheme the carrier's webhooks use with us
 * (modules/shipping), and `Agora-Event-Id` (also the body's `id`) is the same on every attempt.
 * A paused endpoint gets no new deliveries, and the ones already queued are skipped, not sent.
 * The fan-out row is written only while an active endpoint wants the event's type (repository.ts
 * `anEndpointWants`): an endpoint receives the events written after it was registered or resumed.
 */
import { createHmac, randomBytes } from "node:crypto";
import { z } from "zod";
import type { Db } from "../../db/index.ts";
import { inTransaction } from "../../db/index.ts";
import type { Clock, Logger, Page, PiiCipher } from "../kernel/index.ts";
import { decodeCursor, encodeCursor } from "../kernel/index.ts";
import { type DeliverableEvent, type EventHandlers, type EventPublisher, eventHandler, PermanentDeliveryError } from "../outbox/index.ts";
import { webhooksErrors } from "./errors.ts";
import { type WebhookBody, webhookDelivery, webhookDeliverySubscription, webhooksSubscription } from "./events.ts";
import { type DeliveryRow, type EndpointRow, webhookRepository as repo } from "./repository.ts";
import type { CreateEndpointInput, ListDeliveriesFilter, ListEndpointsFilter, WebhookDelivery, WebhookEndpoint } from "./schema.ts";
import { checkTarget, type Resolve, resolveWithDns, TargetRefusedError } from "./target.ts";

export const SECRET_COLUMN = "webhook_endpoints.secret";
export const WEBHOOK_SIGNATURE_HEADER = "Agora-Signature";
export const WEBHOOK_EVENT_ID_HEADER = "Agora-Event-Id";

export interface WebhookConfig {
  /** Lets endpoints point at loopback and private addresses (tests, internal integrations). */
  allowPrivateTargets: boolean;
  /** One attempt's whole exchange. */
  timeoutMs: number;
}

export interface WebhookDeps {
  db: Db;
  clock: Clock;
  logger: Logger;
  /** Seals the signing secrets at rest. */
  cipher: PiiCipher;
  events: EventPublisher;
  config: WebhookConfig;
  /** Injected for tests; default: the system resolver. */
  resolve?: Resolve;
  fetch?: typeof fetch;
}

const cursorShape = z.number().int().positive();

function toEndpoint(row: EndpointRow): WebhookEndpoint {
  return {
    id: row.id,
    url: row.url,
    eventTypes: row.event_types,
    description: row.description,
    status: row.status,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function toDelivery(row: DeliveryRow): WebhookDelivery {
  return {
    id: row.id,
    endpointId: row.endpoint_id,
    eventId: row.event_id,
    eventType: row.event_type,
    status: row.status,
    attempts: row.attempts,
    lastStatusCode: row.last_status_code,
    lastError: row.last_error,
    createdAt: row.created_at,
    lastAttemptAt: row.last_attempt_at,
    deliveredAt: row.delivered_at,
  };
}

/** `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`: what a receiver checks (see docs/api.md). */
export function signWebhook(secret: string, body: string, timestampSeconds: number): string {
  return `t=${timestampSeconds},v1=${createHmac("sha256", secret).update(`${timestampSeconds}.${body}`).digest("hex")}`;
}

export type WebhookService = ReturnType<typeof createWebhookService>;

export function createWebhookService(deps: WebhookDeps) {
  const { db, clock, logger, cipher, events, config } = deps;
  const resolve = deps.resolve ?? resolveWithDns;
  const send = deps.fetch ?? fetch;

  async function create(input: CreateEndpointInput, actorId: number): Promise<{ endpoint: WebhookEndpoint; secret: string }> {
    try {
      await checkTarget(input.url, { allowPrivate: config.allowPrivateTargets, resolve, lenient: true });
    } catch (error) {
      if (error instanceof TargetRefusedError) throw webhooksErrors.WEBHOOK_TARGET_NOT_ALLOWED.create({ url: input.url, reason: error.message });
      throw error;
    }
    const secret = `whsec_${randomBytes(24).toString("base64url")}`;
    const row = await repo.insertEndpoint(db, {
      url: input.url,
      secret: await cipher.seal(secret, SECRET_COLUMN),
      eventTypes: [...new Set(input.eventTypes)],
      description: input.description,
      createdBy: actorId,
      at: clock.now(),
    });
    logger.info({ endpointId: row.id, eventTypes: row.event_types }, "webhook endpoint registered");
    return { endpoint: toEndpoint(row), secret };
  }

  async function setStatus(endpointId: number, status: "active" | "paused"): Promise<WebhookEndpoint> {
    const row = await repo.setStatus(db, endpointId, status, clock.now());
    if (!row) throw webhooksErrors.WEBHOOK_ENDPOINT_NOT_FOUND.create({ endpointId });
    return toEndpoint(row);
  }

  async function list(filter: ListEndpointsFilter): Promise<Page<WebhookEndpoint>> {
    const rows = await repo.listEndpoints(db, { status: filter.status, beforeId: decodeCursor(filter.cursor, cursorShape), limit: filter.limit + 1 });
    const page = rows.slice(0, filter.limit);
    const last = page.at(-1);
    return { items: page.map(toEndpoint), nextCursor: rows.length > filter.limit && last ? encodeCursor(last.id) : null };
  }

  async function deliveries(filter: ListDeliveriesFilter): Promise<Page<WebhookDelivery>> {
    if (!(await repo.findEndpoint(db, filter.endpointId))) throw webhooksErrors.WEBHOOK_ENDPOINT_NOT_FOUND.create({ endpointId: filter.endpointId });
    const rows = await repo.listDeliveries(db, {
      endpointId: filter.endpointId,
      status: filter.status,
      beforeId: decodeCursor(filter.cursor, cursorShape),
      limit: filter.limit + 1,
    });
    const page = rows.slice(0, filter.limit);
    const last = page.at(-1);
    return { items: page.map(toDelivery), nextCursor: rows.length > filter.limit && last ? encodeCursor(last.id) : null };
  }

  /**
   * Hop 1: one delivery per active endpoint that wants the event, written with its outbox event.
   * Most events have no endpoint (a shop without integrators, a type nobody asked for): one read
   * and done, no transaction. The endpoints are read before the transaction; that is no weaker
   * than reading them inside it (read committed), and a repeated fan-out adds nothing.
   */
  async function fanOut(_payload: unknown, event: DeliverableEvent): Promise<void> {
    const endpoints = await repo.activeFor(db, event.type);
    if (endpoints.length === 0) return;
    const body: WebhookBody = {
      id: event.id,
      type: event.type,
      occurredAt: event.createdAt.toISOString(),
      aggregate: { type: event.aggregateType, id: event.aggregateId },
      data: event.payload as WebhookBody["data"],
    };
    await inTransaction(db, async (trx) => {
      const now = clock.now();
      const created = await repo.insertDeliveries(
        trx,
        endpoints.map((e) => ({ endpointId: e.id, eventId: event.id, eventType: event.type, at: now })),
      );
      await events.publish(
        trx,
        now,
        created.map((d) =>
          webhookDelivery.event(`${d.endpoint_id}:${event.aggregateType}:${event.aggregateId}`, { deliveryId: d.id, endpointId: d.endpoint_id, body }),
        ),
      );
    });
  }

  /** Hop 2: one signed POST. Throws to be retried; PermanentDeliveryError when retrying cannot help. */
  async function deliver(payload: { deliveryId: number; endpointId: number; body: WebhookBody }): Promise<void> {
    const [delivery, endpoint] = await Promise.all([repo.findDelivery(db, payload.deliveryId), repo.findEndpoint(db, payload.endpointId)]);
    // Deleted with its endpoint, or delivered by an earlier attempt whose outcome the outbox lost.
    if (!delivery || !endpoint || delivery.status === "delivered") return;
    if (endpoint.status === "paused") {
      await repo.setDeliveryStatus(db, delivery.id, "skipped", "the endpoint was paused");
      return;
    }
    const at = clock.now();
    const fail = async (statusCode: number | null, error: string, permanent: boolean): Promise<never> => {
      await repo.recordAttempt(db, delivery.id, { status: "failed", statusCode, error, at });
      throw permanent ? new PermanentDeliveryError(`webhook ${endpoint.id}: ${error}`) : new Error(`webhook ${endpoint.id}: ${error}`);
    };
    try {
      await checkTarget(endpoint.url, { allowPrivate: config.allowPrivateTargets, resolve });
    } catch (error) {
      if (error instanceof TargetRefusedError) return fail(null, `refused: ${error.message}`, true);
      throw error;
    }
    const body = JSON.stringify(payload.body);
    const secret = await cipher.open(endpoint.secret, SECRET_COLUMN);
    let response: Response;
    try {
      response = await send(endpoint.url, {
        method: "POST",
        body,
        // Never followed: a redirect could point the call at an address the check above refuses.
        redirect: "manual",
        signal: AbortSignal.timeout(config.timeoutMs),
        headers: {
          "content-type": "application/json",
          "user-agent": "Agora-Webhooks/1",
          [WEBHOOK_SIGNATURE_HEADER]: signWebhook(secret, body, Math.floor(at.getTime() / 1000)),
          [WEBHOOK_EVENT_ID_HEADER]: payload.body.id,
          "Agora-Event-Type": payload.body.type,
        },
      });
    } catch (error) {
      const timedOut = error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError");
      return fail(
        null,
        timedOut ? `timed out after ${config.timeoutMs} ms` : `could not connect: ${error instanceof Error ? error.message : String(error)}`,
        false,
      );
    }
    const excerpt = (await response.text().catch(() => "")).slice(0, 200);
    if (response.status >= 300 && response.status < 400)
      return fail(response.status, `answered a redirect (HTTP ${response.status}); redirects are not followed`, true);
    if (response.status < 200 || response.status >= 300) return fail(response.status, `answered HTTP ${response.status} ${excerpt}`.trim(), false);
    await repo.recordAttempt(db, delivery.id, { status: "delivered", statusCode: response.status, error: null, at });
    logger.info({ endpointId: endpoint.id, deliveryId: delivery.id, eventId: payload.body.id, type: payload.body.type }, "webhook delivered");
  }

  const fanOutHandlers = Object.fromEntries(webhooksSubscription.events.map((c) => [c.type, fanOut])) as EventHandlers<typeof webhooksSubscription.events>;

  return {
    create,
    list,
    pause: (endpointId: number) => setStatus(endpointId, "paused"),
    resume: (endpointId: number) => setStatus(endpointId, "active"),
    deliveries,
    /** Outbox handler of `webhooksSubscription` (destination "webhooks"). */
    handleEvent: eventHandler(webhooksSubscription, fanOutHandlers),
    /** Outbox handler of `webhookDeliverySubscription` (destination "webhook"). */
    handleDelivery: eventHandler(webhookDeliverySubscription, { "webhook.delivery": deliver }),
    /** The outbox gave up on a delivery (compose's onDead): the log says dead. */
    async onDead(event: DeliverableEvent, error: string): Promise<void> {
      if (event.destination !== webhookDeliverySubscription.destination) return;
      const parsed = webhookDelivery.schema.safeParse(event.payload);
      if (parsed.success) await repo.setDeliveryStatus(db, parsed.data.deliveryId, "dead", error);
    },
  };
}
