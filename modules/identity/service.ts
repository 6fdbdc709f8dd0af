import { createHash, randomBytes } from "node:crypto";
import { z } from "zod";
import type { Db, Tx } from "../../db/index.ts";
import { pgErrorCode } from "../../db/index.ts";
import type { Clock, Infra, Logger, Page, PiiCipher, RateLimitPolicy, Session } from "../kernel/index.ts";
import { createPiiCipher, decodeCursor, developmentPiiKeys, encodeCursor, kernelErrors } from "../kernel/index.ts";
import { identityErrors } from "./errors.ts";
import { createIdentityRepository, type UserRow } from "./repository.ts";
import type { LoginInput, SignUpInput, UserProfile } from "./schema.ts";

export interface IdentityConfig {
  sessionTtlMs: number;
  /**
   * How long a resolved session is remembered in the cache (Redis, or in-process). Logout,
   * deactivation and password changes delete it at once; the TTL only bounds a missed delete.
   * 0 looks every request up in the database.
   */
  sessionCacheMs: number;
  /**
   * How long this process keeps a session it resolved, in front of the shared cache: in a sale every
   * request of the same customers would otherwise read Redis. Revocations through this process
   * forget it at once; another instance's copy lapses within this time. 0: always ask the cache.
   */
  sessionLocalCacheMs: number;
  /** argon2id cost; tests lower it so hundreds of sign-ups stay quick. */
  passwordHashing: { memoryCost: number; timeCost: number };
  /**
   * Failed logins are limited per account *and* address together, plus per address (OWASP's
   * advice): a stranger who knows an email can use up only their own address's attempts on it,
   * never lock the owner out. A success clears the pair.
   */
  loginLimitPerAccountAndAddress: Omit<RateLimitPolicy, "name">;
  loginLimitPerAddress: Omit<RateLimitPolicy, "name">;
}

export const defaultIdentityConfig: IdentityConfig = {
  sessionTtlMs: 7 * 24 * 60 * 60 * 1000,
  sessionCacheMs: 120_000,
  sessionLocalCacheMs: 1_000,
  passwordHashing: { memoryCost: 19_456, timeCost: 2 },
  loginLimitPerAccountAndAddress: { points: 10, durationSeconds: 15 * 60, blockSeconds: 15 * 60 },
  loginLimitPerAddress: { points: 100, durationSeconds: 15 * 60, blockSeconds: 15 * 60 },
};

export interface IdentityDeps {
  db: Db;
  clock: Clock;
  infra: Infra;
  config: IdentityConfig;
  logger?: Logger;
  /** Seals email and phone at rest. Default: the development keys (tests, trying Agora). */
  cipher?: PiiCipher;
}

export interface IssuedSession {
  token: string;
  expiresAt: Date;
  user: UserProfile;
}

/** A customer an operator registered: the temporary password is shown once, to hand to the customer. */
export interface RegisteredCustomer {
  user: UserProfile;
  temporaryPassword: string;
}

export interface Contact {
  userId: number;
  email: string;
  name: string;
  phone: string | null;
}

export function toProfile(row: UserRow): UserProfile {
  return {
    id: row.id,
    email: row.email,
    name: row.name,
    phone: row.phone,
    role: row.role,
    status: row.status,
    mustChangePassword: row.must_change_password,
    createdAt: row.created_at,
  };
}

export function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

export type IdentityService = ReturnType<typeof createIdentityService>;

export function createIdentityService({ db, clock, infra, config, logger, cipher = createPiiCipher(developmentPiiKeys) }: IdentityDeps) {
  const identityRepository = createIdentityRepository(cipher);
  const hashOptions = { algorithm: "argon2id" as const, ...config.passwordHashing };
  const perAccountAndAddress = infra.rateLimiter({ name: "login-account-address", ...config.loginLimitPerAccountAndAddress });
  const perAddress = infra.rateLimiter({ name: "login-address", ...config.loginLimitPerAddress });
  // Verified against when the email is unknown, so a miss costs the same time as a wrong password.
  const decoyHash = Bun.password.hash("decoy-password-for-timing", hashOptions);

  const sessionKey = (tokenHash: string) => `session:${tokenHash}`;
  /** A revocation's cache mark is tried this often, FORBID_RETRY_MS × attempt apart, then every FORBID_BACKGROUND_MS in the background. */
  const FORBID_ATTEMPTS = 3;
  const FORBID_RETRY_MS = 50;
  const FORBID_BACKGROUND_MS = 1_000;
  /**
   * How long a session stays in the shared cache: sessionCacheMs at most (what a revocation whose
   * cache delete failed may leave usable), down to 80 % of it at random, so a crowd that signed in
   * together does not fall back to the database together, in the middle of the sale it came for.
   */
  const cacheTtlMs = (session: Pick<Session, "expiresAt">, now: Date) =>
    Math.min(Math.round(config.sessionCacheMs * (0.8 + 0.2 * Math.random())), session.expiresAt.getTime() - now.getTime());

  /** Sessions this process resolved lately (insertion order: the oldest go first when it is full). */
  const localSessions = new Map<string, { session: Session; until: number }>();
  const LOCAL_SESSIONS_MAX = 50_000;
  /** Sessions this process revoked lately (a revocation is for good): a resolve that read one just before does not keep it. */
  const revokedHere = new Map<string, number>();
  function keepLocally(session: Session, now: Date): void {
    if (config.sessionLocalCacheMs <= 0) return;
    const revokedUntil = revokedHere.get(session.tokenHash);
    if (revokedUntil !== undefined) {
      if (revokedUntil > now.getTime()) return;
      revokedHere.delete(session.tokenHash);
    }
    if (localSessions.size >= LOCAL_SESSIONS_MAX) localSessions.delete(localSessions.keys().next().value as string);
    localSessions.set(session.tokenHash, { session, until: now.getTime() + Math.min(config.sessionLocalCacheMs, config.sessionCacheMs) });
  }

  /**
   * Forgets cached sessions after they were revoked in the database. The shared cache keeps a mark
   * for as long as an entry could live, so a request that read the session just before the
   * revocation cannot put it back (resolveSession fills, it does not overwrite).
   */
  async function forgetSessions(tokenHashes: string[]): Promise<void> {
    const until = clock.now().getTime() + Math.max(config.sessionCacheMs, config.sessionLocalCacheMs);
    for (const hash of tokenHashes) {
      localSessions.delete(hash);
      if (config.sessionLocalCacheMs > 0) revokedHere.set(hash, until);
    }
    while (revokedHere.size > LOCAL_SESSIONS_MAX) revokedHere.delete(revokedHere.keys().next().value as string);
    if (config.sessionCacheMs <= 0) return;
    // The database already refuses them, but a cached copy would be served until it lapses (up to
    // sessionCacheMs): a failure is retried at once, then in the background every second for as long
    // as a copy could live. The caller is not failed for it: its change is committed, and a retry of
    // a deactivation or a password change would find no session left to mark.
    const forbid = () => Promise.all(tokenHashes.map((hash) => infra.cache.forbid(sessionKey(hash), config.sessionCacheMs)));
    for (let attempt = 1; attempt <= FORBID_ATTEMPTS; attempt++) {
      try {
        await forbid();
        return;
      } catch (error) {
        if (attempt === FORBID_ATTEMPTS) {
          logger?.error({ err: error, sessions: tokenHashes.length }, "could not mark revoked sessions in the cache; retrying in the background");
        } else {
          await Bun.sleep(FORBID_RETRY_MS * attempt);
        }
      }
    }
    const backgroundAttempts = Math.max(1, Math.ceil(config.sessionCacheMs / FORBID_BACKGROUND_MS));
    const retryLater = (attempt: number) => {
      const timer = setTimeout(() => {
        forbid().then(
          () => logger?.warn({ sessions: tokenHashes.length, attempt }, "revoked sessions marked in the cache after a retry"),
          (error) => {
            if (attempt < backgroundAttempts) retryLater(attempt + 1);
            else
              logger?.error(
                { err: error, sessions: tokenHashes.length },
                "gave up marking revoked sessions in the cache; their cached copies lapse on their own",
              );
          },
        );
      }, FORBID_BACKGROUND_MS);
      timer.unref?.();
    };
    retryLater(1);
  }

  /** The caller's own session after its account changed (it stays live): the new value replaces the cached one. */
  async function refreshSession(session: Session): Promise<void> {
    localSessions.delete(session.tokenHash);
    if (config.sessionCacheMs <= 0) return;
    const now = clock.now();
    const ttlMs = cacheTtlMs(session, now);
    // If this fails the cached copy still says "change your password": stricter than the truth, not looser.
    if (ttlMs > 0) await infra.cache.set(sessionKey(session.tokenHash), session, ttlMs).catch(() => {});
  }

  async function issueSession(user: UserRow, ip: string | null): Promise<IssuedSession> {
    const token = randomBytes(32).toString("base64url"); // 256 bits
    const now = clock.now();
    const expiresAt = new Date(now.getTime() + config.sessionTtlMs);
    const tokenHash = hashToken(token);
    await identityRepository.insertSession(db, { tokenHash, userId: user.id, at: now, expiresAt, ip });
    // Cached as it is issued: the customer's first request (often the one that counts, in a sale) skips the database.
    if (config.sessionCacheMs > 0) {
      const session: Session = { userId: user.id, role: user.role, tokenHash, expiresAt, mustChangePassword: user.must_change_password };
      await infra.cache.set(sessionKey(tokenHash), session, cacheTtlMs(session, now)).catch(() => {});
    }
    return { token, expiresAt, user: toProfile(user) };
  }

  async function createAccount(input: SignUpInput, role: "customer" | "admin", mustChangePassword = false): Promise<UserRow> {
    const passwordHash = await Bun.password.hash(input.password, hashOptions);
    try {
      return await identityRepository.insertUser(db, {
        email: input.email,
        passwordHash,
        name: input.name,
        phone: input.phone ?? null,
        role,
        at: clock.now(),
        mustChangePassword,
      });
    } catch (error) {
      if (pgErrorCode(error) === "23505") throw identityErrors.EMAIL_TAKEN.create({ email: input.email });
      throw error;
    }
  }

  async function requireUser(userId: number): Promise<UserRow> {
    const user = await identityRepository.findUserById(db, userId);
    if (!user) throw identityErrors.USER_NOT_FOUND.create({ userId });
    return user;
  }

  return {
    /** Creates a customer account and logs it in. */
    async signUp(input: SignUpInput, ip: string | null): Promise<IssuedSession> {
      const user = await createAccount(input, "customer");
      return issueSession(user, ip);
    },

    async login(input: LoginInput, ip: string | null): Promise<IssuedSession> {
      const address = ip ?? "unknown";
      const pairKey = JSON.stringify([input.email, address]);
      const [pair, fromAddress] = await Promise.all([perAccountAndAddress.consume(pairKey), perAddress.consume(address)]);
      if (!pair.allowed || !fromAddress.allowed) {
        const retryAfterMs = Math.max(pair.retryAfterMs, fromAddress.retryAfterMs);
        throw kernelErrors.RATE_LIMITED.create({ retryAfterSeconds: Math.ceil(retryAfterMs / 1000) });
      }
      const user = await identityRepository.findUserByEmail(db, input.email);
      const valid = await Bun.password.verify(input.password, user?.password_hash ?? (await decoyHash));
      if (!user || !valid) throw identityErrors.INVALID_CREDENTIALS.create();
      if (user.status !== "active") throw identityErrors.ACCOUNT_DEACTIVATED.create();
      await perAccountAndAddress.reset(pairKey);
      return issueSession(user, ip);
    },

    async logout(session: Session): Promise<void> {
      await identityRepository.revokeSession(db, session.tokenHash, clock.now());
      await forgetSessions([session.tokenHash]);
    },

    /**
     * The session a bearer token stands for, or null if it is unknown, expired, revoked or its
     * account deactivated. Live sessions are cached briefly: every authenticated request would
     * otherwise cost a database round trip.
     */
    async resolveSession(token: string): Promise<Session | null> {
      if (token.length < 20 || token.length > 200) return null;
      const tokenHash = hashToken(token);
      const now = clock.now();
      if (config.sessionCacheMs > 0) {
        const local = localSessions.get(tokenHash);
        if (local) {
          if (local.until > now.getTime() && local.session.expiresAt > now) return local.session;
          localSessions.delete(tokenHash);
        }
        const cached = await infra.cache.get<Session>(sessionKey(tokenHash)).catch(() => undefined);
        if (cached && cached.expiresAt > now) {
          keepLocally(cached, now);
          return cached;
        }
      }
      const row = await identityRepository.findLiveSession(db, tokenHash, now);
      if (!row) return null;
      const session: Session = {
        userId: row.user_id,
        role: row.role,
        tokenHash: row.token_hash,
        expiresAt: row.expires_at,
        ...(row.must_change_password ? { mustChangePassword: true } : {}),
      };
      if (config.sessionCacheMs > 0) {
        const ttl = cacheTtlMs(session, now);
        if (ttl > 0) await infra.cache.fill(sessionKey(tokenHash), session, ttl).catch(() => {});
        keepLocally(session, now);
      }
      return session;
    },

    async me(userId: number): Promise<UserProfile> {
      return toProfile(await requireUser(userId));
    },

    async updateProfile(userId: number, patch: { name?: string; phone?: string | null }): Promise<UserProfile> {
      const row = await identityRepository.updateUser(db, userId, patch, clock.now());
      if (!row) throw identityErrors.USER_NOT_FOUND.create({ userId });
      return toProfile(row);
    },

    /**
     * Changes the password and ends every other session of the account. A temporary password
     * (an operator registered the account) stops being one: this session's cached copy is
     * forgotten so the next call reads the account as free to do anything.
     */
    async changePassword(session: Session, currentPassword: string, newPassword: string): Promise<void> {
      const user = await requireUser(session.userId);
      if (!(await Bun.password.verify(currentPassword, user.password_hash))) throw identityErrors.INVALID_CREDENTIALS.create();
      const now = clock.now();
      const passwordHash = await Bun.password.hash(newPassword, hashOptions);
      const ended = await db.transaction().execute(async (trx) => {
        await identityRepository.updateUser(trx, user.id, { passwordHash, mustChangePassword: false }, now);
        return identityRepository.revokeUserSessions(trx, user.id, now, session.tokenHash);
      });
      await forgetSessions(ended);
      if (user.must_change_password) await refreshSession({ ...session, mustChangePassword: false });
    },

    /**
     * An operator registers a customer: a temporary password (random, 128 bits) the customer must
     * replace at their first login. It is answered once and stored only as its hash.
     */
    async registerCustomer(input: { email: string; name: string; phone?: string }): Promise<RegisteredCustomer> {
      const temporaryPassword = randomBytes(16).toString("base64url");
      const row = await createAccount({ ...input, password: temporaryPassword }, "customer", true);
      return { user: toProfile(row), temporaryPassword };
    },

    /** An operator edits a customer's profile (an erased account cannot be edited: USER_NOT_FOUND). */
    async updateCustomer(userId: number, patch: { name?: string; email?: string; phone?: string | null }): Promise<UserProfile> {
      try {
        const row = await identityRepository.updateUser(db, userId, patch, clock.now());
        if (!row) throw identityErrors.USER_NOT_FOUND.create({ userId });
        return toProfile(row);
      } catch (error) {
        if (pgErrorCode(error) === "23505") throw identityErrors.EMAIL_TAKEN.create({ email: patch.email ?? "" });
        throw error;
      }
    },

    /** The password check before a customer deletes their own account. */
    async verifyPassword(userId: number, password: string): Promise<void> {
      const user = await requireUser(userId);
      if (!(await Bun.password.verify(password, user.password_hash))) throw identityErrors.INVALID_CREDENTIALS.create();
    },

    /**
     * Erases the account inside the caller's transaction (customers.delete): personal data replaced,
     * every session ended. Returns the ended sessions' hashes for `forgetSessions` after the commit.
     */
    async eraseInTransaction(trx: Tx, userId: number): Promise<{ profile: UserProfile; deletedAt: Date; endedSessions: string[] }> {
      const now = clock.now();
      const row = await identityRepository.eraseUser(trx, userId, now);
      if (!row) throw identityErrors.USER_NOT_FOUND.create({ userId });
      return { profile: toProfile(row), deletedAt: now, endedSessions: await identityRepository.revokeUserSessions(trx, userId, now) };
    },

    forgetSessions,

    async listCustomers(filter: {
      query?: string;
      status?: "active" | "deactivated" | "deleted";
      role?: "customer" | "admin" | "any";
      cursor?: string;
      limit: number;
    }): Promise<Page<UserProfile>> {
      const afterId = decodeCursor(filter.cursor, z.number().int());
      const role = filter.role === "any" ? undefined : (filter.role ?? "customer");
      const rows = await identityRepository.listUsers(db, { query: filter.query, status: filter.status, role, afterId, limit: filter.limit + 1 });
      const page = rows.slice(0, filter.limit);
      const last = page.at(-1);
      return { items: page.map(toProfile), nextCursor: rows.length > filter.limit && last ? encodeCursor(last.id) : null };
    },

    /** Lets a deactivated account log in again (its old sessions stay ended). */
    async reactivate(userId: number): Promise<UserProfile> {
      const row = await identityRepository.updateUser(db, userId, { status: "active" }, clock.now());
      if (!row) throw identityErrors.USER_NOT_FOUND.create({ userId });
      return toProfile(row);
    },

    async getCustomer(userId: number): Promise<UserProfile> {
      return toProfile(await requireUser(userId));
    },

    /** Deactivates an account and ends all its sessions at once. An admin cannot lock themself out. */
    async deactivate(userId: number, actorId: number): Promise<UserProfile> {
      if (userId === actorId) throw kernelErrors.FORBIDDEN.create({ userId }, "You cannot deactivate your own account");
      const now = clock.now();
      const { profile, ended } = await db.transaction().execute(async (trx) => {
        const row = await identityRepository.updateUser(trx, userId, { status: "deactivated" }, now);
        if (!row) throw identityErrors.USER_NOT_FOUND.create({ userId });
        return { profile: toProfile(row), ended: await identityRepository.revokeUserSessions(trx, userId, now) };
      });
      await forgetSessions(ended);
      return profile;
    },

    /** Creates the configured admin on first start, or promotes the account if it exists. Never reachable from a procedure. */
    async ensureAdmin(input: SignUpInput): Promise<UserProfile> {
      const existing = await identityRepository.findUserByEmail(db, input.email);
      if (existing) {
        if (existing.role === "admin") return toProfile(existing);
        const row = await identityRepository.updateUser(db, existing.id, { role: "admin" }, clock.now());
        return toProfile(row ?? existing);
      }
      try {
        return toProfile(await createAccount(input, "admin"));
      } catch (error) {
        // Another instance created it at the same moment.
        const raced = await identityRepository.findUserByEmail(db, input.email);
        if (raced) return toProfile(raced);
        throw error;
      }
    },

    /** Names and addresses for notifications. */
    async getContacts(userIds: number[]): Promise<Contact[]> {
      // An erased account has no contact: nothing is sent to it any more.
      const rows = (await identityRepository.contactsByIds(db, userIds)).filter((row) => row.status !== "deleted");
      return rows.map((row) => ({ userId: row.id, email: row.email, name: row.name, phone: row.phone }));
    },

    /**
     * Seals every email and phone not yet sealed under the current key (rows from before encryption,
     * or after a key rotation). Idempotent; the server runs it at start, `bun run pii:reencrypt` on demand.
     */
    resealPersonalData: () => identityRepository.resealPersonalData(db),

    /** Every active admin's contact: the operators notifications fall back to when none are configured. */
    async adminContacts(): Promise<Contact[]> {
      const rows = await identityRepository.listActiveAdmins(db);
      return rows.map((row) => ({ userId: row.id, email: row.email, name: row.name, phone: row.phone }));
    },
  };
}
