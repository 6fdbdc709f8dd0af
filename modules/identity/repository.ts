/**
 * All SQL of identity. Email and phone are sealed here, at the edge of storage: the service and every
 * caller see plaintext rows, the database sees ciphertext and keyed blind indexes (modules/kernel/pii.ts).
 */
import { type Selectable, sql } from "kysely";
import type { Db, IdentityUsersTable, Tx } from "../../db/index.ts";
import { compiledQuery } from "../../db/index.ts";
import type { PiiCipher } from "../kernel/index.ts";

type Executor = Db | Tx;
export type UserRow = Selectable<IdentityUsersTable>;

const EMAIL = "identity_users.email";
const PHONE = "identity_users.phone";

/** What the blind indexes compare: emails lower-cased, phones as their digits alone. */
export const normalizeEmail = (email: string) => email.trim().toLowerCase();
export const normalizePhone = (phone: string) => phone.replace(/\D/g, "");

/** A customer's contact (every notification asks for one): built once (db/compiled.ts). */
const contactsStatement = compiledQuery(
  (_db, ids: number[]) => sql<Pick<UserRow, "id" | "email" | "name" | "phone" | "status">>`
    SELECT id, email, name, phone, status FROM identity_users WHERE id = ANY(${ids}::int8[])`,
  // Planned with its ids every time (a generic plan of `= ANY` made on a small table may scan it all).
  { prepared: false },
);

export type IdentityRepository = ReturnType<typeof createIdentityRepository>;

export function createIdentityRepository(cipher: PiiCipher) {
  const emailIndex = (email: string) => cipher.blindIndex(normalizeEmail(email), EMAIL);
  const phoneIndex = (phone: string | null) => (phone === null || normalizePhone(phone) === "" ? null : cipher.blindIndex(normalizePhone(phone), PHONE));
  const sealPhone = (phone: string | null) => (phone === null ? Promise.resolve(null) : cipher.seal(phone, PHONE));

  async function opened(row: UserRow): Promise<UserRow> {
    const [email, phone] = await Promise.all([cipher.open(row.email, EMAIL), row.phone === null ? null : cipher.open(row.phone, PHONE)]);
    return { ...row, email, phone };
  }
  const openedMaybe = async (row: UserRow | undefined) => (row ? opened(row) : undefined);
  const openedAll = (rows: UserRow[]) => Promise.all(rows.map(opened));

  return {
    async insertUser(
      db: Executor,
      user: { email: string; passwordHash: string; name: string; phone: string | null; role: "customer" | "admin"; at: Date; mustChangePassword?: boolean },
    ): Promise<UserRow> {
      const [email, phone] = await Promise.all([cipher.seal(user.email, EMAIL), sealPhone(user.phone)]);
      const row = await db
        .insertInto("identity_users")
        .values({
          email,
          email_index: emailIndex(user.email),
          password_hash: user.passwordHash,
          name: user.name,
          phone,
          phone_index: phoneIndex(user.phone),
          role: user.role,
          status: "active",
          must_change_password: user.mustChangePassword ?? false,
          created_at: user.at,
          updated_at: user.at,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      return { ...row, email: user.email, phone: user.phone };
    },

    async findUserByEmail(db: Executor, email: string): Promise<UserRow | undefined> {
      return openedMaybe(await db.selectFrom("identity_users").selectAll().where("email_index", "=", emailIndex(email)).executeTakeFirst());
    },

    async findUserById(db: Executor, id: number): Promise<UserRow | undefined> {
      return openedMaybe(await db.selectFrom("identity_users").selectAll().where("id", "=", id).executeTakeFirst());
    },

    /** Contacts (email and phone opened) of these accounts, whatever their status. */
    async contactsByIds(db: Executor, ids: number[]) {
      if (ids.length === 0) return [];
      const rows = (await contactsStatement(db, ids)).rows;
      return Promise.all(
        rows.map(async (row) => {
          const [email, phone] = await Promise.all([cipher.open(row.email, EMAIL), row.phone === null ? null : cipher.open(row.phone, PHONE)]);
          return { ...row, email, phone };
        }),
      );
    },

    async findUsersByIds(db: Executor, ids: number[]): Promise<UserRow[]> {
      if (ids.length === 0) return [];
      return openedAll(await db.selectFrom("identity_users").selectAll().where("id", "in", ids).execute());
    },

    /** Active admin accounts, oldest first: who hears operator alerts when none are configured. */
    async listActiveAdmins(db: Executor): Promise<UserRow[]> {
      return openedAll(
        await db.selectFrom("identity_users").selectAll().where("role", "=", "admin").where("status", "=", "active").orderBy("id", "asc").execute(),
      );
    },

    async updateUser(
      db: Executor,
      id: number,
      patch: {
        name?: string;
        email?: string;
        phone?: string | null;
        passwordHash?: string;
        mustChangePassword?: boolean;
        status?: "active" | "deactivated";
        role?: "customer" | "admin";
      },
      at: Date,
    ): Promise<UserRow | undefined> {
      const phone = patch.phone === undefined ? undefined : await sealPhone(patch.phone);
      const email = patch.email === undefined ? undefined : await cipher.seal(patch.email, EMAIL);
      const row = await db
        .updateTable("identity_users")
        .set({
          ...(patch.name !== undefined ? { name: patch.name } : {}),
          ...(patch.phone !== undefined ? { phone, phone_index: phoneIndex(patch.phone) } : {}),
          ...(patch.email !== undefined ? { email, email_index: emailIndex(patch.email) } : {}),
          ...(patch.passwordHash !== undefined ? { password_hash: patch.passwordHash } : {}),
          ...(patch.mustChangePassword !== undefined ? { must_change_password: patch.mustChangePassword } : {}),
          ...(patch.status !== undefined ? { status: patch.status } : {}),
          ...(patch.role !== undefined ? { role: patch.role } : {}),
          updated_at: at,
        })
        .where("id", "=", id)
        // An erased account stays erased: nothing writes personal data back into it.
        .where("status", "<>", "deleted")
        .returningAll()
        .executeTakeFirst();
      return openedMaybe(row);
    },

    /**
     * Erases an account's personal data and closes it, keeping the row (orders, the ledger and
     * coupons reference it). The email becomes a sealed tombstone unique to the row (the column and
     * its unique index stay as they are), the name a fixed text, the phone nothing; the password
     * hash one no password matches. Undefined when there is no such account or it is erased already.
     */
    async eraseUser(db: Executor, id: number, at: Date): Promise<UserRow | undefined> {
      const tombstone = `deleted-${id}@deleted.invalid`;
      const row = await db
        .updateTable("identity_users")
        .set({
          name: "Deleted customer",
          email: await cipher.seal(tombstone, EMAIL),
          email_index: emailIndex(tombstone),
          phone: null,
          phone_index: null,
          password_hash: "!erased",
          must_change_password: false,
          status: "deleted",
          deleted_at: at,
          updated_at: at,
        })
        .where("id", "=", id)
        .where("status", "<>", "deleted")
        .returningAll()
        .executeTakeFirst();
      return openedMaybe(row);
    },

    /**
     * An operator's search: part of the name, or the exact email or phone (sealed values can only be
     * matched whole, through their blind indexes).
     */
    async listUsers(
      db: Executor,
      filter: { query?: string; status?: "active" | "deactivated" | "deleted"; role?: "customer" | "admin"; afterId?: number; limit: number },
    ): Promise<UserRow[]> {
      let q = db.selectFrom("identity_users").selectAll().orderBy("id", "asc").limit(filter.limit);
      if (filter.role) q = q.where("role", "=", filter.role);
      if (filter.afterId !== undefined) q = q.where("id", ">", filter.afterId);
      // Erased accounts are listed only when asked for by status: they hold nothing to find anyway.
      q = filter.status ? q.where("status", "=", filter.status) : q.where("status", "<>", "deleted");
      if (filter.query) {
        const query = filter.query;
        const pattern = `%${query.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
        const phone = phoneIndex(query);
        q = q.where((eb) =>
          eb.or([eb("name", "ilike", pattern), eb("email_index", "=", emailIndex(query)), ...(phone ? [eb("phone_index", "=", phone)] : [])]),
        );
      }
      return openedAll(await q.execute());
    },

    /**
     * Seals what is not sealed under the current key (rows from before encryption, or under an old key)
     * and fills their blind indexes, `batch` rows at a time. Returns how many rows it rewrote.
     */
    async resealPersonalData(db: Db, batch = 500): Promise<number> {
      let rewritten = 0;
      let afterId = 0;
      const current = `pii1:${cipher.currentKeyId}:`;
      for (;;) {
        const rows = await db
          .selectFrom("identity_users")
          .select(["id", "email", "phone"])
          .where("id", ">", afterId)
          .where((eb) =>
            eb.or([
              eb("email", "not like", `${current}%`),
              eb("email_index", "is", null),
              eb.and([eb("phone", "is not", null), eb("phone", "not like", `${current}%`)]),
            ]),
          )
          .orderBy("id")
          .limit(batch)
          .execute();
        if (rows.length === 0) return rewritten;
        for (const row of rows) {
          const email = await cipher.open(row.email, EMAIL);
          const phone = row.phone === null ? null : await cipher.open(row.phone, PHONE);
          await db
            .updateTable("identity_users")
            .set({ email: await cipher.seal(email, EMAIL), email_index: emailIndex(email), phone: await sealPhone(phone), phone_index: phoneIndex(phone) })
            .where("id", "=", row.id)
            .execute();
          rewritten++;
        }
        afterId = rows.at(-1)?.id ?? afterId;
      }
    },

    async insertSession(db: Executor, session: { tokenHash: string; userId: number; at: Date; expiresAt: Date; ip: string | null }): Promise<void> {
      await db
        .insertInto("identity_sessions")
        .values({ token_hash: session.tokenHash, user_id: session.userId, created_at: session.at, expires_at: session.expiresAt, ip: session.ip })
        .execute();
    },

    /** The live session of a token: not revoked, not expired, its account active. */
    findLiveSession(db: Executor, tokenHash: string, now: Date) {
      return db
        .selectFrom("identity_sessions as s")
        .innerJoin("identity_users as u", "u.id", "s.user_id")
        .select(["s.token_hash", "s.user_id", "s.expires_at", "u.role", "u.must_change_password"])
        .where("s.token_hash", "=", tokenHash)
        .where("s.revoked_at", "is", null)
        .where("s.expires_at", ">", now)
        .where("u.status", "=", "active")
        .executeTakeFirst();
    },

    async revokeSession(db: Executor, tokenHash: string, at: Date): Promise<void> {
      await db.updateTable("identity_sessions").set({ revoked_at: at }).where("token_hash", "=", tokenHash).where("revoked_at", "is", null).execute();
    },

    /** Ends every live session of an account (but one, when given) and returns the token hashes it ended. */
    async revokeUserSessions(db: Executor, userId: number, at: Date, keepTokenHash?: string): Promise<string[]> {
      let q = db.updateTable("identity_sessions").set({ revoked_at: at }).where("user_id", "=", userId).where("revoked_at", "is", null);
      if (keepTokenHash) q = q.where("token_hash", "<>", keepTokenHash);
      const rows = await q.returning("token_hash").execute();
      return rows.map((r) => r.token_hash);
    },
  };
}
