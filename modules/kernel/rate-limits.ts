/**
 * Limits on what costs: every write, sign-ups and searches, counted per caller (a logged-in
 * account) and per client address, in Redis (in-process when embedded) through
 * rate-limiter-flexible. The procedure middleware in trpc.ts asks before a call runs; a refusal is
 * RATE_LIMITED (TOO_MANY_REQUESTS) with `retryAfterSeconds`, which the HTTP layer turns into a
 * `Retry-After` header. Login has its own limits (per account and address, per address) in identity.
 */
import type { Infra, RateLimitDecision, RateLimiter } from "./infra/types.ts";

/** What a procedure costs beyond a plain read. Mutations are always "write". */
export type CallCost = "search" | "signUp";

export interface RateLimitSettings {
  writesPerMinutePerCaller: number;
  writesPerMinutePerAddress: number;
  searchesPerMinutePerCaller: number;
  searchesPerMinutePerAddress: number;
  signUpsPerHourPerAddress: number;
}

const defaultRateLimitSettings: RateLimitSettings = {
  writesPerMinutePerCaller: 120,
  writesPerMinutePerAddress: 1_200,
  searchesPerMinutePerCaller: 120,
  searchesPerMinutePerAddress: 1_200,
  signUpsPerHourPerAddress: 20,
};

export interface CallToLimit {
  type: "query" | "mutation" | "subscription";
  cost: CallCost | undefined;
  userId: number | null;
  /** Operators are not limited per caller (importing a catalog is many writes); their address still is. */
  role?: "customer" | "admin" | null;
  ip: string | null;
}

export interface CallLimits {
  /** Takes one point from every bucket the call counts against; refused if any was empty. */
  consume(call: CallToLimit): Promise<RateLimitDecision>;
}

const allowed: RateLimitDecision = { allowed: true, remaining: Number.POSITIVE_INFINITY, retryAfterMs: 0 };

export function createCallLimits(infra: Infra, settings: RateLimitSettings = defaultRateLimitSettings): CallLimits {
  const minute = (name: string, points: number) => infra.rateLimiter({ name, points, durationSeconds: 60 });
  const writes = { caller: minute("writes-caller", settings.writesPerMinutePerCaller), address: minute("writes-address", settings.writesPerMinutePerAddress) };
  const searches = {
    caller: minute("searches-caller", settings.searchesPerMinutePerCaller),
    address: minute("searches-address", settings.searchesPerMinutePerAddress),
  };
  const signUps = infra.rateLimiter({ name: "signups-address", points: settings.signUpsPerHourPerAddress, durationSeconds: 3_600 });

  return {
    async consume({ type, cost, userId, role, ip }) {
      const buckets: Array<[RateLimiter, string]> = [];
      // A call without a client address is in-process (tests, scripts): only its caller is counted.
      const count = (pair: { caller: RateLimiter; address: RateLimiter }) => {
        if (userId !== null && role !== "admin") buckets.push([pair.caller, String(userId)]);
        if (ip !== null) buckets.push([pair.address, ip]);
      };
      if (type === "mutation") count(writes);
      if (cost === "search") count(searches);
      if (cost === "signUp" && ip !== null) buckets.push([signUps, ip]);
      if (buckets.length === 0) return allowed;
      const decisions = await infra.consumeEach(buckets);
      const refused = decisions.filter((d) => !d.allowed);
      if (refused.length === 0) return { allowed: true, remaining: Math.min(...decisions.map((d) => d.remaining)), retryAfterMs: 0 };
      return { allowed: false, remaining: 0, retryAfterMs: Math.max(...refused.map((d) => d.retryAfterMs)) };
    },
  };
}
