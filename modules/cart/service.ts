import type { Db, Tx } from "../../db/index.ts";
import { inTransaction, pgErrorCode } from "../../db/index.ts";
import type { CatalogService, StockLine } from "../catalog/index.ts";
import { catalogErrors } from "../catalog/index.ts";
import type { Clock } from "../kernel/index.ts";
import { cartErrors } from "./errors.ts";
import { cartRepository } from "./repository.ts";
import { type Cart, MAX_CART_LINES, MAX_LINE_QUANTITY } from "./schema.ts";

export interface CartDeps {
  db: Db;
  clock: Clock;
  catalog: CatalogService;
}

export type CartService = ReturnType<typeof createCartService>;

export interface AddedLine {
  productId: number;
  quantity: number;
}

export interface SkippedLine {
  productId: number;
  productName: string;
  requestedQuantity: number;
  addedQuantity: number;
  reason: "not_for_sale" | "out_of_stock" | "stock_limit" | "line_limit" | "cart_full";
}

export function createCartService({ db, clock, catalog }: CartDeps) {
  /** The product must be on sale and its stock (share-locked until commit) must cover `quantity`. */
  async function requireStock(trx: Tx, productId: number, quantity: number): Promise<void> {
    const products = await catalog.productsForSale(trx, [productId]);
    if (!products.has(productId)) throw catalogErrors.PRODUCT_NOT_FOUND.create({ productId });
    const short = await catalog.checkStock(trx, [{ productId, quantity }]);
    const item = short[0];
    if (item) throw catalogErrors.INSUFFICIENT_STOCK.create({ insufficientItems: short, availableStock: item.availableStock });
  }

  async function view(userId: number): Promise<Cart> {
    const lines = await cartRepository.lines(db, userId);
    const products = await catalog.productsForSale(
      db,
      lines.map((l) => l.product_id),
    );
    const items = lines.map((line) => {
      const product = products.get(line.product_id);
      const unitPrice = product?.price ?? 0;
      return {
        productId: line.product_id,
        name: product?.name ?? "(no longer sold)",
        unitPrice,
        quantity: line.quantity,
        lineAmount: unitPrice * line.quantity,
        stock: product?.stock ?? 0,
        available: product !== undefined && product.stock >= line.quantity,
        addedAt: line.added_at,
      };
    });
    return {
      items,
      itemCount: items.length,
      totalQuantity: items.reduce((sum, i) => sum + i.quantity, 0),
      totalAmount: items.reduce((sum, i) => sum + (i.available ? i.lineAmount : 0), 0),
      orderable: items.length > 0 && items.every((i) => i.available),
    };
  }

  return {
    view,

    /**
     * Adds units of a product; the line's new total is checked against stock under a shared lock.
     * Lock order: the stock row first, then the customer's cart, so parallel adds see each other's
     * lines and cannot pass the line-count or line-quantity limit together.
     */
    async add(userId: number, productId: number, quantity: number): Promise<Cart> {
      await inTransaction(db, async (trx) => {
        await requireStock(trx, productId, quantity);
        await cartRepository.lockCart(trx, userId);
        const existing = await cartRepository.find(trx, userId, productId);
        if (!existing && (await cartRepository.countLines(trx, userId)) >= MAX_CART_LINES) throw cartErrors.CART_FULL.create({ maxLines: MAX_CART_LINES });
        const total = (existing?.quantity ?? 0) + quantity;
        if (total > MAX_LINE_QUANTITY) throw cartErrors.CART_LINE_LIMIT.create({ productId, maxQuantity: MAX_LINE_QUANTITY });
        if (existing) await requireStock(trx, productId, total); // the same stock row, already share-locked
        try {
          await cartRepository.addTo(trx, userId, productId, quantity, clock.now());
        } catch (error) {
          if (pgErrorCode(error) === "23503") throw catalogErrors.PRODUCT_NOT_FOUND.create({ productId });
          throw error;
        }
      });
      return view(userId);
    },

    async setQuantity(userId: number, productId: number, quantity: number): Promise<Cart> {
      await inTransaction(db, async (trx) => {
        if (!(await cartRepository.find(trx, userId, productId))) throw cartErrors.CART_ITEM_NOT_FOUND.create({ productId });
        await requireStock(trx, productId, quantity);
        await cartRepository.setQuantity(trx, userId, productId, quantity, clock.now());
      });
      return view(userId);
    },

    async remove(userId: number, productId: number): Promise<Cart> {
      if ((await cartRepository.remove(db, userId, [productId])) === 0) throw cartErrors.CART_ITEM_NOT_FOUND.create({ productId });
      return view(userId);
    },

    /**
     * Adds several lines at once (a re-order): products no longer for sale are left out, quantities
     * are cut to the stock and the line limit, new lines stop at the cart's line limit; every line
     * left out or cut is reported. Locks as `add` does: the stock rows (shared), then the cart.
     */
    async addMany(
      userId: number,
      wanted: Array<{ productId: number; productName: string; quantity: number }>,
    ): Promise<{ added: AddedLine[]; skipped: SkippedLine[] }> {
      const merged = new Map<number, { productName: string; quantity: number }>();
      for (const w of wanted) merged.set(w.productId, { productName: w.productName, quantity: (merged.get(w.productId)?.quantity ?? 0) + w.quantity });
      const ids = [...merged.keys()].sort((a, b) => a - b);
      return inTransaction(db, async (trx) => {
        const forSale = await catalog.productsForSale(trx, ids);
        // Share-locks the stock rows (ascending), so the quantities read next hold until commit.
        if (forSale.size > 0)
          await catalog.checkStock(
            trx,
            [...forSale.keys()].map((productId) => ({ productId, quantity: 1 })),
          );
        const stock = await catalog.productsForSale(trx, [...forSale.keys()]);
        await cartRepository.lockCart(trx, userId);
        const inCart = new Map((await cartRepository.lines(trx, userId)).map((l) => [l.product_id, l.quantity]));
        let lineCount = inCart.size;
        const added: AddedLine[] = [];
        const skipped: SkippedLine[] = [];
        const now = clock.now();
        for (const productId of ids) {
          const { productName, quantity: requestedQuantity } = merged.get(productId) as { productName: string; quantity: number };
          const product = stock.get(productId);
          const skip = (reason: SkippedLine["reason"], addedQuantity = 0) => skipped.push({ productId, productName, requestedQuantity, addedQuantity, reason });
          if (!product) {
            skip("not_for_sale");
            continue;
          }
          const already = inCart.get(productId) ?? 0;
          if (already === 0 && lineCount >= MAX_CART_LINES) {
            skip("cart_full");
            continue;
          }
          const byStock = Math.max(0, product.stock - already);
          const byLine = Math.max(0, MAX_LINE_QUANTITY - already);
          const quantity = Math.min(requestedQuantity, byStock, byLine);
          if (quantity < requestedQuantity) skip(byStock <= byLine ? (product.stock === 0 ? "out_of_stock" : "stock_limit") : "line_limit", quantity);
          if (quantity === 0) continue;
          await cartRepository.addTo(trx, userId, productId, quantity, now);
          if (already === 0) lineCount++;
          added.push({ productId, quantity });
        }
        return { added, skipped };
      });
    },

    async clear(userId: number): Promise<{ removedLines: number }> {
      return { removedLines: await cartRepository.clear(db, userId) };
    },

    // ── for the orders module, inside its transaction ───────────────────────

    async linesFor(executor: Db | Tx, userId: number): Promise<StockLine[]> {
      const lines = await cartRepository.lines(executor, userId);
      return lines.map((l) => ({ productId: l.product_id, quantity: l.quantity }));
    },

    /** Removes the bought products from the cart (lock rank Cart: after stock). */
    async removeBought(trx: Tx, userId: number, productIds: number[]): Promise<void> {
      await cartRepository.remove(trx, userId, productIds);
    },

    /** Erasing an account: the cart goes (rank Cart). */
    async clearInTransaction(trx: Tx, userId: number): Promise<void> {
      await cartRepository.lockCart(trx, userId);
      await cartRepository.clear(trx, userId);
    },
  };
}
