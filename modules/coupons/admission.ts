/**
 * Redis admission for first-come-first-served issues. One Lua script checks "already holds it" and
 * hands the customer a numbered slot (1..quantity) atomically, so a storm of thousands costs
 * PostgreSQL only the winners, and the winners never queue on one row: each inserts its own slot,
 * and PostgreSQL fences the slots (UNIQUE (coupon_id, slot), slot within the quantity, UNIQUE
 * (coupon_id, user_id)). Redis only turns people away early and spreads the winners; a flushed,
 * stale or lost Redis can never over-issue or issue twice, at worst it sends a request to the
 * database path or, for a few seconds, turns someone away (see `audit`).
 *
 * Keys, all in one cluster hash slot per coupon through the `{epoch:couponId}` hash tag:
 *   …:slots    hash  next (the next never-handed slot), total (the quantity), starts/ends (the window, ms)
 *   …:free     set   slots handed back (their database insert failed) to hand out again first
 *   …:holders  set   customers who hold the coupon or are being issued one
 *   …:audit    hash  what the last audit saw (count in the database, when)
 *   …:audit-due      exists while an audit is not due
 * The epoch (a random value stored in the database, plus the database's OID) ties the state to one
 * database: a re-created or cloned database, whose coupon ids start again, gets fresh keys.
 */
import { type Clock, createTurnBatcher, luaScript, type RedisClient } from "../kernel/index.ts";

export type Admission =
  | { kind: "slot"; slot: number }
  | { kind: "already_holder" }
  | { kind: "sold_out"; auditDue: boolean }
  | { kind: "not_open"; issueStartsAt: Date }
  | { kind: "closed"; issueEndsAt: Date }
  /** No admission state (no Redis, unknown coupon): the database path decides. */
  | { kind: "skipped" };

export interface AdmissionKeys {
  slots: string;
  free: string;
  holders: string;
  audit: string;
  auditDue: string;
}

export interface CouponAdmission {
  /** A slot for the customer. `replacing`: the customer already has an admission whose slot turned out taken. */
  admit(couponId: number, userId: number, options?: { replacing?: boolean }): Promise<Admission>;
  /** Hands back a slot whose database insert did not happen; `keepHolder` when the customer does hold the coupon. */
  giveBack(couponId: number, userId: number, slot: number, keepHolder: boolean): Promise<void>;
  /**
   * Redis says sold out, the database counts `issuedInDatabase` < quantity. Either winners are still
   * inserting, or slots were lost (handed out, then the process died before its insert or give-back).
   * When the count has not moved for the quiet period, nothing is in flight: the state is dropped and
   * rebuilt from the database. True when it was dropped.
   */
  audit(couponId: number, issuedInDatabase: number): Promise<boolean>;
  /** Forgets the state of a coupon; the next request rebuilds it from the database. */
  reset(couponId: number): Promise<void>;
  /** The coupon's Redis keys (operators, tests). */
  keys(couponId: number): Promise<AdmissionKeys>;
}

export interface AdmissionSource {
  /** This database's identity: the stored epoch and the database's OID. */
  epoch(): Promise<string>;
  /** The quantity, the slots taken and by whom, and when the window ends; null when the coupon does not exist. */
  load(couponId: number): Promise<{ total: number; taken: Array<{ slot: number; userId: number }>; issueStartsAt: Date; issueEndsAt: Date } | null>;
}

export interface AdmissionTiming {
  /** At most one audit per coupon this often (cluster-wide). */
  auditEveryMs: number;
  /** A sold-out state is stale when the database count stayed below the quantity this long. */
  quietMs: number;
  /** How long a cached epoch is trusted before it is read again. */
  epochTtlMs: number;
}

export const defaultAdmissionTiming: AdmissionTiming = { auditEveryMs: 1_000, quietMs: 10_000, epochTtlMs: 30_000 };

const NOT_SEEDED = -3;
const ALREADY_HOLDER = -1;
const SOLD_OUT = -2;
const SOLD_OUT_AUDIT_DUE = -4;
const NOT_OPEN = -5;
const CLOSED = -6;

// The same order of refusals as the database's: holder, window, quantity. A crowd that arrives before
// the window opens is turned away here, without a slot taken and given back through the database.
// Several customers' requests in one call, each decided in turn as if alone.
// KEYS: slots, free, holders, audit-due. ARGV: audit interval ms, now ms, then (user, replacing "1"/"0") per request.
// Returns (answer, at) per request: a slot (> 0) or a refusal code; `at` the window's edge for NOT_OPEN / CLOSED.
const ADMIT_EACH = luaScript(`
local out = {}
local state = redis.call("HMGET", KEYS[1], "next", "total", "starts", "ends")
local now = tonumber(ARGV[2])
for i = 3, #ARGV, 2 do
  local user, replacing = ARGV[i], ARGV[i + 1]
  local answer, at = 0, 0
  if not state[1] then
    answer = ${NOT_SEEDED}
  elseif replacing ~= "1" and redis.call("SISMEMBER", KEYS[3], user) == 1 then
    answer = ${ALREADY_HOLDER}
  elseif now < tonumber(state[3]) then
    answer, at = ${NOT_OPEN}, state[3]
  elseif now >= tonumber(state[4]) then
    answer, at = ${CLOSED}, state[4]
  else
    local slot = redis.call("SPOP", KEYS[2])
    if not slot then
      slot = tonumber(state[1])
      if slot > tonumber(state[2]) then
        if redis.call("SET", KEYS[4], "1", "NX", "PX", ARGV[1]) then answer = ${SOLD_OUT_AUDIT_DUE} else answer = ${SOLD_OUT} end
        slot = nil
      else
        state[1] = slot + 1
        redis.call("HSET", KEYS[1], "next", state[1])
      end
    end
    if slot then
      if redis.call("SADD", KEYS[3], user) == 1 and redis.call("PTTL", KEYS[3]) == -1 then
        redis.call("PEXPIRE", KEYS[3], redis.call("PTTL", KEYS[1]))
      end
      answer = tonumber(slot)
    end
  end
  out[#out + 1] = answer
  out[#out + 1] = at
end
return out`);

/** The most requests one ADMIT_EACH decides (a few ms of Redis at most); the rest go in the next call. */
const ADMITTED_TOGETHER_MAX = 500;

// Seeds the state from the database unless another request already did; leftovers of a partial state go.
// KEYS: slots, free, holders. ARGV: total, ttl ms, next, starts ms, ends ms, number of free slots, free slots…, holders…
const SEED = luaScript(`
if redis.call("EXISTS", KEYS[1]) == 1 then return 0 end
redis.call("DEL", KEYS[2], KEYS[3])
local firstHolder = 7 + tonumber(ARGV[6])
for i = 7, firstHolder - 1, 1000 do
  redis.call("SADD", KEYS[2], unpack(ARGV, i, math.min(i + 999, firstHolder - 1)))
end
for i = firstHolder, #ARGV, 1000 do
  redis.call("SADD", KEYS[3], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
redis.call("HSET", KEYS[1], "next", ARGV[3], "total", ARGV[1], "starts", ARGV[4], "ends", ARGV[5])
for i = 1, 3 do redis.call("PEXPIRE", KEYS[i], ARGV[2]) end
return 1`);

// A slot goes back only if this state handed it out (below next): after a reseed it may be free already.
// KEYS: slots, free, holders. ARGV: user, slot, keep holder ("1").
const GIVE_BACK = luaScript(`
local nextSlot = redis.call("HGET", KEYS[1], "next")
if nextSlot and tonumber(ARGV[2]) < tonumber(nextSlot) then
  redis.call("SADD", KEYS[2], ARGV[2])
  local ttl = redis.call("PTTL", KEYS[1])
  if ttl > 0 then redis.call("PEXPIRE", KEYS[2], ttl) end
end
if ARGV[3] ~= "1" then redis.call("SREM", KEYS[3], ARGV[1]) end
return 1`);

// KEYS: slots, free, holders, audit. ARGV: count in the database, now ms, quiet ms.
const AUDIT = luaScript(`
local seen = redis.call("HMGET", KEYS[4], "count", "at")
if seen[1] == ARGV[1] then
  if tonumber(ARGV[2]) - tonumber(seen[2]) >= tonumber(ARGV[3]) then
    redis.call("DEL", KEYS[1], KEYS[2], KEYS[3], KEYS[4])
    return 1
  end
  return 0
end
redis.call("HSET", KEYS[4], "count", ARGV[1], "at", ARGV[2])
local ttl = redis.call("PTTL", KEYS[1])
if ttl > 0 then redis.call("PEXPIRE", KEYS[4], ttl) end
return 0`);

/** The slots not taken below the highest taken one, and the next slot after it. */
function freeSlotsOf(taken: Array<{ slot: number }>): { free: number[]; next: number } {
  const highest = taken.reduce((max, t) => Math.max(max, t.slot), 0);
  const used = new Uint8Array(highest + 1);
  for (const t of taken) used[t.slot] = 1;
  const free: number[] = [];
  for (let slot = 1; slot <= highest; slot++) if (!used[slot]) free.push(slot);
  return { free, next: highest + 1 };
}

export function createRedisAdmission(
  redis: RedisClient,
  prefix: string,
  source: AdmissionSource,
  clock: Clock,
  timing: AdmissionTiming = defaultAdmissionTiming,
): CouponAdmission {
  let epoch: { value: string; readAt: number } | null = null;
  let epochRead: Promise<string> | null = null;

  /** The database's epoch, read once and then again every epochTtlMs (a failed re-read keeps the known one). */
  async function currentEpoch(): Promise<string> {
    const now = clock.now().getTime();
    if (epoch && now - epoch.readAt < timing.epochTtlMs) return epoch.value;
    epochRead ??= source
      .epoch()
      .then((value) => {
        epoch = { value, readAt: clock.now().getTime() };
        return value;
      })
      .catch((error) => {
        if (epoch) return epoch.value;
        throw error;
      })
      .finally(() => {
        epochRead = null;
      });
    return epochRead;
  }

  async function keysOf(couponId: number): Promise<AdmissionKeys> {
    const base = `${prefix}coupon:{${await currentEpoch()}:${couponId}}:`;
    return { slots: `${base}slots`, free: `${base}free`, holders: `${base}holders`, audit: `${base}audit`, auditDue: `${base}audit-due` };
  }

  // One seed per coupon at a time in this process: after a flush, a storm would otherwise load the same rows hundreds of times.
  const seeding = new Map<number, Promise<boolean>>();
  function seed(couponId: number, keys: AdmissionKeys): Promise<boolean> {
    let running = seeding.get(couponId);
    if (!running) {
      running = (async () => {
        const state = await source.load(couponId);
        if (!state) return false;
        // Kept a day past the window so late requests are still turned away cheaply.
        const ttlMs = Math.max(60_000, state.issueEndsAt.getTime() - clock.now().getTime() + 86_400_000);
        const { free, next } = freeSlotsOf(state.taken);
        await SEED(
          redis,
          [keys.slots, keys.free, keys.holders],
          [state.total, ttlMs, next, state.issueStartsAt.getTime(), state.issueEndsAt.getTime(), free.length, ...free, ...state.taken.map((t) => t.userId)],
        );
        return true;
      })().finally(() => seeding.delete(couponId));
      seeding.set(couponId, running);
    }
    return running;
  }

  /**
   * The admissions of one event-loop turn for a coupon go to Redis as ONE ADMIT_EACH, in the order
   * they were asked: a storm's crowd costs one script call per turn, not one per customer (ioredis
   * already sent a turn's commands in one write; what this spares is each call's own work in the
   * client and in Redis). Each gets its (answer, at), judged at the time the call is sent (one turn
   * after the asking); a failed call fails each of its requests, as a failed call of one did.
   */
  const admitTogether = createTurnBatcher<{ keys: AdmissionKeys; user: number; replacing: boolean }, [number, number]>({
    max: ADMITTED_TOGETHER_MAX,
    groupOf: (request) => request.keys.slots,
    async run(requests) {
      const keys = (requests[0] as { keys: AdmissionKeys }).keys;
      const answers = (await ADMIT_EACH(
        redis,
        [keys.slots, keys.free, keys.holders, keys.auditDue],
        [timing.auditEveryMs, clock.now().getTime(), ...requests.flatMap((r) => [r.user, r.replacing ? "1" : "0"])],
      )) as Array<number | string>;
      return requests.map((_, i) => [Number(answers[2 * i]), Number(answers[2 * i + 1])]);
    },
  });

  return {
    async admit(couponId, userId, options = {}) {
      const keys = await keysOf(couponId);
      for (let attempt = 0; attempt < 2; attempt++) {
        const [result, at] = await admitTogether({ keys, user: userId, replacing: options.replacing === true });
        if (result === NOT_OPEN) return { kind: "not_open", issueStartsAt: new Date(at) };
        if (result === CLOSED) return { kind: "closed", issueEndsAt: new Date(at) };
        if (result > 0) return { kind: "slot", slot: result };
        if (result === ALREADY_HOLDER) return { kind: "already_holder" };
        if (result === SOLD_OUT || result === SOLD_OUT_AUDIT_DUE) return { kind: "sold_out", auditDue: result === SOLD_OUT_AUDIT_DUE };
        if (!(await seed(couponId, keys))) return { kind: "skipped" }; // unknown coupon: let the database say so
      }
      return { kind: "skipped" };
    },
    async giveBack(couponId, userId, slot, keepHolder) {
      const keys = await keysOf(couponId);
      await GIVE_BACK(redis, [keys.slots, keys.free, keys.holders], [userId, slot, keepHolder ? "1" : "0"]);
    },
    async audit(couponId, issuedInDatabase) {
      const keys = await keysOf(couponId);
      const dropped = await AUDIT(redis, [keys.slots, keys.free, keys.holders, keys.audit], [issuedInDatabase, clock.now().getTime(), timing.quietMs]);
      return Number(dropped) === 1;
    },
    async reset(couponId) {
      const keys = await keysOf(couponId);
      await redis.del(keys.slots, keys.free, keys.holders, keys.audit, keys.auditDue);
    },
    keys: keysOf,
  };
}

/** Without Redis (embedded mode, or admission switched off) every request goes to the database, which decides anyway. */
export const noAdmission: CouponAdmission = {
  admit: async () => ({ kind: "skipped" }),
  giveBack: async () => {},
  audit: async () => false,
  reset: async () => {},
  keys: async () => {
    throw new Error("no Redis admission");
  },
};
