/** The order lifecycle: every move it allows, every move it refuses, and what a refusal says. */
import { describe, expect, test } from "bun:test";
import type { DomainError } from "../kernel/index.ts";
import { allowedTransitions, assertTransition, canTransition, isPaid, type OrderStatus } from "./lifecycle.ts";

const statuses = Object.keys(allowedTransitions) as OrderStatus[];

/** The seeds' lifecycle, written out once more by hand: the table must say exactly this. */
const expected: Record<OrderStatus, OrderStatus[]> = {
  pending_payment: ["paid", "cancelled", "expired"],
  paid: ["preparing", "shipped", "cancelled"],
  preparing: ["shipped", "cancelled"],
  shipped: ["delivered"],
  delivered: ["refunded"],
  cancelled: [],
  refunded: [],
  expired: [],
};

describe("order lifecycle", () => {
  test("knows exactly the eight states", () => {
    expect([...statuses].sort()).toEqual((Object.keys(expected) as OrderStatus[]).sort());
  });

  for (const from of Object.keys(expected) as OrderStatus[]) {
    for (const to of Object.keys(expected) as OrderStatus[]) {
      const allowed = expected[from].includes(to);
      test(`${from} → ${to}: ${allowed ? "allowed" : "refused"}`, () => {
        expect(canTransition(from, to)).toBe(allowed);
        if (allowed) {
          expect(() => assertTransition(1, from, to)).not.toThrow();
        } else {
          let refusal: DomainError | undefined;
          try {
            assertTransition(7, from, to);
          } catch (error) {
            refusal = error as DomainError;
          }
          expect(refusal?.domainCode).toBe("INVALID_ORDER_STATE");
          expect(refusal?.details).toEqual({ orderId: 7, status: from, attempted: to, allowed: expected[from] });
        }
      });
    }
  }

  test("final states allow nothing; money is held exactly while paid, preparing, shipped or delivered", () => {
    for (const final of ["cancelled", "refunded", "expired"] as const) expect(allowedTransitions[final]).toEqual([]);
    expect(statuses.filter(isPaid).sort()).toEqual(["delivered", "paid", "preparing", "shipped"]);
  });
});
