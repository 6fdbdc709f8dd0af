/**
 * Redis admission for first-come-first-served issues: one Lua script checks "already holds it"
 * and takes a unit of the remaining count atomically, so a storm of thousands costs PostgreSQL
 * only the winners. It only turns people away early; PostgreSQL still decides every issue
 * (conditional UPDATE + UNIQUE), so a flushed or restarted Redis can never cause an over-issue:
 * the state is rebuilt from the database on the next request.
 */
import type { Redis } from "ioredis";
import { luaScript } from "../kernel/index.ts";

export type Admission = "admitted" | "already_holder" | "sold_out" | "skipped";
export type GiveBack = "unit_and_holder" | "unit_only" | "sold_out";

export interface CouponAdmission {
  admit(couponId: number, userId: number): Promise<Admission>;
  /** Undoes an admission the database then refused. Best effort: a miss only makes admission stricter or looser, never wrong. */
  giveBack(couponId: number, userId: number, how: GiveBack): Promise<void>;
  /** Forgets the state of a coupon; the next request rebuilds it from the database. */
  reset(couponId: number): Promise<void>;
}

const ADMIT = luaScript(`
if redis.call("SISMEMBER", KEYS[2], ARGV[1]) == 1 then return -1 end
local remaining = redis.call("GET", KEYS[1])
if not remaining then return -3 end
if tonumber(remaining) <= 0 then return -2 end
redis.call("DECR", KEYS[1])
redis.call("SADD", KEYS[2], ARGV[1])
return 1`);

/** Seeds the state from the database unless another request already did. */
const SEED = luaScript(`
if redis.call("EXISTS", KEYS[1]) == 1 then return 0 end
for i = 3, #ARGV, 1000 do
  redis.call("SADD", KEYS[2], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2])
redis.call("PEXPIRE", KEYS[2], ARGV[2])
return 1`);

const GIVE_BACK = luaScript(`
if ARGV[2] == "sold_out" then
  if redis.call("EXISTS", KEYS[1]) == 1 then redis.call("SET", KEYS[1], 0, "KEEPTTL") end
  redis.call("SREM", KEYS[2], ARGV[1])
  return 1
end
if redis.call("EXISTS", KEYS[1]) == 1 then redis.call("INCR", KEYS[1]) end
if ARGV[2] == "unit_and_holder" then redis.call("SREM", KEYS[2], ARGV[1]) end
return 1`);

export interface AdmissionSource {
  /** Remaining units, holders and when the issue window ends; null when the coupon does not exist. */
  load(couponId: number): Promise<{ remaining: number; holders: number[]; issueEndsAt: Date } | null>;
}

export function createRedisAdmission(redis: Redis, prefix: string, source: AdmissionSource, now: () => Date): CouponAdmission {
  const keys = (couponId: number) => [`${prefix}coupon:${couponId}:remaining`, `${prefix}coupon:${couponId}:holders`] as const;

  async function seed(couponId: number): Promise<boolean> {
    const state = await source.load(couponId);
    if (!state) return false;
    // Kept a day past the window so late requests are still turned away cheaply.
    const ttlMs = Math.max(60_000, state.issueEndsAt.getTime() - now().getTime() + 86_400_000);
    const [remainingKey, holdersKey] = keys(couponId);
    await SEED(redis, [remainingKey, holdersKey], [String(state.remaining), String(ttlMs), ...state.holders.map(String)]);
    return true;
  }

  return {
    async admit(couponId, userId) {
      const [remainingKey, holdersKey] = keys(couponId);
      for (let attempt = 0; attempt < 2; attempt++) {
        const result = Number(await ADMIT(redis, [remainingKey, holdersKey], [String(userId)]));
        if (result === 1) return "admitted";
        if (result === -1) return "already_holder";
        if (result === -2) return "sold_out";
        if (!(await seed(couponId))) return "skipped"; // unknown coupon: let the database say so
      }
      return "skipped";
    },
    async giveBack(couponId, userId, how) {
      const [remainingKey, holdersKey] = keys(couponId);
      await GIVE_BACK(redis, [remainingKey, holdersKey], [String(userId), how]);
    },
    async reset(couponId) {
      await redis.del(...keys(couponId));
    },
  };
}

/** Without Redis (embedded mode) every request goes to the database, which decides anyway. */
export const noAdmission: CouponAdmission = {
  admit: async () => "skipped",
  giveBack: async () => {},
  reset: async () => {},
};
