/**
 * Shipping: books a parcel with the carrier when an order is paid, cancels it when the order is
 * cancelled first, and follows the carrier's signed tracking webhooks to move the order along
 * (preparing → shipped → delivered), announcing each step through the outbox.
 *
 * Lock order (db/unit-of-work.ts): the order row (rank Order, taken by orders.advanceForShipping)
 * always before the shipment row (rank Shipment). Every change that moves both happens in ONE
 * transaction that takes the order first, so a shipment and its order never disagree for long,
 * and concurrent carrier updates of one order serialize on the order row.
 *
 * The carrier is called outside any transaction (no row lock is held across the network). What
 * makes retries safe is the carrier's idempotency: the booking key is the outbox event id, so a
 * redelivered order.paid gets the same booking back, never a second parcel. A parcel booked to an
 * address the order left meanwhile (orders.changeAddress) is recorded in the transaction that sees
 * the change, with a shipment.booking_stale event to shipping itself that cancels it at the carrier
 * (retried until the carrier confirms); the order.paid retry then books the new address.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { z } from "zod";
import type { Db, OrderStatus, ShipmentStatus, Tx } from "../../db/index.ts";
import { inTransaction, pgConstraint, pgErrorCode } from "../../db/index.ts";
import type { Clock, Logger, Page, PiiCipher } from "../kernel/index.ts";
import { createPiiCipher, decodeCursor, developmentPiiKeys, encodeCursor } from "../kernel/index.ts";
import { assertTransition, canTransition, type OrdersService, orderCancelled, orderPaid } from "../orders/index.ts";
import { type DeliverableEvent, type EventPublisher, eventHandler, type OutboxEvent, PermanentDeliveryError, subscribe } from "../outbox/index.ts";
import { type Carrier, type CarrierBooking, CarrierTooLateError } from "./carrier.ts";
import { shippingErrors } from "./errors.ts";
import { shipmentBookingStale, shipmentDelivered, shipmentShipped } from "./events.ts";
import { shippingRepository as repo, type ShipmentRow } from "./repository.ts";
import {
  type CarrierWebhookBody,
  carrierWebhookBody,
  type ShipmentDetail,
  type ShipmentFilter,
  type ShipmentSummary,
  type ShipmentTracking,
  type WebhookResult,
} from "./schema.ts";

/** What shipping needs of orders: read an order, and move it inside shipping's transaction. */
export type ShippingOrders = Pick<OrdersService, "shippable" | "advanceForShipping">;

export interface CarrierWebhookConfig {
  /** HMAC-SHA256 key shared with the carrier. */
  secret: string;
  /** A signature older or newer than this (against our clock) is refused: limits replays of a captured request. */
  toleranceSeconds: number;
}

export interface ShippingDeps {
  db: Db;
  clock: Clock;
  logger: Logger;
  orders: ShippingOrders;
  carrier: Carrier;
  webhook: { secret: string; toleranceSeconds?: number };
  /** Seals the delivery address at rest (default: the development keys). */
  cipher?: PiiCipher;
  /** Publishes shipping's events (events.ts) to their subscribers. */
  events: EventPublisher;
}

/** What shipping receives from the outbox: paid orders to book, cancelled ones to call off, its own stale parcels to cancel. */
export const shippingSubscription = subscribe("shipping", [orderPaid, orderCancelled, shipmentBookingStale]);

const defaultWebhookToleranceSeconds = 300;

/** The webhook body is not what the carrier contract says. Same code as tRPC's input validation failures. */
export class InvalidWebhookPayloadError extends Error {
  override name = "InvalidWebhookPayloadError";
  readonly code = "VALIDATION_FAILED";
  constructor(
    message: string,
    readonly fieldErrors: Record<string, string[] | undefined> | null = null,
  ) {
    super(message);
  }
}

/** Thrown inside a webhook transaction that found its event already recorded: rolls back everything it did. */
class DuplicateCarrierEvent extends Error {}

/** Orders that will never ship: a shipment of theirs is cancelled, not booked. */
const gone: ReadonlySet<OrderStatus> = new Set(["cancelled", "refunded", "expired"]);
/** How far a shipment got; a carrier update never moves one backwards. Cancelled stands apart. */
const progress: Record<Exclude<ShipmentStatus, "cancelled">, number> = { requested: 0, ready: 1, in_transit: 2, delivered: 3 };
const rank = (status: ShipmentStatus) => (status === "cancelled" ? -1 : progress[status]);

const defaultDescriptions: Record<CarrierWebhookBody["status"], string> = {
  in_transit: "In transit",
  out_for_delivery: "Out for delivery",
  delivered: "Delivered",
};

const ADDRESS_COLUMN = "shipping_shipments.address";

function toSummary(row: ShipmentRow, address: string | null): ShipmentSummary {
  return {
    shipmentId: row.id,
    orderId: row.order_id,
    userId: row.user_id,
    status: row.status,
    carrier: row.carrier,
    trackingNumber: row.tracking_number,
    address,
    requestedAt: row.requested_at,
    updatedAt: row.updated_at,
    deliveredAt: row.delivered_at,
  };
}

export type ShippingService = ReturnType<typeof createShippingService>;

/** The timeline status of a parcel booked to an address the order no longer ships to. */
const STALE_BOOKING = "booking_stale";
/** The timeline status once the carrier confirmed a stale parcel cancelled. */
const STALE_BOOKING_CANCELLED = "booking_stale_cancelled";

export function createShippingService(deps: ShippingDeps) {
  const { db, clock, logger, orders, carrier } = deps;
  const cipher = deps.cipher ?? createPiiCipher(developmentPiiKeys);
  const openAddress = (row: ShipmentRow) => (row.address === null ? Promise.resolve(null) : cipher.open(row.address, ADDRESS_COLUMN));
  const summaryOf = async (row: ShipmentRow) => toSummary(row, await openAddress(row));
  const webhook: CarrierWebhookConfig = { secret: deps.webhook.secret, toleranceSeconds: deps.webhook.toleranceSeconds ?? defaultWebhookToleranceSeconds };
  if (!webhook.secret) throw new Error("shipping: the carrier webhook secret must not be empty");
  if (!(Number.isInteger(webhook.toleranceSeconds) && webhook.toleranceSeconds > 0))
    throw new Error("shipping: webhook.toleranceSeconds must be a positive integer");

  /** Records a line of the timeline on a locked shipment, without changing its status. */
  async function note(shipmentId: number, status: string, description: string): Promise<void> {
    await inTransaction(db, async (trx) => {
      const now = clock.now();
      await repo.lockShipment(trx, shipmentId);
      await repo.insertTrackingEvent(trx, { shipmentId, carrierEventId: null, status, description, occurredAt: now, receivedAt: now });
    });
  }

  /**
   * Cancels a shipment that has not left: at the carrier first (when booked), then here.
   * `atCarrier` is the booking to cancel (the stored one by default). The carrier refusing because
   * the parcel already left is recorded and becomes a PermanentDeliveryError: the outbox event goes
   * dead and alerts the operators, since someone has to intercept the parcel of a refunded order.
   */
  async function cancelShipment(shipmentId: number, reason: string, atCarrier?: string): Promise<void> {
    const shipment = await repo.find(db, shipmentId);
    if (!shipment || shipment.status === "in_transit" || shipment.status === "delivered") return;
    const trackingNumber = atCarrier ?? (shipment.status === "cancelled" ? null : shipment.tracking_number);
    if (trackingNumber) {
      try {
        await carrier.cancelShipment({ trackingNumber });
      } catch (error) {
        if (!(error instanceof CarrierTooLateError)) throw error;
        await note(shipmentId, "cancel_refused", `The carrier could not cancel ${trackingNumber}: the parcel is already on its way`);
        logger.error(
          { shipmentId, orderId: shipment.order_id, trackingNumber },
          "carrier refused to cancel the shipment of a cancelled order: intercept it by hand",
        );
        throw new PermanentDeliveryError(`carrier refused to cancel ${trackingNumber}: already in transit (order ${shipment.order_id} is ${reason})`);
      }
    }
    await inTransaction(db, async (trx) => {
      const now = clock.now();
      const locked = await repo.lockShipment(trx, shipmentId);
      if (!locked || (locked.status !== "requested" && locked.status !== "ready")) return;
      await repo.update(trx, shipmentId, { status: "cancelled", at: now });
      await repo.insertTrackingEvent(trx, {
        shipmentId,
        carrierEventId: null,
        status: "cancelled",
        description: `Shipment cancelled: the order was ${reason}`,
        occurredAt: now,
        receivedAt: now,
      });
    });
    logger.info({ shipmentId, orderId: shipment.order_id, trackingNumber }, "shipment cancelled");
  }

  /** The order went away while the carrier was booking: keep the booking on record, then cancel it. */
  async function undoBooking(shipmentId: number, booking: CarrierBooking, reason: string): Promise<void> {
    await inTransaction(db, async (trx) => {
      const locked = await repo.lockShipment(trx, shipmentId);
      if (locked && locked.tracking_number === null) {
        await repo.update(trx, shipmentId, { carrier: booking.carrier, trackingNumber: booking.trackingNumber, at: clock.now() });
      }
    });
    await cancelShipment(shipmentId, reason, booking.trackingNumber);
  }

  /**
   * Inside the caller's transaction (shipment locked by it or here): a parcel booked to an address the
   * order no longer ships to, recorded on the timeline with its cancellation (shipment.booking_stale,
   * an outbox event to shipping itself) before anything is sent to the carrier, so a carrier that is
   * down, or this process dying, cannot leave it booked. Each one moves the booking key on (keyFor).
   */
  async function recordStaleBooking(trx: Tx, orderId: number, shipmentId: number, booking: CarrierBooking): Promise<void> {
    const now = clock.now();
    await repo.lockShipment(trx, shipmentId);
    await repo.update(trx, shipmentId, { bookingAddress: null, at: now });
    await repo.insertTrackingEvent(trx, {
      shipmentId,
      carrierEventId: null,
      status: STALE_BOOKING,
      description: `Booked with ${booking.carrier} (tracking number ${booking.trackingNumber}) to an address the order no longer ships to: cancelling it`,
      occurredAt: now,
      receivedAt: now,
    });
    const stale = { orderId, shipmentId, carrier: booking.carrier, trackingNumber: booking.trackingNumber };
    await deps.events.publish(trx, now, [shipmentBookingStale.event(shipmentId, stale)]);
  }

  async function onOrderPaid({ orderId }: { orderId: number }, event: DeliverableEvent): Promise<void> {
    const order = await orders.shippable(db, orderId);
    if (!order) throw new PermanentDeliveryError(`order.paid ${event.id}: order ${orderId} does not exist`);
    /** The shipment this delivery created just now: nothing recorded stale, requested to the address being booked. */
    let createdNow: ShipmentRow | undefined;
    /**
     * The carrier's idempotency key is the event id for the address the shipment was first requested
     * to; an address changed since (orders.changeAddress before booking) books under its own key
     * (event id + address fingerprint), and each stale booking recorded for the shipment moves the key
     * on. So a retry for the same address with nothing recorded stale in between gets the same parcel
     * back (never a second one), and an address changed back books a new parcel instead of getting
     * the cancelled one answered again.
     */
    const keyFor = async (address: string, row: ShipmentRow | undefined) => {
      if (row !== undefined && row === createdNow && address === order.shippingAddress) return event.id;
      const first = row?.address ? await cipher.open(row.address, ADDRESS_COLUMN) : address;
      const stale = row ? await repo.countEntries(db, row.id, STALE_BOOKING) : 0;
      if (first === address && stale === 0) return event.id;
      const fingerprint = createHash("sha256").update(address).digest("hex").slice(0, 16);
      return stale === 0 ? `${event.id}:${fingerprint}` : `${event.id}:${fingerprint}:${stale}`;
    };
    const book = async (address: string, row: ShipmentRow | undefined) =>
      carrier.createShipment({
        idempotencyKey: await keyFor(address, row),
        orderId,
        address,
        items: order.lines.map((l) => ({ productId: l.productId, productName: l.productName, quantity: l.quantity })),
      });
    /** The address an earlier attempt asked the carrier to book and did not record the answer of (null: none). */
    const askedEarlier = (row: ShipmentRow) => (row.booking_address === null ? Promise.resolve(null) : cipher.open(row.booking_address, ADDRESS_COLUMN));
    if (gone.has(order.status)) {
      const shipment = await repo.findByOrder(db, orderId);
      // Cancelled before we booked anything: nothing to ship.
      if (!shipment) return;
      const askedTo = (await askedEarlier(shipment)) ?? order.shippingAddress;
      if (shipment.tracking_number === null && (shipment.status === "requested" || shipment.status === "cancelled") && event.attempts > 0 && askedTo) {
        // An earlier attempt of this event may have reached the carrier and failed before recording the booking:
        // the same key gets that booking back (or books one that is cancelled at once), so none is left behind.
        await undoBooking(shipment.id, await book(askedTo, shipment), order.status);
        return;
      }
      await cancelShipment(shipment.id, order.status);
      return;
    }
    // Inserted first (the usual case: the first delivery of the event); a shipment already there is read.
    // Sealed once: the shipment's address copy, and the booking about to be asked for (noted with the
    // insert when the order can be booked right away, so a process dying before the answer leaves it behind).
    const sealedAddress = order.shippingAddress === null ? null : await cipher.seal(order.shippingAddress, ADDRESS_COLUMN);
    const bookable = sealedAddress !== null && (order.status === "paid" || order.status === "preparing");
    createdNow = await repo.insertRequested(db, {
      orderId,
      userId: order.userId,
      address: sealedAddress,
      bookingAddress: bookable ? sealedAddress : null,
      at: clock.now(),
    });
    const shipment = createdNow ?? (await repo.findByOrder(db, orderId));
    if (!shipment) throw new Error(`shipment of order ${orderId} vanished`);
    // Booked by an earlier delivery of this event (or by an operator): done.
    if (shipment.status !== "requested") return;
    if (order.status !== "paid" && order.status !== "preparing") {
      logger.warn({ orderId, orderStatus: order.status, shipmentId: shipment.id }, "order moved past shipping without a booking; not booking");
      return;
    }
    if (!order.shippingAddress)
      throw new PermanentDeliveryError(`order ${orderId} has no shipping address; set one and book by hand (admin.setTrackingNumber)`);

    const bookedTo = order.shippingAddress;
    const shipmentId = shipment.id;
    /** The booking noted with the insert above (this delivery's own): nothing asked earlier, nothing to note again. */
    const notedWithInsert = createdNow !== undefined && createdNow.booking_address !== null;
    const earlierTo = notedWithInsert ? null : await askedEarlier(shipment);
    if (earlierTo !== null && earlierTo !== bookedTo) {
      // An earlier attempt asked for another address and died before recording the answer (the address
      // changed since): its key gets that parcel back (or books one), recorded stale and cancelled.
      const earlier = await book(earlierTo, shipment);
      await inTransaction(db, async (trx) => {
        const locked = await repo.lockShipment(trx, shipmentId);
        if (locked?.status === "requested" && locked.booking_address !== null) await recordStaleBooking(trx, orderId, shipmentId, earlier);
      });
    }
    // Recorded before the carrier is asked: a process dying before the answer is recorded leaves this behind.
    if (!notedWithInsert) await repo.noteBookingAddress(db, shipmentId, await cipher.seal(bookedTo, ADDRESS_COLUMN));
    const booked = await book(bookedTo, shipment);
    /** Booked; the lifecycle refused to move the order to preparing (from that status); or booked to an address the order left. */
    type Outcome = { kind: "booked" } | { kind: "refused"; from: OrderStatus } | { kind: "stale" };
    let outcome: Outcome;
    try {
      outcome = await inTransaction(db, async (trx): Promise<Outcome> => {
        const now = clock.now();
        // The order moves only if it still ships to the address just booked (read under its lock).
        const move = await orders.advanceForShipping(trx, orderId, "preparing", { onlyIfShippingAddress: bookedTo });
        if (move.shippingAddress !== bookedTo && !gone.has(move.from)) {
          // The address changed while the carrier was booking: this parcel must not go.
          await recordStaleBooking(trx, orderId, shipmentId, booked);
          return { kind: "stale" };
        }
        if (!move.reached) return { kind: "refused", from: move.from };
        // Not requested any more: a concurrent delivery of the same event booked it first.
        await repo.markBooked(trx, shipmentId, {
          carrier: booked.carrier,
          trackingNumber: booked.trackingNumber,
          // The copy sealed for the insert is of this very address when this delivery created the shipment.
          address: notedWithInsert ? sealedAddress : await cipher.seal(bookedTo, ADDRESS_COLUMN),
          description: `Booked with ${booked.carrier}, tracking number ${booked.trackingNumber}`,
          at: now,
        });
        return { kind: "booked" };
      });
    } catch (error) {
      if (pgErrorCode(error) === "23505")
        throw new PermanentDeliveryError(`carrier answered tracking number ${booked.trackingNumber}, which belongs to another shipment`);
      throw error;
    }
    if (outcome.kind === "stale") {
      // The retry books the new address under a new key; shipment.booking_stale cancels the old parcel.
      logger.info(
        { orderId, shipmentId, trackingNumber: booked.trackingNumber },
        "address changed while booking: stale booking recorded for cancelling, booking again",
      );
      throw new Error(`order ${orderId}: the shipping address changed while booking ${booked.trackingNumber}; booking again`);
    }
    if (outcome.kind === "booked") {
      logger.info({ orderId, shipmentId, carrier: booked.carrier, trackingNumber: booked.trackingNumber }, "shipment booked");
      return;
    }
    const refusedFrom = outcome.from;
    if (!gone.has(refusedFrom)) {
      logger.warn({ orderId, orderStatus: refusedFrom, shipmentId }, "order moved on while booking; keeping it as it is");
      return;
    }
    // Cancelled while the carrier was booking: the booking must not ship. Handled here, not retried.
    await undoBooking(shipmentId, booked, refusedFrom);
  }

  async function onOrderCancelled({ orderId }: { orderId: number }): Promise<void> {
    const shipment = await repo.findByOrder(db, orderId);
    // Nothing booked yet: order.paid, when it comes, finds the order cancelled and books nothing.
    if (!shipment) return;
    await cancelShipment(shipment.id, "cancelled");
  }

  /**
   * A parcel booked to an address the order no longer ships to (recorded by onOrderPaid): cancelled
   * at the carrier, retried by the outbox until the carrier confirms (cancelling twice is fine, so
   * the tracking number makes it idempotent). Too late (already on its way) is recorded, and the
   * event goes dead to alert the operators: someone has to intercept that parcel.
   */
  async function onBookingStale({ orderId, shipmentId, trackingNumber }: { orderId: number; shipmentId: number; trackingNumber: string }): Promise<void> {
    try {
      await carrier.cancelShipment({ trackingNumber });
    } catch (error) {
      if (!(error instanceof CarrierTooLateError)) throw error;
      await note(
        shipmentId,
        "cancel_refused",
        `The carrier could not cancel ${trackingNumber} (booked to a previous address): the parcel is already on its way`,
      );
      logger.error({ shipmentId, orderId, trackingNumber }, "carrier refused to cancel a parcel booked to a previous address: intercept it by hand");
      throw new PermanentDeliveryError(`carrier refused to cancel ${trackingNumber} (order ${orderId}, booked to a previous address): already in transit`);
    }
    await note(shipmentId, STALE_BOOKING_CANCELLED, `Booking ${trackingNumber} to the previous address cancelled with the carrier`);
    logger.info({ shipmentId, orderId, trackingNumber }, "stale booking cancelled");
  }

  /** The outbox handler of `shippingSubscription`: throw to retry, PermanentDeliveryError for hopeless. */
  const handleOutboxEvent = eventHandler(shippingSubscription, {
    "order.paid": onOrderPaid,
    "order.cancelled": onOrderCancelled,
    "shipment.booking_stale": onBookingStale,
  });

  // ── carrier webhooks ─────────────────────────────────────────────────────

  function invalidSignature(reason: "missing" | "malformed" | "expired" | "mismatch") {
    return shippingErrors.INVALID_SIGNATURE.create({ reason });
  }

  /** `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<rawBody>")>`; several v1 entries are allowed (key rotation at the carrier). */
  function verifySignature(rawBody: string, header: string | null): void {
    if (!header) throw invalidSignature("missing");
    let timestamp: string | undefined;
    const signatures: string[] = [];
    for (const part of header.split(",")) {
      const at = part.indexOf("=");
      const key = part.slice(0, at).trim();
      const value = part.slice(at + 1).trim();
      if (at <= 0) continue;
      if (key === "t") timestamp = value;
      else if (key === "v1") signatures.push(value);
    }
    if (!timestamp || !/^\d{1,12}$/.test(timestamp) || signatures.length === 0) throw invalidSignature("malformed");
    const nowSeconds = Math.floor(clock.now().getTime() / 1000);
    if (Math.abs(nowSeconds - Number(timestamp)) > webhook.toleranceSeconds) throw invalidSignature("expired");
    const expected = createHmac("sha256", webhook.secret).update(`${timestamp}.${rawBody}`).digest();
    const matches = signatures.some((signature) => /^[0-9a-f]{64}$/i.test(signature) && timingSafeEqual(Buffer.from(signature, "hex"), expected));
    if (!matches) throw invalidSignature("mismatch");
  }

  function parseWebhook(rawBody: string): CarrierWebhookBody {
    let json: unknown;
    try {
      json = JSON.parse(rawBody);
    } catch {
      throw new InvalidWebhookPayloadError("The webhook body is not JSON");
    }
    const parsed = carrierWebhookBody.safeParse(json);
    if (!parsed.success) throw new InvalidWebhookPayloadError("The webhook body does not match the carrier contract", z.flattenError(parsed.error).fieldErrors);
    return parsed.data;
  }

  /**
   * Moves the order for a carrier step (inside the caller's transaction, rank Order). False when the
   * order cannot go there: cancelled (the carrier shipped it anyway) or already further along.
   * A delivery reported before any in-transit update takes the order through "shipped" first.
   */
  async function moveOrder(trx: Tx, orderId: number, to: "shipped" | "delivered"): Promise<boolean> {
    const move = await orders.advanceForShipping(trx, orderId, to);
    if (move.reached) return true;
    if (to === "delivered" && canTransition(move.from, "shipped")) {
      await orders.advanceForShipping(trx, orderId, "shipped");
      return (await orders.advanceForShipping(trx, orderId, "delivered")).reached;
    }
    return false;
  }

  async function applyCarrierUpdate(trx: Tx, seen: ShipmentRow, update: CarrierWebhookBody): Promise<WebhookResult> {
    const now = clock.now();
    const occurredAt = new Date(update.occurredAt);
    const target: "in_transit" | "delivered" = update.status === "delivered" ? "delivered" : "in_transit";
    // The order first (rank Order). Its row lock also serializes this with every other change of the shipment.
    const orderMoves =
      seen.status !== "cancelled" && progress[target] > rank(seen.status)
        ? await moveOrder(trx, seen.order_id, target === "delivered" ? "delivered" : "shipped")
        : null;
    const shipment = await repo.lockShipment(trx, seen.id);
    if (!shipment) throw new Error(`shipment ${seen.id} vanished`);
    const recorded = await repo.insertTrackingEvent(trx, {
      shipmentId: shipment.id,
      carrierEventId: update.eventId,
      status: update.status,
      description: update.description ?? defaultDescriptions[update.status],
      occurredAt,
      receivedAt: now,
    });
    if (recorded === undefined) throw new DuplicateCarrierEvent();

    const advances = shipment.status !== "cancelled" && progress[target] > rank(shipment.status);
    if (!advances) {
      // A repeated or late step (out_for_delivery while in transit, in_transit after delivered): on the timeline only.
      if (shipment.status === "cancelled")
        logger.warn({ shipmentId: shipment.id, eventId: update.eventId, status: update.status }, "carrier update for a cancelled shipment");
      return { status: "applied" };
    }
    // Cannot happen (shipments only move forward, under the order lock); retried by the carrier if it does.
    if (orderMoves === null) throw new Error(`shipment ${shipment.id} moved back from ${seen.status} to ${shipment.status}`);
    await repo.update(trx, shipment.id, { status: target, ...(target === "delivered" ? { deliveredAt: occurredAt } : {}), at: now });
    if (!orderMoves) {
      logger.error(
        { shipmentId: shipment.id, orderId: shipment.order_id, status: update.status },
        "the carrier moved the shipment of an order that cannot ship (cancelled?)",
      );
      return { status: "applied" };
    }
    const step = {
      orderId: shipment.order_id,
      userId: shipment.user_id,
      trackingNumber: shipment.tracking_number,
      carrier: shipment.carrier,
      occurredAt: occurredAt.toISOString(),
    };
    const events: OutboxEvent[] = [];
    if (rank(shipment.status) < progress.in_transit) events.push(shipmentShipped.event(shipment.id, step));
    if (target === "delivered") events.push(shipmentDelivered.event(shipment.id, step));
    await deps.events.publish(trx, now, events);
    return { status: "applied" };
  }

  /**
   * A tracking update from the carrier. Checked before anything is read: the signature and its age
   * (INVALID_SIGNATURE), then the body (InvalidWebhookPayloadError), then the tracking number
   * (SHIPMENT_NOT_FOUND). An event id already recorded changes nothing and answers "duplicate".
   */
  async function handleCarrierWebhook(rawBody: string, signatureHeader: string | null): Promise<WebhookResult> {
    verifySignature(rawBody, signatureHeader);
    const update = parseWebhook(rawBody);
    const shipment = await repo.findByTrackingNumber(db, update.trackingNumber);
    if (!shipment) throw shippingErrors.SHIPMENT_NOT_FOUND.create({ trackingNumber: update.trackingNumber });
    if (await repo.hasCarrierEvent(db, update.eventId)) return { status: "duplicate" };
    try {
      const result = await inTransaction(db, (trx) => applyCarrierUpdate(trx, shipment, update));
      logger.info({ shipmentId: shipment.id, eventId: update.eventId, status: update.status }, "carrier update applied");
      return result;
    } catch (error) {
      // A concurrent delivery of the same event committed first: this one rolled back whole.
      if (error instanceof DuplicateCarrierEvent) return { status: "duplicate" };
      if (pgErrorCode(error) === "23505" && pgConstraint(error) === "shipping_tracking_events_carrier_event_key") return { status: "duplicate" };
      throw error;
    }
  }

  // ── reading ─────────────────────────────────────────────────────────────

  async function detail(row: ShipmentRow): Promise<ShipmentDetail> {
    const timeline = await repo.timeline(db, row.id);
    return {
      ...(await summaryOf(row)),
      timeline: timeline.map((e) => ({
        status: e.status,
        description: e.description,
        occurredAt: e.occurred_at,
        receivedAt: e.received_at,
        carrierEventId: e.carrier_event_id,
      })),
    };
  }

  async function get(orderId: number): Promise<ShipmentDetail> {
    const row = await repo.findByOrder(db, orderId);
    if (!row) throw shippingErrors.SHIPMENT_NOT_FOUND.create({ orderId });
    return detail(row);
  }

  return {
    handleOutboxEvent,
    handleCarrierWebhook,

    /** Erasing an account, inside that transaction: the address copies on its shipments go. */
    eraseAddressesOf: (trx: Tx, userId: number) => repo.eraseAddressesOf(trx, userId),

    /** The customer's view of their order's shipment. Another customer's order answers exactly like a missing one. */
    async track(userId: number, orderId: number): Promise<ShipmentTracking> {
      const row = await repo.findByOrder(db, orderId);
      if (!row || row.user_id !== userId) throw shippingErrors.SHIPMENT_NOT_FOUND.create({ orderId });
      const timeline = await repo.timeline(db, row.id);
      return {
        orderId: row.order_id,
        status: row.status,
        carrier: row.carrier,
        trackingNumber: row.tracking_number,
        address: await openAddress(row),
        timeline: timeline.map((e) => ({ status: e.status, description: e.description, occurredAt: e.occurred_at })),
      };
    },

    get,

    async list(filter: ShipmentFilter): Promise<Page<ShipmentSummary>> {
      const beforeId = decodeCursor(filter.cursor, z.number().int().positive());
      const rows = await repo.list(db, { status: filter.status, beforeId, limit: filter.limit + 1 });
      const items = rows.slice(0, filter.limit);
      const last = items.at(-1);
      return { items: await Promise.all(items.map(summaryOf)), nextCursor: rows.length > filter.limit && last ? encodeCursor(last.id) : null };
    },

    /**
     * An operator sets or corrects the tracking number (e.g. booked by hand after the carrier
     * refused, or a typo). A shipment still requested becomes ready and its order preparing.
     * Recorded on the timeline as "Tracking number set by operator: <carrier> <number>".
     */
    async setTrackingNumber(orderId: number, carrierName: string, trackingNumber: string, actorId?: number): Promise<ShipmentDetail> {
      const seen = await repo.findByOrder(db, orderId);
      if (!seen) throw shippingErrors.SHIPMENT_NOT_FOUND.create({ orderId });
      if (seen.status === "cancelled")
        throw shippingErrors.SHIPMENT_INVALID_STATE.create({ orderId, shipmentStatus: seen.status }, "A cancelled shipment cannot get a tracking number");
      try {
        await inTransaction(db, async (trx) => {
          const now = clock.now();
          // Rank Order before rank Shipment; INVALID_ORDER_STATE if the order can no longer ship.
          if (seen.status === "requested") {
            const move = await orders.advanceForShipping(trx, orderId, "preparing");
            if (!move.reached) assertTransition(orderId, move.from, "preparing");
          }
          const locked = await repo.lockShipment(trx, seen.id);
          if (!locked || locked.status === "cancelled")
            throw shippingErrors.SHIPMENT_INVALID_STATE.create({ orderId, shipmentStatus: "cancelled" }, "A cancelled shipment cannot get a tracking number");
          if (locked.carrier === carrierName && locked.tracking_number === trackingNumber) return;
          const status = locked.status === "requested" ? "ready" : locked.status;
          await repo.update(trx, locked.id, { status, carrier: carrierName, trackingNumber, at: now });
          await repo.insertTrackingEvent(trx, {
            shipmentId: locked.id,
            carrierEventId: null,
            status,
            description: `Tracking number set by operator: ${carrierName} ${trackingNumber}`,
            occurredAt: now,
            receivedAt: now,
          });
          logger.info(
            { orderId, shipmentId: locked.id, carrier: carrierName, trackingNumber, previous: locked.tracking_number, actorId },
            "tracking number set by operator",
          );
        });
      } catch (error) {
        if (pgErrorCode(error) === "23505" && pgConstraint(error) === "shipping_shipments_tracking_idx") {
          throw shippingErrors.TRACKING_NUMBER_TAKEN.create({ orderId, trackingNumber });
        }
        throw error;
      }
      return get(orderId);
    },
  };
}
