/** Every query of the shipping module: shipping_shipments and shipping_tracking_events. */
import { type Selectable, sql } from "kysely";
import type { Db, ShipmentStatus, ShippingShipmentsTable, ShippingTrackingEventsTable, Tx } from "../../db/index.ts";
import { compiledQuery, LockRank, noteLock } from "../../db/index.ts";

type Executor = Db | Tx;
export type ShipmentRow = Selectable<ShippingShipmentsTable>;
export type TrackingEventRow = Selectable<ShippingTrackingEventsTable>;

export interface NewTrackingEvent {
  shipmentId: number;
  /** The carrier's id for the update; null for our own entries (booking, cancellation, operator). */
  carrierEventId: string | null;
  status: string;
  description: string;
  occurredAt: Date;
  receivedAt: Date;
}

export interface ShipmentPatch {
  status?: ShipmentStatus;
  carrier?: string;
  trackingNumber?: string;
  deliveredAt?: Date;
  /** The address copy, sealed (the one the parcel was booked to). */
  address?: string | null;
  /** Sealed; null once the booking asked of the carrier has its outcome recorded. */
  bookingAddress?: string | null;
  at: Date;
}

/**
 * A paid order's shipment, requested (unless the order has one already: then no row). Compiled once:
 * every paid order's booking starts with it. The columns are named (not `*`) so a column added by a
 * later migration cannot break the prepared statement of a running server.
 */
const insertRequestedStatement = compiledQuery(
  (_db, orderId: number, userId: number, address: string | null, bookingAddress: string | null, at: Date) => sql<ShipmentRow>`
    INSERT INTO shipping_shipments (order_id, user_id, status, address, booking_address, requested_at, updated_at)
    VALUES (${orderId}::int8, ${userId}::int8, 'requested', ${address}, ${bookingAddress}, ${at}, ${at})
    ON CONFLICT (order_id) DO NOTHING
    RETURNING id, order_id, user_id, status, carrier, tracking_number, address, requested_at, updated_at, delivered_at, booking_address`,
);

/**
 * A requested shipment booked: ready, with the carrier's booking, its booking address cleared, and
 * its timeline line, in one statement compiled once (was a lock, an update and an insert).
 * Nothing when the shipment is no longer requested (a concurrent delivery of the same event booked
 * it first: the UPDATE waits for that one's row lock, then finds it ready).
 */
const markBookedStatement = compiledQuery(
  (_db, shipmentId: number, carrier: string, trackingNumber: string, address: string | null, description: string, at: Date) => sql<{ shipment_id: number }>`
    WITH booked AS (
      UPDATE shipping_shipments
         SET status = 'ready', carrier = ${carrier}, tracking_number = ${trackingNumber}, address = ${address}, booking_address = NULL, updated_at = ${at}
       WHERE id = ${shipmentId}::int8 AND status = 'requested'
      RETURNING id
    )
    INSERT INTO shipping_tracking_events (shipment_id, carrier_event_id, status, description, occurred_at, received_at)
    SELECT id, NULL, 'ready', ${description}, ${at}, ${at} FROM booked
    RETURNING shipment_id`,
);

export const shippingRepository = {
  /**
   * A shipment for the order in status requested, unless the order has one already (then undefined).
   * `bookingAddress` (sealed): the booking about to be asked of the carrier, noted with the insert.
   */
  async insertRequested(
    db: Executor,
    shipment: { orderId: number; userId: number; address: string | null; bookingAddress?: string | null; at: Date },
  ): Promise<ShipmentRow | undefined> {
    const result = await insertRequestedStatement(db, shipment.orderId, shipment.userId, shipment.address, shipment.bookingAddress ?? null, shipment.at);
    return result.rows[0];
  },

  /**
   * A requested shipment booked (markBookedStatement), rank Shipment (after its order). False when it
   * was no longer requested. Throws 23505 (shipping_shipments_tracking_idx) when the tracking number
   * is another shipment's.
   */
  async markBooked(
    trx: Tx,
    shipmentId: number,
    booking: { carrier: string; trackingNumber: string; address: string | null; description: string; at: Date },
  ): Promise<boolean> {
    noteLock(trx, LockRank.Shipment, shipmentId);
    const result = await markBookedStatement(trx, shipmentId, booking.carrier, booking.trackingNumber, booking.address, booking.description, booking.at);
    return result.rows.length > 0;
  },

  /** Exclusive lock on the shipment row (rank Shipment: after its order). */
  lockShipment(trx: Tx, shipmentId: number): Promise<ShipmentRow | undefined> {
    noteLock(trx, LockRank.Shipment, shipmentId);
    return trx.selectFrom("shipping_shipments").selectAll().where("id", "=", shipmentId).forUpdate().executeTakeFirst();
  },

  /** Applies a change to a locked shipment. Throws 23505 (shipping_shipments_tracking_idx) when the tracking number is another shipment's. */
  async update(trx: Tx, shipmentId: number, patch: ShipmentPatch): Promise<ShipmentRow> {
    noteLock(trx, LockRank.Shipment, shipmentId);
    return trx
      .updateTable("shipping_shipments")
      .set({
        updated_at: patch.at,
        ...(patch.status !== undefined ? { status: patch.status } : {}),
        ...(patch.carrier !== undefined ? { carrier: patch.carrier } : {}),
        ...(patch.trackingNumber !== undefined ? { tracking_number: patch.trackingNumber } : {}),
        ...(patch.deliveredAt !== undefined ? { delivered_at: patch.deliveredAt } : {}),
        ...(patch.address !== undefined ? { address: patch.address } : {}),
        ...(patch.bookingAddress !== undefined ? { booking_address: patch.bookingAddress } : {}),
      })
      .where("id", "=", shipmentId)
      .returningAll()
      .executeTakeFirstOrThrow();
  },

  /**
   * Records a tracking event. An event whose carrier_event_id is already recorded is not inserted
   * (undefined): a replayed webhook. A racing insert of the same id waits for the other
   * transaction and then finds it taken, so exactly one of them gets an id back.
   */
  async insertTrackingEvent(trx: Tx, event: NewTrackingEvent): Promise<number | undefined> {
    const row = await trx
      .insertInto("shipping_tracking_events")
      .values({
        shipment_id: event.shipmentId,
        carrier_event_id: event.carrierEventId,
        status: event.status,
        description: event.description,
        occurred_at: event.occurredAt,
        received_at: event.receivedAt,
      })
      .onConflict((oc) => oc.column("carrier_event_id").doNothing())
      .returning("id")
      .executeTakeFirst();
    return row?.id;
  },

  async hasCarrierEvent(db: Executor, carrierEventId: string): Promise<boolean> {
    const row = await db.selectFrom("shipping_tracking_events").select("id").where("carrier_event_id", "=", carrierEventId).executeTakeFirst();
    return row !== undefined;
  },

  /** Erasing an account: the address copies on its shipments (rank Shipment; the shipments stay, with their tracking). */
  async eraseAddressesOf(trx: Tx, userId: number): Promise<number> {
    noteLock(trx, LockRank.Shipment, 0);
    const result = await trx.updateTable("shipping_shipments").set({ address: null, booking_address: null }).where("user_id", "=", userId).executeTakeFirst();
    return Number(result.numUpdatedRows);
  },

  /** Before asking the carrier to book: the (sealed) address asked for, on a shipment still requested. */
  async noteBookingAddress(db: Executor, shipmentId: number, sealedAddress: string): Promise<void> {
    await db.updateTable("shipping_shipments").set({ booking_address: sealedAddress }).where("id", "=", shipmentId).where("status", "=", "requested").execute();
  },

  find(db: Executor, shipmentId: number): Promise<ShipmentRow | undefined> {
    return db.selectFrom("shipping_shipments").selectAll().where("id", "=", shipmentId).executeTakeFirst();
  },

  findByOrder(db: Executor, orderId: number): Promise<ShipmentRow | undefined> {
    return db.selectFrom("shipping_shipments").selectAll().where("order_id", "=", orderId).executeTakeFirst();
  },

  findByTrackingNumber(db: Executor, trackingNumber: string): Promise<ShipmentRow | undefined> {
    return db.selectFrom("shipping_shipments").selectAll().where("tracking_number", "=", trackingNumber).executeTakeFirst();
  },

  /** How many of a shipment's timeline entries have this status (e.g. stale bookings: each one moves the booking key on). */
  async countEntries(db: Executor, shipmentId: number, status: string): Promise<number> {
    const row = await db
      .selectFrom("shipping_tracking_events")
      .select((eb) => eb.fn.countAll<string>().as("n"))
      .where("shipment_id", "=", shipmentId)
      .where("status", "=", status)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  },

  /** A shipment's events in the order they happened (received order breaks ties). */
  timeline(db: Executor, shipmentId: number): Promise<TrackingEventRow[]> {
    return db.selectFrom("shipping_tracking_events").selectAll().where("shipment_id", "=", shipmentId).orderBy("occurred_at").orderBy("id").execute();
  },

  /** Newest first; `beforeId` continues a page. */
  list(db: Executor, filter: { status?: ShipmentStatus; beforeId?: number; limit: number }): Promise<ShipmentRow[]> {
    let q = db.selectFrom("shipping_shipments").selectAll().orderBy("id", "desc").limit(filter.limit);
    if (filter.status) q = q.where("status", "=", filter.status);
    if (filter.beforeId !== undefined) q = q.where("id", "<", filter.beforeId);
    return q.execute();
  },
};
