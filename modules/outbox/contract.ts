/**
 * Typed event contracts. The module that emits an event owns it: it defines the event once with
 * `defineEvent` (type, aggregate, zod schema of the payload) and exports it from its index.ts.
 * A consumer declares what it wants with `subscribe` in its own module and handles the payloads
 * typed by those schemas (`eventHandler`). The composition root (apps/server/compose.ts) hands
 * every subscription to `createEventPublisher`, which decides the outbox rows per destination.
 * The outbox itself knows no module and no event type.
 */
import type { RawBuilder } from "kysely";
import { z } from "zod";
import type { Tx } from "../../db/index.ts";
import type { DeliverableEvent, OutboxHandler } from "./poller.ts";
import { PermanentDeliveryError } from "./poller.ts";
import { FAN_OUT, type FanOut, type FanOutRoute, outboxRepository } from "./repository.ts";
import { createRowWriter } from "./service.ts";

export interface EventContract<Type extends string = string, Schema extends z.ZodType = z.ZodType> {
  readonly type: Type;
  /** What the event is about; per (aggregate, destination) the outbox delivers events in order. */
  readonly aggregateType: string;
  readonly schema: Schema;
  /**
   * The event to publish. The payload is checked against the schema here, in the producer's
   * transaction: a payload that breaks the contract throws in the producer (and its tests),
   * never reaches a consumer, and rolls back the change it would have announced.
   */
  event(aggregateId: string | number, payload: z.input<Schema>): OutboxEvent;
  /**
   * A delivered payload as the producer defined it; PermanentDeliveryError when it does not fit
   * (retrying will not help). `reader` names the consumer in that error.
   */
  parse(event: Pick<DeliverableEvent, "id" | "type" | "payload">, reader?: string): z.output<Schema>;
}

/** An event ready for the outbox: made by `EventContract.event`, so its payload fits its schema. */
export interface OutboxEvent {
  readonly type: string;
  readonly aggregateType: string;
  readonly aggregateId: string;
  /** The payload exactly as the producer gave it (written as JSON, so the receivers get the same bytes as before contracts). */
  readonly payload: unknown;
}

export function defineEvent<Type extends string, Schema extends z.ZodType>(type: Type, aggregateType: string, schema: Schema): EventContract<Type, Schema> {
  return {
    type,
    aggregateType,
    schema,
    event(aggregateId, payload) {
      const checked = schema.safeParse(payload);
      if (!checked.success) throw new Error(`event ${type}: the payload breaks its contract: ${z.prettifyError(checked.error)}`);
      return { type, aggregateType, aggregateId: String(aggregateId), payload };
    },
    parse(event, reader = "outbox") {
      const parsed = schema.safeParse(event.payload);
      if (!parsed.success) throw new PermanentDeliveryError(`${reader}: invalid ${event.type} payload (event ${event.id}): ${z.prettifyError(parsed.error)}`);
      return parsed.data;
    },
  };
}

/**
 * A condition on an event's type (a SQL expression), evaluated by the statement that writes the
 * event's rows, in the producer's transaction: the row for its destination is written only when it
 * holds. The subscribing module builds it in its repository (its SQL, its tables).
 */
export type WrittenWhen = (eventType: RawBuilder<string>) => RawBuilder<boolean>;

/** What one consumer (a destination of the outbox) receives. */
export interface Subscription<Events extends readonly EventContract[] = readonly EventContract[]> {
  readonly destination: string;
  readonly events: Events;
  /** Unset: a row for every event. Set: only for events it holds for when they are written. */
  readonly writtenWhen?: WrittenWhen;
}

export function subscribe<const Events extends readonly EventContract[]>(
  destination: string,
  events: Events,
  options: { writtenWhen?: WrittenWhen } = {},
): Subscription<Events> {
  return options.writtenWhen ? { destination, events, writtenWhen: options.writtenWhen } : { destination, events };
}

type ContractOf<Events extends readonly EventContract[], Type> = Extract<Events[number], { type: Type }>;

/** One function per subscribed event type, given its payload typed by the producer's schema. */
export type EventHandlers<Events extends readonly EventContract[]> = {
  [Type in Events[number]["type"]]: (payload: z.output<ContractOf<Events, Type>["schema"]>, event: DeliverableEvent) => Promise<void>;
};

/**
 * The outbox handler of a subscription: parses each payload with its contract and calls the
 * matching function. Every subscribed type must have one (checked by the compiler).
 */
export function eventHandler<Events extends readonly EventContract[]>(subscription: Subscription<Events>, handlers: EventHandlers<Events>): OutboxHandler {
  const contracts = new Map<string, EventContract>(subscription.events.map((contract) => [contract.type, contract]));
  const byType = handlers as Record<string, (payload: unknown, event: DeliverableEvent) => Promise<void>>;
  return async (event) => {
    const contract = contracts.get(event.type);
    const handle = byType[event.type];
    if (!contract || !handle) throw new PermanentDeliveryError(`${subscription.destination}: no handler for event type ${event.type}`);
    await handle(contract.parse(event, subscription.destination), event);
  };
}

export interface EventPublisher {
  /**
   * Writes the events in the caller's transaction, so an event exists exactly when the change it
   * announces committed: one outbox row per subscribed destination (a destination with
   * `writtenWhen` only where it holds), or, with `fanOut` and several destinations, one row that
   * the poller fans out into those rows later (`fanOut` below). `at` is the event's time. An event
   * nobody subscribes to writes nothing. Returns the ids of the rows written.
   */
  publish(trx: Tx, at: Date, events: readonly OutboxEvent[]): Promise<string[]>;
  /** Destinations per event type, as the subscriptions declared them. */
  readonly routes: ReadonlyMap<string, readonly string[]>;
  /**
   * Writes the rows per destination of events written once (for the poller, in its claim's
   * transaction; repository.ts fanOutStatement). Every poller gets it, whether or not its own
   * instance writes events once, so no instance's events wait for another's.
   */
  readonly fanOut: FanOut;
}

export interface EventPublisherOptions {
  /**
   * An event with two or more destinations is written as one row while its transaction runs, and
   * the poller writes its rows per destination (conditions judged then) when it next claims: a
   * paid order's transaction writes one outbox row instead of three or four. Off: every row at once.
   */
  fanOut?: boolean;
}

export function createEventPublisher(subscriptions: readonly Subscription[], { fanOut = false }: EventPublisherOptions = {}): EventPublisher {
  const routes = new Map<string, string[]>();
  const conditions = subscriptions.flatMap(({ destination, writtenWhen }) => (writtenWhen ? [{ destination, writtenWhen }] : []));
  const write = createRowWriter(conditions);
  for (const { destination, events } of subscriptions) {
    if (destination === FAN_OUT) throw new Error(`outbox: "${FAN_OUT}" is not a destination's name (it marks events written once)`);
    for (const { type } of events) {
      const destinations = routes.get(type) ?? [];
      if (destinations.includes(destination)) throw new Error(`outbox: ${destination} subscribes to ${type} twice`);
      destinations.push(destination);
      routes.set(type, destinations);
    }
  }
  const fanOutRoutes: FanOutRoute[] = [...routes].flatMap(([type, destinations]) => destinations.map((destination, i) => ({ type, destination, n: i + 1 })));
  if (fanOutRoutes.some((route) => route.n > 255)) throw new Error("outbox: an event type has more than 255 destinations");
  return {
    routes,
    fanOut: outboxRepository.fanOut(fanOutRoutes, conditions),
    publish: (trx, at, events) =>
      write(
        trx,
        at,
        events.flatMap((event) => {
          const destinations = routes.get(event.type) ?? [];
          if (fanOut && destinations.length > 1) return [{ event, destination: FAN_OUT }];
          return destinations.map((destination) => ({ event, destination }));
        }),
      ),
  };
}
