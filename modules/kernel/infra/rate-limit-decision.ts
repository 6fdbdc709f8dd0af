import { RateLimiterRes } from "rate-limiter-flexible";
import type { RateLimitDecision } from "./types.ts";

/** rate-limiter-flexible rejects with a RateLimiterRes when points run out; turn both outcomes into a decision. */
export async function toDecision(attempt: Promise<RateLimiterRes>): Promise<RateLimitDecision> {
  try {
    const res = await attempt;
    return { allowed: true, remaining: res.remainingPoints, retryAfterMs: 0 };
  } catch (error) {
    if (error instanceof RateLimiterRes) {
      return { allowed: false, remaining: 0, retryAfterMs: error.msBeforeNext };
    }
    throw error;
  }
}
