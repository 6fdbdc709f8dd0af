import { z } from "zod";
import type { Db, Tx } from "../../db/index.ts";
import { inTransaction } from "../../db/index.ts";
import type { Clock, Page, PiiCipher } from "../kernel/index.ts";
import { createBatchQueue, createPiiCipher, decodeCursor, developmentPiiKeys, encodeCursor } from "../kernel/index.ts";
import { addressesErrors } from "./errors.ts";
import { type AddressRow, createAddressRepository, MAX_ADDRESSES } from "./repository.ts";
import type { AddAddressInput, Address } from "./schema.ts";

export interface AddressesDeps {
  db: Db;
  clock: Clock;
  /** Seals recipient, phone and address at rest (default: the development keys). */
  cipher?: PiiCipher;
}

function toAddress(row: AddressRow): Address {
  return {
    addressId: row.id,
    label: row.label,
    recipient: row.recipient,
    phone: row.phone,
    address: row.address,
    isDefault: row.is_default,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** What an order keeps of an address book entry: its own copy, as one text. */
export function shippingTextOf(address: Pick<Address, "recipient" | "phone" | "address">): string {
  return `${address.recipient}${address.phone ? ` (${address.phone})` : ""}\n${address.address}`;
}

export type AddressesService = ReturnType<typeof createAddressesService>;

export function createAddressesService({ db, clock, cipher = createPiiCipher(developmentPiiKeys) }: AddressesDeps) {
  const repo = createAddressRepository(cipher);

  /**
   * The default addresses that orders placed at the same moment read outside a transaction, one
   * statement for all of them while others run (kernel/batch-queue.ts): a flash sale reads one per
   * order. A customer twice in one batch reads once.
   */
  const defaultReads = createBatchQueue<number, AddressRow | undefined>({
    maxBatch: 64,
    maxConcurrent: 2,
    run: async (userIds) => {
      const rows = await repo.findDefaults(db, [...new Set(userIds)]);
      return userIds.map((userId) => rows.get(userId));
    },
  });

  async function requireAddress(executor: Db | Tx, userId: number, addressId: number): Promise<AddressRow> {
    const row = await repo.find(executor, userId, addressId);
    // Another customer's address is answered exactly like a missing one.
    if (!row) throw addressesErrors.ADDRESS_NOT_FOUND.create({ addressId });
    return row;
  }

  return {
    async list(userId: number, filter: { cursor?: string; limit: number }): Promise<Page<Address>> {
      const afterId = decodeCursor(filter.cursor, z.number().int());
      const rows = await repo.list(db, userId, afterId, filter.limit + 1);
      const items = rows.slice(0, filter.limit);
      const last = items.at(-1);
      return { items: items.map(toAddress), nextCursor: rows.length > filter.limit && last ? encodeCursor(last.id) : null };
    },

    async get(userId: number, addressId: number): Promise<Address> {
      return toAddress(await requireAddress(db, userId, addressId));
    },

    /** Adds an entry; the first one (or one asked to be) becomes the default. */
    async add(userId: number, input: AddAddressInput): Promise<Address> {
      return inTransaction(db, async (trx) => {
        const now = clock.now();
        await repo.lockBook(trx, userId);
        const first = (await repo.count(trx, userId)) === 0;
        const fields = { label: input.label, recipient: input.recipient, phone: input.phone ?? null, address: input.address };
        const row = await repo.insert(trx, userId, fields, first, now);
        if (!row) throw addressesErrors.ADDRESS_BOOK_FULL.create({ maxAddresses: MAX_ADDRESSES });
        if (input.makeDefault && !first) {
          await repo.setDefault(trx, userId, row.id, now);
          return { ...toAddress(row), isDefault: true };
        }
        return toAddress(row);
      });
    },

    async update(userId: number, addressId: number, patch: { label?: string; recipient?: string; phone?: string | null; address?: string }): Promise<Address> {
      return inTransaction(db, async (trx) => {
        const row = await repo.update(trx, userId, addressId, patch, clock.now());
        if (!row) throw addressesErrors.ADDRESS_NOT_FOUND.create({ addressId });
        return toAddress(row);
      });
    },

    async setDefault(userId: number, addressId: number): Promise<Address> {
      return inTransaction(db, async (trx) => {
        await repo.lockBook(trx, userId);
        await requireAddress(trx, userId, addressId);
        await repo.setDefault(trx, userId, addressId, clock.now());
        return toAddress(await requireAddress(trx, userId, addressId));
      });
    },

    /** Removes an entry; when it was the default, the oldest one left becomes the default. Orders keep their own copies. */
    async remove(userId: number, addressId: number): Promise<{ removed: true; newDefaultAddressId: number | null }> {
      return inTransaction(db, async (trx) => {
        const now = clock.now();
        await repo.lockBook(trx, userId);
        const row = await repo.remove(trx, userId, addressId);
        if (!row) throw addressesErrors.ADDRESS_NOT_FOUND.create({ addressId });
        if (!row.is_default) return { removed: true as const, newDefaultAddressId: null };
        const next = await repo.oldest(trx, userId);
        if (next) await repo.setDefault(trx, userId, next.id, now);
        return { removed: true as const, newDefaultAddressId: next?.id ?? null };
      });
    },

    // ── for orders and for erasing an account ───────────────────────────────

    /**
     * The text an order ships to: the named entry (the customer's own, else ADDRESS_NOT_FOUND), or
     * without one the default, or null when the book is empty.
     */
    async shippingAddressFor(executor: Db | Tx, userId: number, addressId?: number): Promise<string | null> {
      const row =
        addressId !== undefined
          ? await requireAddress(executor, userId, addressId)
          : executor.isTransaction
            ? await repo.findDefault(executor, userId)
            : await defaultReads.submit(userId);
      return row ? shippingTextOf(row) : null;
    },

    async eraseInTransaction(trx: Tx, userId: number): Promise<number> {
      await repo.lockBook(trx, userId);
      return repo.removeAll(trx, userId);
    },
  };
}
