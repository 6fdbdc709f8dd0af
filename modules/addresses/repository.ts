/**
 * All SQL of the address book. Recipient, phone and address are sealed here (modules/kernel/pii.ts):
 * the service sees plaintext, the database ciphertext. The table's own rules: a slot 1..20 unique
 * per customer (the size limit), one default per customer (a partial unique index).
 */
import { type Selectable, sql } from "kysely";
import type { CustomerAddressesTable, Db, Tx } from "../../db/index.ts";
import { compiledQuery } from "../../db/index.ts";
import type { PiiCipher } from "../kernel/index.ts";

type Executor = Db | Tx;
export type AddressRow = Selectable<CustomerAddressesTable>;

export const MAX_ADDRESSES = 20;

const RECIPIENT = "customer_addresses.recipient";
const PHONE = "customer_addresses.phone";
const ADDRESS = "customer_addresses.address";

export interface AddressFields {
  label: string;
  recipient: string;
  phone: string | null;
  address: string;
}

/** Read on every order placed without an address: compiled once (db/compiled.ts). */
const defaultAddress = compiledQuery((db, userId: number) =>
  db.selectFrom("customer_addresses").selectAll().where("user_id", "=", userId).where("is_default", "=", sql<boolean>`true`),
);

/** `defaultAddress` for several customers at once (orders placed together, see the service). */
const defaultAddresses = compiledQuery(
  (_db, userIds: number[]) => sql<AddressRow>`SELECT * FROM customer_addresses WHERE user_id = ANY(${userIds}::int8[]) AND is_default = true`,
);

export type AddressRepository = ReturnType<typeof createAddressRepository>;

export function createAddressRepository(cipher: PiiCipher) {
  async function opened(row: AddressRow): Promise<AddressRow> {
    const [recipient, phone, address] = await Promise.all([
      cipher.open(row.recipient, RECIPIENT),
      row.phone === null ? null : cipher.open(row.phone, PHONE),
      cipher.open(row.address, ADDRESS),
    ]);
    return { ...row, recipient, phone, address };
  }
  const openedMaybe = async (row: AddressRow | undefined) => (row ? opened(row) : undefined);

  async function sealed(fields: Partial<AddressFields>) {
    return {
      ...(fields.label !== undefined ? { label: fields.label } : {}),
      ...(fields.recipient !== undefined ? { recipient: await cipher.seal(fields.recipient, RECIPIENT) } : {}),
      ...(fields.phone !== undefined ? { phone: fields.phone === null ? null : await cipher.seal(fields.phone, PHONE) } : {}),
      ...(fields.address !== undefined ? { address: await cipher.seal(fields.address, ADDRESS) } : {}),
    };
  }

  return {
    /**
     * One change to a customer's address book at a time, until commit: the count and the default
     * are read, then written. Address rows are locked by nothing else (not in the global lock order).
     */
    async lockBook(trx: Tx, userId: number): Promise<void> {
      await sql`select pg_advisory_xact_lock(hashtext('agora:addresses'), (${userId}::int8 % 2147483647)::int4)`.execute(trx);
    },

    /** Inserts at the lowest free slot; undefined when all MAX_ADDRESSES slots are taken. */
    async insert(trx: Tx, userId: number, fields: AddressFields, isDefault: boolean, at: Date): Promise<AddressRow | undefined> {
      const values = await sealed(fields);
      const row = await trx
        .insertInto("customer_addresses")
        .columns(["user_id", "slot", "label", "recipient", "phone", "address", "is_default", "created_at", "updated_at"])
        .expression(
          sql`SELECT ${userId}::int8, free.slot, ${values.label}, ${values.recipient}, ${values.phone ?? null}, ${values.address}, ${isDefault}, ${at}::timestamptz, ${at}::timestamptz
                FROM generate_series(1, ${MAX_ADDRESSES}) AS free(slot)
               WHERE NOT EXISTS (SELECT 1 FROM customer_addresses a WHERE a.user_id = ${userId} AND a.slot = free.slot)
               ORDER BY free.slot LIMIT 1`,
        )
        .returningAll()
        .executeTakeFirst();
      return openedMaybe(row);
    },

    async find(db: Executor, userId: number, addressId: number): Promise<AddressRow | undefined> {
      return openedMaybe(await db.selectFrom("customer_addresses").selectAll().where("id", "=", addressId).where("user_id", "=", userId).executeTakeFirst());
    },

    async findDefault(db: Executor, userId: number): Promise<AddressRow | undefined> {
      return openedMaybe((await defaultAddress(db, userId)).rows[0]);
    },

    /** Each customer's default address, opened (absent: none), in one statement for several customers. */
    async findDefaults(db: Executor, userIds: number[]): Promise<Map<number, AddressRow>> {
      if (userIds.length === 1) {
        const [userId] = userIds as [number];
        const row = await this.findDefault(db, userId);
        return new Map(row ? [[userId, row]] : []);
      }
      const { rows } = await defaultAddresses(db, userIds);
      return new Map(await Promise.all(rows.map(async (row) => [Number(row.user_id), await opened(row)] as const)));
    },

    async list(db: Executor, userId: number, afterId: number | undefined, limit: number): Promise<AddressRow[]> {
      let q = db.selectFrom("customer_addresses").selectAll().where("user_id", "=", userId).orderBy("id").limit(limit);
      if (afterId !== undefined) q = q.where("id", ">", afterId);
      return Promise.all((await q.execute()).map(opened));
    },

    async count(db: Executor, userId: number): Promise<number> {
      const row = await db
        .selectFrom("customer_addresses")
        .select((eb) => eb.fn.countAll<string>().as("n"))
        .where("user_id", "=", userId)
        .executeTakeFirstOrThrow();
      return Number(row.n);
    },

    async update(trx: Tx, userId: number, addressId: number, fields: Partial<AddressFields>, at: Date): Promise<AddressRow | undefined> {
      const row = await trx
        .updateTable("customer_addresses")
        .set({ ...(await sealed(fields)), updated_at: at })
        .where("id", "=", addressId)
        .where("user_id", "=", userId)
        .returningAll()
        .executeTakeFirst();
      return openedMaybe(row);
    },

    /** The default moves: the old one off first, so the partial unique index never sees two. */
    async setDefault(trx: Tx, userId: number, addressId: number, at: Date): Promise<void> {
      await trx
        .updateTable("customer_addresses")
        .set({ is_default: false, updated_at: at })
        .where("user_id", "=", userId)
        .where("is_default", "=", true)
        .where("id", "<>", addressId)
        .execute();
      await trx.updateTable("customer_addresses").set({ is_default: true, updated_at: at }).where("id", "=", addressId).where("user_id", "=", userId).execute();
    },

    async remove(trx: Tx, userId: number, addressId: number): Promise<AddressRow | undefined> {
      return openedMaybe(
        await trx.deleteFrom("customer_addresses").where("id", "=", addressId).where("user_id", "=", userId).returningAll().executeTakeFirst(),
      );
    },

    async oldest(trx: Tx, userId: number): Promise<{ id: number } | undefined> {
      return trx.selectFrom("customer_addresses").select("id").where("user_id", "=", userId).orderBy("id").limit(1).executeTakeFirst();
    },

    /** Erasing an account: the whole book goes. */
    async removeAll(trx: Tx, userId: number): Promise<number> {
      const result = await trx.deleteFrom("customer_addresses").where("user_id", "=", userId).executeTakeFirst();
      return Number(result.numDeletedRows);
    },
  };
}
