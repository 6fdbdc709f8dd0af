/**
 * Erasing a customer (an operator's "delete", or the customer leaving): one transaction across the
 * modules that hold something of theirs. The books stay whole — orders, their lines and payments,
 * the wallet ledger, coupons and their history keep their rows and the account row they point to —
 * and everything that says who the person is goes: name, email and phone on the account (replaced),
 * the address book (deleted), the address copies on orders and shipments (erased), restock
 * sign-ups and the cart (deleted), the notification log's recipients and texts (erased). Every
 * session ends. Refused while the wallet holds money or an order is under way.
 *
 * Lock order (db/unit-of-work.ts): the account row and nothing ranked first, then the customer's
 * orders (Order), the wallet account (Wallet), restock sign-ups (RestockSignup), the cart (Cart),
 * shipments (Shipment); the address book and the notification log are locked by nothing else.
 */
import type { Db } from "../../db/index.ts";
import { inTransaction } from "../../db/index.ts";
import type { AddressesService } from "../addresses/index.ts";
import type { CartService } from "../cart/index.ts";
import type { CatalogService } from "../catalog/index.ts";
import { type IdentityService, identityErrors } from "../identity/index.ts";
import type { Logger } from "../kernel/index.ts";
import { kernelErrors } from "../kernel/index.ts";
import type { NotificationService } from "../notifications/index.ts";
import type { OrdersService } from "../orders/index.ts";
import type { ShippingService } from "../shipping/index.ts";
import type { WalletService } from "../wallet/index.ts";

export interface CustomersDeps {
  db: Db;
  logger: Logger;
  identity: IdentityService;
  addresses: AddressesService;
  wallet: WalletService;
  orders: OrdersService;
  shipping: ShippingService;
  notifications: NotificationService;
  catalog: CatalogService;
  cart: CartService;
}

export interface ErasedCustomer {
  userId: number;
  status: "deleted";
  deletedAt: Date;
  /** Orders kept for the books (without their address). */
  ordersKept: number;
}

export type CustomersService = ReturnType<typeof createCustomersService>;

export function createCustomersService(deps: CustomersDeps) {
  const { db, logger, identity } = deps;

  async function erase(userId: number, by: { actorId: number; reason: string }): Promise<ErasedCustomer> {
    const account = await identity.getCustomer(userId);
    if (account.status === "deleted") throw identityErrors.USER_NOT_FOUND.create({ userId });
    if (account.role !== "customer") throw kernelErrors.FORBIDDEN.create({ userId }, "Only customer accounts are deleted this way");
    const { erased, ordersKept } = await inTransaction(db, async (trx) => {
      const erased = await identity.eraseInTransaction(trx, userId);
      const { orders: ordersKept } = await deps.orders.eraseInTransaction(trx, userId);
      await deps.wallet.assertEmptyForErasure(trx, userId);
      await deps.catalog.eraseRestockSignups(trx, userId);
      await deps.cart.clearInTransaction(trx, userId);
      await deps.shipping.eraseAddressesOf(trx, userId);
      await deps.addresses.eraseInTransaction(trx, userId);
      await deps.notifications.eraseRecipientsOf(trx, userId);
      return { erased, ordersKept };
    });
    await identity.forgetSessions(erased.endedSessions);
    logger.info({ userId, actorId: by.actorId, reason: by.reason, ordersKept }, "customer account erased");
    return { userId, status: "deleted", deletedAt: erased.deletedAt, ordersKept };
  }

  return {
    /** An operator deletes a customer: the account is erased (see above), never an admin's. */
    deleteCustomer: (userId: number, actorId: number, reason: string) => erase(userId, { actorId, reason }),

    /** A customer deletes their own account, confirming with their password. */
    async deleteMyAccount(userId: number, password: string): Promise<ErasedCustomer> {
      await identity.verifyPassword(userId, password);
      return erase(userId, { actorId: userId, reason: "deleted by the customer" });
    },
  };
}
