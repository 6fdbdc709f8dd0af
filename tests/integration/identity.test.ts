import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sql } from "kysely";
import { codeOf, errorOf, startTestAgora, type TestAgora } from "../support/agora.ts";

let t: TestAgora;
beforeAll(async () => {
  t = await startTestAgora({ config: { loginAttemptsPerAccountAndAddress: 3 } });
});
afterAll(() => t.close());

describe("identity", () => {
  test("sign up, then me, update profile, log out", async () => {
    const session = await t.client().identity.signUp.mutate({ email: "Kim@Example.COM", password: "long-enough-1", name: "Kim", phone: "010-1234-5678" });
    expect(session.user).toMatchObject({ email: "kim@example.com", name: "Kim", role: "customer", status: "active" });
    expect(session.token.length).toBeGreaterThanOrEqual(43); // 256 random bits, base64url

    const kim = t.client(session.token);
    expect((await kim.identity.me.query()).id).toBe(session.user.id);
    const updated = await kim.identity.updateProfile.mutate({ name: "Kim Minji" });
    expect(updated.name).toBe("Kim Minji");

    await kim.identity.logout.mutate();
    expect(await codeOf(kim.identity.me.query())).toBe("UNAUTHENTICATED");
  });

  test("changing the password ends every other session at once, cached or not, and keeps this one", async () => {
    const c = await t.signUpCustomer("rotate");
    const other = t.client((await t.client().identity.login.mutate({ email: c.email, password: "correct-horse-battery" })).token);
    expect((await other.identity.me.query()).id).toBe(c.id); // cached now
    await c.client.identity.changePassword.mutate({ currentPassword: "correct-horse-battery", newPassword: "a-brand-new-secret" });
    expect(await codeOf(other.identity.me.query())).toBe("UNAUTHENTICATED");
    expect((await c.client.identity.me.query()).id).toBe(c.id);
    expect(await codeOf(t.client().identity.login.mutate({ email: c.email, password: "correct-horse-battery" }))).toBe("INVALID_CREDENTIALS");
    expect((await t.client().identity.login.mutate({ email: c.email, password: "a-brand-new-secret" })).user.id).toBe(c.id);
  });

  test("stores only a hash of the token and an argon2id password hash", async () => {
    const c = await t.signUpCustomer("hash");
    const sessions = await t.db.selectFrom("identity_sessions").select("token_hash").where("user_id", "=", c.id).execute();
    expect(sessions.map((s) => s.token_hash)).not.toContain(c.token);
    const user = await t.db.selectFrom("identity_users").select("password_hash").where("id", "=", c.id).executeTakeFirstOrThrow();
    expect(user.password_hash.startsWith("$argon2id$")).toBe(true);
  });

  test("duplicate email is refused with EMAIL_TAKEN", async () => {
    const c = await t.signUpCustomer("dup");
    expect(await codeOf(t.client().identity.signUp.mutate({ email: c.email.toUpperCase(), password: "long-enough-1", name: "X" }))).toBe("EMAIL_TAKEN");
  });

  test("login works, a wrong password does not", async () => {
    const c = await t.signUpCustomer("login");
    const session = await t.client().identity.login.mutate({ email: c.email, password: "correct-horse-battery" });
    expect(session.user.id).toBe(c.id);
    expect(await codeOf(t.client().identity.login.mutate({ email: c.email, password: "wrong-password" }))).toBe("INVALID_CREDENTIALS");
    expect(await codeOf(t.client().identity.login.mutate({ email: "nobody@agora.test", password: "wrong-password" }))).toBe("INVALID_CREDENTIALS");
  });

  test("a session revoked by another instance is refused once this instance's own copy lapses (SESSION_LOCAL_CACHE_MS)", async () => {
    const c = await t.signUpCustomer("elsewhere");
    expect((await c.client.identity.me.query()).id).toBe(c.id); // resolved: now in this process's memory
    // Another instance logs the session out: the database revokes it and the shared cache forgets it.
    const { rows } = await sql<{ token_hash: string }>`
      UPDATE identity_sessions SET revoked_at = now() WHERE user_id = ${c.id} RETURNING token_hash`.execute(t.db);
    for (const row of rows) await t.infra.cache.delete(`session:${row.token_hash}`);
    // Within the local time this instance still knows the session without asking anyone…
    expect((await c.client.identity.me.query()).id).toBe(c.id);
    // …and past it, it asks again and hears that the session is gone.
    t.clock.advance(1_001);
    expect(await codeOf(c.client.identity.me.query())).toBe("UNAUTHENTICATED");
  });

  test("a session stays in the shared cache 80–100 % of SESSION_CACHE_SECONDS, at random: a crowd signed in together does not expire together", async () => {
    const redis = t.redis;
    if (!redis) throw new Error("this test needs the Redis infra");
    const ttls: number[] = [];
    for (let i = 0; i < 8; i++) {
      const c = await t.signUpCustomer(`crowd${i}`);
      const [row] = (await sql<{ token_hash: string }>`SELECT token_hash FROM identity_sessions WHERE user_id = ${c.id}`.execute(t.db)).rows;
      ttls.push(await redis.client.pttl(`${redis.prefix}cache:session:${row?.token_hash}`));
    }
    for (const ttl of ttls) {
      expect(ttl).toBeGreaterThan(0.8 * 120_000 - 5_000);
      expect(ttl).toBeLessThanOrEqual(120_000);
    }
    expect(new Set(ttls.map((ttl) => Math.round(ttl / 1_000))).size).toBeGreaterThan(1);
  });

  test("a request that read a session just before its logout cannot put it back in the cache", async () => {
    const c = await t.signUpCustomer("race");
    expect((await c.client.identity.me.query()).id).toBe(c.id);
    const [row] = (
      await sql<{ token_hash: string; expires_at: Date }>`SELECT token_hash, expires_at FROM identity_sessions WHERE user_id = ${c.id}`.execute(t.db)
    ).rows;
    if (!row) throw new Error("no session");
    // What a concurrent resolveSession read from the database before the logout…
    const stale = { userId: c.id, role: "customer", tokenHash: row.token_hash, expiresAt: row.expires_at };
    await c.client.identity.logout.mutate();
    // …and writes to the shared cache after it, as resolveSession does.
    await t.infra.cache.fill(`session:${row.token_hash}`, stale, 60_000);
    t.clock.advance(1_001); // past any instance's local copy
    expect(await codeOf(c.client.identity.me.query())).toBe("UNAUTHENTICATED");
  });

  test("a logout whose cache mark cannot be written is retried, then marked in the background once the cache takes it", async () => {
    const c = await t.signUpCustomer("markfails");
    expect((await c.client.identity.me.query()).id).toBe(c.id);
    const [row] = (await sql<{ token_hash: string }>`SELECT token_hash FROM identity_sessions WHERE user_id = ${c.id}`.execute(t.db)).rows;
    const cache = t.infra.cache;
    const forbid = cache.forbid;
    let attempts = 0;
    cache.forbid = async () => {
      attempts++;
      throw new Error("cache write failed");
    };
    try {
      // The logout is committed: the caller is answered, not failed for the cache.
      await c.client.identity.logout.mutate();
      expect(attempts).toBe(3);
      // The cached copy is still there (nothing could mark it)…
      expect(await t.infra.cache.get(`session:${row?.token_hash}`)).toMatchObject({ userId: c.id });
    } finally {
      cache.forbid = forbid;
    }
    // …until the background retry (every second) marks it.
    for (let waited = 0; waited < 3_000 && (await t.infra.cache.get(`session:${row?.token_hash}`)) !== undefined; waited += 100) await Bun.sleep(100);
    expect(await t.infra.cache.get(`session:${row?.token_hash}`)).toBeUndefined();
    t.clock.advance(1_001); // past this instance's own copy
    expect(await codeOf(c.client.identity.me.query())).toBe("UNAUTHENTICATED");
  });

  test("an expired token is refused", async () => {
    const c = await t.signUpCustomer("expiry");
    expect((await c.client.identity.me.query()).id).toBe(c.id);
    t.clock.advance(8 * 24 * 60 * 60 * 1000); // sessions last 7 days
    expect(await codeOf(c.client.identity.me.query())).toBe("UNAUTHENTICATED");
  });

  test("a made-up token is refused", async () => {
    expect(await codeOf(t.client("x".repeat(43)).identity.me.query())).toBe("UNAUTHENTICATED");
  });

  test("login is rate limited per account and address", async () => {
    const c = await t.signUpCustomer("limited");
    for (let i = 0; i < 3; i++) {
      expect(await codeOf(t.client().identity.login.mutate({ email: c.email, password: "wrong-password" }))).toBe("INVALID_CREDENTIALS");
    }
    const limited = await errorOf(t.client().identity.login.mutate({ email: c.email, password: "correct-horse-battery" }));
    expect(limited.data.domainCode).toBe("RATE_LIMITED");
    expect(limited.data.httpStatus).toBe(429);
    expect(Number(limited.data.details?.retryAfterSeconds)).toBeGreaterThan(0);
  });

  test("admin procedures refuse customers and anonymous callers", async () => {
    const c = await t.signUpCustomer("nosy");
    expect(await codeOf(c.client.identity.admin.listCustomers.query({}))).toBe("FORBIDDEN");
    expect(await codeOf(t.client().identity.admin.listCustomers.query({}))).toBe("UNAUTHENTICATED");
  });

  test("admin lists, searches and deactivates customers; deactivation ends their sessions", async () => {
    const admin = await t.admin();
    const target = await t.signUpCustomer("searchable");
    const found = await admin.client.identity.admin.listCustomers.query({ query: "searchable" });
    expect(found.items.map((u) => u.id)).toEqual([target.id]);

    const page1 = await admin.client.identity.admin.listCustomers.query({ limit: 2 });
    expect(page1.items).toHaveLength(2);
    const page2 = await admin.client.identity.admin.listCustomers.query({ limit: 2, cursor: page1.nextCursor ?? undefined });
    expect(page2.items[0]?.id).toBeGreaterThan(page1.items[1]?.id ?? 0);

    expect((await target.client.identity.me.query()).id).toBe(target.id); // its session is now cached
    await admin.client.identity.admin.deactivate.mutate({ userId: target.id });
    expect(await codeOf(target.client.identity.me.query())).toBe("UNAUTHENTICATED");
    expect(await codeOf(t.client().identity.login.mutate({ email: target.email, password: "correct-horse-battery" }))).toBe("ACCOUNT_DEACTIVATED");

    // Reactivated: logs in again; the old session stays ended.
    expect((await admin.client.identity.admin.reactivate.mutate({ userId: target.id })).status).toBe("active");
    expect(await codeOf(target.client.identity.me.query())).toBe("UNAUTHENTICATED");
    expect((await t.client().identity.login.mutate({ email: target.email, password: "correct-horse-battery" })).user.id).toBe(target.id);
  });

  test("customers are listed without admins unless asked; an admin cannot deactivate themself", async () => {
    const admin = await t.admin();
    const customers = await admin.client.identity.admin.listCustomers.query({ limit: 100 });
    expect(customers.items.map((u) => u.role)).not.toContain("admin");
    const admins = await admin.client.identity.admin.listCustomers.query({ role: "admin" });
    expect(admins.items.map((u) => u.id)).toContain(admin.id);
    expect((await admin.client.identity.admin.listCustomers.query()).items.length).toBeGreaterThan(0); // input may be omitted
    expect(await codeOf(admin.client.identity.admin.deactivate.mutate({ userId: admin.id }))).toBe("FORBIDDEN");
    expect((await admin.client.identity.me.query()).status).toBe("active");
  });

  test("bad input answers BAD_REQUEST with field errors and writes nothing", async () => {
    const before = await t.db
      .selectFrom("identity_users")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .executeTakeFirstOrThrow();
    const error = await errorOf(
      t.client().identity.signUp.mutate({ email: "not-an-email", password: "short", name: "x".repeat(10_000), role: "admin" } as never),
    );
    expect(error.data.code).toBe("BAD_REQUEST");
    expect(error.data.domainCode).toBe("VALIDATION_FAILED");
    expect(Object.keys(error.data.fieldErrors ?? {}).sort()).toEqual(["email", "name", "password"]);
    expect(error.data.stack).toBeUndefined();
    const after = await t.db
      .selectFrom("identity_users")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .executeTakeFirstOrThrow();
    expect(after.n).toBe(before.n);
  });
});
