import { z } from "zod";
import type { Db, StockMovementKind, Tx } from "../../db/index.ts";
import { afterCommit, inTransaction, pgErrorCode } from "../../db/index.ts";
import type { Clock, Page } from "../kernel/index.ts";
import { createBatchQueue, decodeCursor, ExpiringMap, encodeCursor } from "../kernel/index.ts";
import type { EventPublisher, OutboxEvent } from "../outbox/index.ts";
import { catalogErrors } from "./errors.ts";
import { inventoryBackInStock, inventoryLowStock } from "./events.ts";
import { inventoryRepository, isRefusedTake, type ProductRow, productRepository, type SortCursor, type StockChange } from "./repository.ts";
import type { BrowseFilter, CreateProductInput, InsufficientItem, Product, StockLevel, StockLine } from "./schema.ts";

export interface CatalogDeps {
  db: Db;
  clock: Clock;
  /** Publishes the catalog's events (events.ts) to their subscribers. */
  events: EventPublisher;
  /**
   * How long a product read sold out is remembered (`soldOutFromMemory`), ms; 0: off. A stock or
   * product change through this instance forgets it at once; one through another instance (or
   * straight in the database) is seen when the memory lapses.
   */
  soldOutMemoryMs?: number;
}

/** What a refusal from memory needs of a product read sold out. */
export type SoldOutProduct = Pick<Product, "name" | "stock">;

type Audience = "public" | "admin";

const cursorShape = z.object({ id: z.number().int(), price: z.number().int().optional() });

function toProduct(row: ProductRow): Product {
  return {
    id: row.id,
    name: row.name,
    category: row.category,
    price: row.price,
    description: row.description,
    status: row.status,
    stock: row.stock,
    inStock: row.stock > 0,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** Sums quantities per product (a cart may name one product on two lines) and sorts by id: the lock order. */
export function normalizeLines(lines: StockLine[]): StockLine[] {
  const totals = new Map<number, number>();
  for (const line of lines) totals.set(line.productId, (totals.get(line.productId) ?? 0) + line.quantity);
  return [...totals].map(([productId, quantity]) => ({ productId, quantity })).sort((a, b) => a.productId - b.productId);
}

interface MovementMeta {
  kind: StockMovementKind;
  reason?: string | null;
  actorId?: number | null;
  orderId?: number | null;
}

export type CatalogService = ReturnType<typeof createCatalogService>;

export function createCatalogService({ db, clock, events: publisher, soldOutMemoryMs = 1_000 }: CatalogDeps) {
  /**
   * Products last read with no stock, and until when they are remembered: after a flash sale sells
   * out, the crowd that keeps ordering is refused from here without a read (orders.price). Only ever
   * a refusal: every take is still decided by the stock row, so a stale entry cannot oversell, only
   * refuse for at most `soldOutMemoryMs` after a restock made elsewhere. What a refusal names, not
   * the whole product (a description can be long).
   */
  const soldOut = new ExpiringMap<number, SoldOutProduct>(clock);
  /** Counts the forgetting: a read that began before one may have seen the stock before the change. */
  let forgettings = 0;

  function rememberStock(products: Iterable<Product>, readSince: number): void {
    for (const product of products) {
      if (product.stock > 0) soldOut.delete(product.id);
      else if (soldOutMemoryMs > 0 && readSince === forgettings) {
        soldOut.set(product.id, { name: product.name, stock: product.stock }, soldOutMemoryMs);
      }
    }
  }

  /**
   * Products read outside a transaction (every order is priced so) by requests arriving together:
   * one statement for all of them while others run (kernel/batch-queue.ts). A flash sale prices
   * thousands of orders a second, most for the same few products.
   */
  const productReads = createBatchQueue<number[], ProductRow[]>({
    maxBatch: 64,
    maxConcurrent: 2,
    run: async (requests) => {
      const rows = await productRepository.findByIds(db, [...new Set(requests.flat())]);
      const byId = new Map(rows.map((row) => [Number(row.id), row]));
      return requests.map((ids) => ids.flatMap((id) => byId.get(id) ?? []));
    },
  });

  function forgetSoldOut(productIds: Iterable<number>): void {
    forgettings++;
    for (const productId of productIds) soldOut.delete(productId);
  }

  async function insufficientItems(executor: Db | Tx, refused: StockLine[]): Promise<InsufficientItem[]> {
    const rows = await productRepository.findByIds(
      executor,
      refused.map((line) => line.productId),
    );
    const byId = new Map(rows.map((row) => [row.id, row]));
    return refused.map((line) => ({
      productId: line.productId,
      productName: byId.get(line.productId)?.name ?? "",
      requestedQuantity: line.quantity,
      availableStock: byId.get(line.productId)?.stock ?? 0,
    }));
  }

  /**
   * Applies signed stock changes in ascending product order inside `trx`, logs each movement,
   * and announces low-stock crossings and back-in-stock sign-ups through the outbox.
   * Returns the refused lines (those that would go below zero) without applying anything else
   * the caller must roll back: callers throw when the list is not empty.
   */
  async function applyStockChanges(
    trx: Tx,
    changes: Array<{ productId: number; change: number; kind?: MovementMeta["kind"] }>,
    meta: MovementMeta,
  ): Promise<{ refused: StockLine[]; applied: StockChange[] }> {
    const now = clock.now();
    const sorted = [...changes].sort((a, b) => a.productId - b.productId);
    // Stock coming back (a restock, a cancelled order's release): no longer sold out. Forgotten now
    // and again at the commit: a read in between still saw the stock before it.
    const returned = sorted.filter((c) => c.change > 0).map((c) => c.productId);
    if (returned.length > 0) {
      forgetSoldOut(returned);
      afterCommit(trx, () => forgetSoldOut(returned));
    }
    const refused: StockLine[] = [];
    const applied: StockChange[] = [];
    const movement = { kind: meta.kind, reason: meta.reason ?? null, actorId: meta.actorId ?? null, orderId: meta.orderId ?? null };
    for (const { productId, change, kind } of sorted) {
      const result = await inventoryRepository.applyChange(trx, productId, change, kind ? { ...movement, kind } : movement, now);
      if (result) applied.push(result);
      else refused.push({ productId, quantity: Math.abs(change) });
    }
    // The caller rolls back when anything was refused; the movements of the applied lines go with it.
    if (refused.length > 0) return { refused, applied };

    const changeOf = new Map(sorted.map((c) => [c.productId, c.change]));

    const events: OutboxEvent[] = [];
    for (const a of applied) {
      const before = a.quantityAfter - (changeOf.get(a.productId) ?? 0);
      if (before >= a.threshold && a.quantityAfter < a.threshold) {
        events.push(inventoryLowStock.event(a.productId, { productId: a.productId, quantity: a.quantityAfter, threshold: a.threshold }));
      }
    }
    // Back from zero: every open restock sign-up gets one notification, then closes.
    for (const a of applied) {
      const before = a.quantityAfter - (changeOf.get(a.productId) ?? 0);
      if (before !== 0 || a.quantityAfter <= 0) continue;
      const signups = await inventoryRepository.closeRestockSignups(trx, a.productId, now);
      for (const signup of signups) {
        events.push(inventoryBackInStock.event(signup.id, { productId: a.productId, userId: signup.user_id, channel: signup.channel, signupId: signup.id }));
      }
    }
    await publisher.publish(trx, now, events);
    return { refused, applied };
  }

  async function stockLevel(executor: Db | Tx, productId: number): Promise<StockLevel> {
    const stock = await inventoryRepository.findStock(executor, productId);
    if (!stock) throw catalogErrors.PRODUCT_NOT_FOUND.create({ productId });
    return { productId, stock: stock.quantity, inStock: stock.quantity > 0, lowStockThreshold: stock.low_stock_threshold, updatedAt: stock.updated_at };
  }

  async function adminStockChange(productId: number, change: number, meta: MovementMeta): Promise<StockLevel> {
    return inTransaction(db, async (trx) => {
      const { refused } = await applyStockChanges(trx, [{ productId, change }], meta);
      if (refused.length > 0) {
        const exists = await inventoryRepository.findStock(trx, productId);
        if (!exists) throw catalogErrors.PRODUCT_NOT_FOUND.create({ productId });
        throw catalogErrors.INVALID_STOCK_CHANGE.create({ productId, change, availableStock: exists.quantity });
      }
      return stockLevel(trx, productId);
    });
  }

  async function getVisible(productId: number, audience: Audience): Promise<Product> {
    const row = await productRepository.findById(db, productId);
    if (!row || (audience === "public" && row.status !== "active") || row.status === "deleted") throw catalogErrors.PRODUCT_NOT_FOUND.create({ productId });
    return toProduct(row);
  }

  return {
    async browse(filter: BrowseFilter, audience: Audience): Promise<Page<Product>> {
      const statuses = audience === "public" ? (["active"] as const) : filter.status ? [filter.status] : (["active", "hidden"] as const);
      const after = decodeCursor<SortCursor>(filter.cursor, cursorShape);
      const rows = await productRepository.browse(db, { ...filter, statuses: [...statuses] }, after, filter.limit + 1);
      const page = rows.slice(0, filter.limit);
      const last = page.at(-1);
      return {
        items: page.map(toProduct),
        nextCursor: rows.length > filter.limit && last ? encodeCursor({ id: last.id, price: last.price }) : null,
      };
    },

    get: getVisible,

    async stock(productId: number): Promise<StockLevel> {
      await getVisible(productId, "public");
      return stockLevel(db, productId);
    },

    categories: () => productRepository.categories(db),

    async create(input: CreateProductInput, actorId: number): Promise<Product> {
      const now = clock.now();
      const productId = await inTransaction(db, async (trx) => {
        const id = await productRepository.insert(trx, { ...input, at: now });
        await inventoryRepository.createStock(trx, id, input.initialStock, input.lowStockThreshold, now);
        if (input.initialStock > 0) {
          await inventoryRepository.insertMovements(trx, [
            { productId: id, kind: "inbound", change: input.initialStock, after: input.initialStock, reason: "initial stock", actorId, orderId: null, at: now },
          ]);
        }
        return id;
      });
      return getVisible(productId, "admin");
    },

    async update(productId: number, patch: { name?: string; category?: string; price?: number; description?: string }): Promise<Product> {
      if (!(await productRepository.update(db, productId, patch, clock.now()))) throw catalogErrors.PRODUCT_NOT_FOUND.create({ productId });
      forgetSoldOut([productId]);
      return getVisible(productId, "admin");
    },

    async setStatus(productId: number, status: "active" | "hidden" | "deleted"): Promise<void> {
      if (!(await productRepository.update(db, productId, { status }, clock.now()))) throw catalogErrors.PRODUCT_NOT_FOUND.create({ productId });
      forgetSoldOut([productId]);
    },

    inbound: (productId: number, quantity: number, reason: string | undefined, actorId: number) =>
      adminStockChange(productId, quantity, { kind: "inbound", reason: reason ?? null, actorId }),
    outbound: (productId: number, quantity: number, reason: string | undefined, actorId: number) =>
      adminStockChange(productId, -quantity, { kind: "outbound", reason: reason ?? null, actorId }),
    adjust: (productId: number, change: number, reason: string, actorId: number) =>
      adminStockChange(productId, change, { kind: "adjustment", reason, actorId }),

    async setLowStockThreshold(productId: number, threshold: number): Promise<StockLevel> {
      if (!(await inventoryRepository.setThreshold(db, productId, threshold, clock.now()))) throw catalogErrors.PRODUCT_NOT_FOUND.create({ productId });
      return stockLevel(db, productId);
    },

    async movements(productId: number, cursor: string | undefined, limit: number) {
      const beforeId = decodeCursor(cursor, z.number().int());
      const rows = await inventoryRepository.listMovements(db, productId, beforeId, limit + 1);
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      return {
        items: page.map((m) => ({
          id: m.id,
          kind: m.kind,
          change: m.quantity_change,
          quantityAfter: m.quantity_after,
          reason: m.reason,
          actorId: m.actor_id,
          orderId: m.order_id,
          createdAt: m.created_at,
        })),
        nextCursor: rows.length > limit && last ? encodeCursor(last.id) : null,
      };
    },

    async lowStock(limit: number) {
      const rows = await inventoryRepository.listLowStock(db, limit);
      return rows.map((r) => ({
        productId: r.id,
        name: r.name,
        category: r.category,
        stock: r.quantity,
        lowStockThreshold: r.low_stock_threshold,
        updatedAt: r.updated_at,
      }));
    },

    /** What is on the shelves, for operators' reports. */
    async inventorySummary() {
      const r = await inventoryRepository.summary(db);
      return {
        activeProducts: Number(r.active_products),
        hiddenProducts: Number(r.hidden_products),
        outOfStock: Number(r.out_of_stock),
        lowStock: Number(r.low_stock),
        units: Number(r.units),
        stockValue: Number(r.stock_value),
      };
    },

    /**
     * A customer asks to hear when an out-of-stock product is back. The stock row is share-locked
     * until the sign-up commits, so an inbound cannot land between the check and the insert and
     * leave a sign-up nobody will ever notify.
     */
    async signUpForRestock(userId: number, productId: number, channel: "email" | "sms") {
      await getVisible(productId, "public");
      return inTransaction(db, async (trx) => {
        const [stock] = await inventoryRepository.lockShared(trx, [productId]);
        if (!stock) throw catalogErrors.PRODUCT_NOT_FOUND.create({ productId });
        if (stock.quantity > 0) throw catalogErrors.PRODUCT_IN_STOCK.create({ productId, stock: stock.quantity });
        try {
          const signupId = await inventoryRepository.insertRestockSignup(trx, { productId, userId, channel, at: clock.now() });
          return { signupId, productId, channel };
        } catch (error) {
          if (pgErrorCode(error) === "23505") throw catalogErrors.ALREADY_SUBSCRIBED.create({ productId });
          throw error;
        }
      });
    },

    // ── for other modules, inside their transaction ─────────────────────────

    /** Active products by id, for pricing an order or a cart (no lock: prices are read, stock is locked separately). */
    async productsForSale(executor: Db | Tx, productIds: number[]): Promise<Map<number, Product>> {
      const readSince = forgettings;
      const rows = executor.isTransaction ? await productRepository.findByIds(executor, productIds) : await productReads.submit(productIds);
      const forSale = new Map(rows.filter((row) => row.status === "active").map((row) => [row.id, toProduct(row)]));
      for (const id of productIds) if (!forSale.has(id)) soldOut.delete(id);
      // Only committed stock: a transaction may be reading its own take, which can still roll back.
      if (!executor.isTransaction) rememberStock(forSale.values(), readSince);
      return forSale;
    },

    /**
     * Name and stock (0) of the products, if EVERY one was read sold out less than
     * `soldOutMemoryMs` ago; otherwise null (read them). For refusing a sold-out crowd without a
     * statement: the caller must still read (or take) before anything is sold.
     */
    soldOutFromMemory(productIds: number[]): Map<number, SoldOutProduct> | null {
      if (soldOut.size === 0 || productIds.length === 0) return null;
      const products = new Map<number, SoldOutProduct>();
      for (const productId of productIds) {
        const remembered = soldOut.get(productId);
        if (!remembered) return null;
        products.set(productId, remembered);
      }
      return products;
    },

    /** Shared-locks the stock rows and reports which lines cannot be met. */
    async checkStock(trx: Tx, lines: StockLine[]): Promise<InsufficientItem[]> {
      const wanted = normalizeLines(lines);
      const rows = await inventoryRepository.lockShared(
        trx,
        wanted.map((l) => l.productId),
      );
      const available = new Map(rows.map((row) => [row.product_id, row.quantity]));
      const refused = wanted.filter((line) => (available.get(line.productId) ?? 0) < line.quantity);
      return refused.length ? insufficientItems(trx, refused) : [];
    },

    /** Takes stock for a sale (exclusive, ascending ids). Throws INSUFFICIENT_STOCK with every short line. */
    async deductStock(trx: Tx, lines: StockLine[], meta: { orderId: number | null; actorId?: number | null }): Promise<void> {
      const wanted = normalizeLines(lines);
      const { refused } = await applyStockChanges(
        trx,
        wanted.map((l) => ({ productId: l.productId, change: -l.quantity })),
        { kind: "sale", orderId: meta.orderId, actorId: meta.actorId ?? null },
      );
      if (refused.length > 0) throw catalogErrors.INSUFFICIENT_STOCK.create({ insufficientItems: await insufficientItems(trx, refused) });
    },

    /**
     * Takes stock for a sale without reading anything back (ascending ids), for a transaction that
     * sends its tail with its COMMIT (db/pipeline.ts). A short line, or one that would cross its
     * low-stock threshold, fails the statement and so the transaction: `mustTakeCarefully(error)`,
     * and the caller runs the order again with `deductStock` (exact refusal, low-stock event).
     */
    async takeStockOrFail(trx: Tx, lines: StockLine[], meta: { orderId: number | null }): Promise<void> {
      const now = clock.now();
      for (const line of normalizeLines(lines)) await inventoryRepository.takeOrFail(trx, line.productId, line.quantity, meta.orderId, now);
    },

    /**
     * Takes stock for a batch of orders in one statement (modules/orders/batch.ts), each product by
     * the sum of the batch's lines, in ascending product order. Returns the products it could not
     * take (short, or crossing a low-stock threshold, whose event the careful path sends); the
     * others were taken, so the caller rolls the batch back when the list is not empty.
     */
    async takeStockForOrders(trx: Tx, orders: Array<{ orderId: number; lines: StockLine[] }>): Promise<number[]> {
      const lines = orders.flatMap((order) => normalizeLines(order.lines).map((line) => ({ ...line, orderId: order.orderId })));
      const taken = await inventoryRepository.takeForBatch(trx, lines, clock.now());
      return [...new Set(lines.map((line) => line.productId))].filter((productId) => !taken.has(productId));
    },

    /** Whether `error` is `takeStockOrFail` refusing a line: run the order again the careful way. */
    mustTakeCarefully: isRefusedTake,

    /**
     * An unpaid order's lines changed: takes (negative) and gives back (positive) stock in one pass,
     * in ascending product id (the lock order), logged as sales and releases of the order.
     */
    async changeStockForOrder(
      trx: Tx,
      changes: Array<{ productId: number; change: number }>,
      meta: { orderId: number; actorId: number | null; reason: string },
    ): Promise<void> {
      const { refused } = await applyStockChanges(
        trx,
        changes.map((c) => ({ ...c, kind: c.change < 0 ? ("sale" as const) : ("release" as const) })),
        { kind: "sale", orderId: meta.orderId, actorId: meta.actorId, reason: meta.reason },
      );
      if (refused.length > 0) throw catalogErrors.INSUFFICIENT_STOCK.create({ insufficientItems: await insufficientItems(trx, refused) });
    },

    /** Erasing an account, inside that transaction: its restock sign-ups go. */
    eraseRestockSignups: (trx: Tx, userId: number) => inventoryRepository.removeRestockSignupsOf(trx, userId),

    /** Puts stock back (cancelled or lapsed order). */
    async releaseStock(trx: Tx, lines: StockLine[], meta: { orderId: number | null; reason: string; actorId?: number | null }): Promise<void> {
      const wanted = normalizeLines(lines);
      await applyStockChanges(
        trx,
        wanted.map((l) => ({ productId: l.productId, change: l.quantity })),
        { kind: "release", orderId: meta.orderId, reason: meta.reason, actorId: meta.actorId ?? null },
      );
    },
  };
}
