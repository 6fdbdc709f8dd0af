import type { Selectable } from "kysely";
import type { Db, IdentityUsersTable, Tx } from "../../db/index.ts";

type Executor = Db | Tx;
export type UserRow = Selectable<IdentityUsersTable>;

export const identityRepository = {
  async insertUser(
    db: Executor,
    user: { email: string; passwordHash: string; name: string; phone: string | null; role: "customer" | "admin"; at: Date },
  ): Promise<UserRow> {
    return db
      .insertInto("identity_users")
      .values({
        email: user.email,
        password_hash: user.passwordHash,
        name: user.name,
        phone: user.phone,
        role: user.role,
        status: "active",
        created_at: user.at,
        updated_at: user.at,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
  },

  findUserByEmail(db: Executor, email: string): Promise<UserRow | undefined> {
    return db.selectFrom("identity_users").selectAll().where("email", "=", email).executeTakeFirst();
  },

  findUserById(db: Executor, id: number): Promise<UserRow | undefined> {
    return db.selectFrom("identity_users").selectAll().where("id", "=", id).executeTakeFirst();
  },

  findUsersByIds(db: Executor, ids: number[]): Promise<UserRow[]> {
    if (ids.length === 0) return Promise.resolve([]);
    return db.selectFrom("identity_users").selectAll().where("id", "in", ids).execute();
  },

  /** Active admin accounts, oldest first: who hears operator alerts when none are configured. */
  listActiveAdmins(db: Executor): Promise<UserRow[]> {
    return db.selectFrom("identity_users").selectAll().where("role", "=", "admin").where("status", "=", "active").orderBy("id", "asc").execute();
  },

  async updateUser(
    db: Executor,
    id: number,
    patch: { name?: string; phone?: string | null; passwordHash?: string; status?: "active" | "deactivated"; role?: "customer" | "admin" },
    at: Date,
  ): Promise<UserRow | undefined> {
    return db
      .updateTable("identity_users")
      .set({
        ...(patch.name !== undefined ? { name: patch.name } : {}),
        ...(patch.phone !== undefined ? { phone: patch.phone } : {}),
        ...(patch.passwordHash !== undefined ? { password_hash: patch.passwordHash } : {}),
        ...(patch.status !== undefined ? { status: patch.status } : {}),
        ...(patch.role !== undefined ? { role: patch.role } : {}),
        updated_at: at,
      })
      .where("id", "=", id)
      .returningAll()
      .executeTakeFirst();
  },

  async listUsers(
    db: Executor,
    filter: { query?: string; status?: "active" | "deactivated"; role?: "customer" | "admin"; afterId?: number; limit: number },
  ): Promise<UserRow[]> {
    let q = db.selectFrom("identity_users").selectAll().orderBy("id", "asc").limit(filter.limit);
    if (filter.role) q = q.where("role", "=", filter.role);
    if (filter.afterId !== undefined) q = q.where("id", ">", filter.afterId);
    if (filter.status) q = q.where("status", "=", filter.status);
    if (filter.query) {
      const pattern = `%${filter.query.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      q = q.where((eb) => eb.or([eb("name", "ilike", pattern), eb("email", "ilike", pattern), eb("phone", "ilike", pattern)]));
    }
    return q.execute();
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
      .select(["s.token_hash", "s.user_id", "s.expires_at", "u.role"])
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
