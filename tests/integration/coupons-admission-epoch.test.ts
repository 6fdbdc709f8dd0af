/**
 * Redis admission knows its database. Two databases cloned from one template reuse coupon ids (and
 * customer ids) and share one Redis prefix, as a re-created or restored database would share its
 * Redis: each must see only its own admission state.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { type Customer, codeOf, startTestAgora, type TestAgora } from "../support/agora.ts";

setDefaultTimeout(30_000);

const DAY = 86_400_000;

let first: TestAgora;
let second: TestAgora;
beforeAll(async () => {
  first = await startTestAgora({ infra: "redis" });
  second = await startTestAgora({ sharedRedis: first.redis ?? undefined });
});
afterAll(async () => {
  await second.close();
  await first.close();
});

async function openCoupon(t: TestAgora, totalQuantity: number) {
  const now = t.clock.now().getTime();
  return (await t.admin()).client.coupons.admin.create.mutate({
    name: `Flash ${totalQuantity}`,
    discountType: "fixed",
    discountValue: 1_000,
    totalQuantity,
    issueStartsAt: new Date(now - 60_000),
    issueEndsAt: new Date(now + DAY),
    validDays: 30,
  });
}

const issueAll = (customers: Customer[], couponId: number) =>
  Promise.allSettled(customers.map((c) => c.client.coupons.issue.mutate({ couponId }))).then((results) => results.map((r) => r.status));

test("a re-created database with the same coupon id (and customer ids) starts with fresh admission", async () => {
  expect(first.redis?.prefix).toBe(second.redis?.prefix as string);
  const firstCrowd = await first.signUpCustomers(3, "first");
  const secondCrowd = await second.signUpCustomers(3, "second");
  const ids = (crowd: Customer[]) => crowd.map((c) => c.id).sort((x, y) => x - y);
  expect(ids(secondCrowd)).toEqual(ids(firstCrowd)); // the same customer ids in both databases

  const sold = await openCoupon(first, 2);
  expect(await issueAll(firstCrowd.slice(0, 2), sold.couponId)).toEqual(["fulfilled", "fulfilled"]);
  expect(await codeOf((firstCrowd[2] as Customer).client.coupons.issue.mutate({ couponId: sold.couponId }))).toBe("COUPON_SOLD_OUT");

  // The other database: the same coupon id, a new coupon. The first database's state says sold out and
  // names its customers 1 and 2 as holders; none of that applies here.
  const fresh = await openCoupon(second, 3);
  expect(fresh.couponId).toBe(sold.couponId);
  expect(await issueAll(secondCrowd, fresh.couponId)).toEqual(["fulfilled", "fulfilled", "fulfilled"]);

  const firstKeys = await first.agora.services.coupons.admissionKeys(sold.couponId);
  const secondKeys = await second.agora.services.coupons.admissionKeys(fresh.couponId);
  expect(firstKeys?.slots).not.toBe(secondKeys?.slots as string);
  // Both clones carry the template's stored epoch; the database OID is what tells them apart.
  const epochOf = (t: TestAgora) => t.db.selectFrom("coupon_admission_epoch").select("epoch").executeTakeFirstOrThrow();
  expect((await epochOf(second)).epoch).toBe((await epochOf(first)).epoch);
  // And the first database's state is untouched by the second's sale.
  expect(await codeOf((firstCrowd[2] as Customer).client.coupons.issue.mutate({ couponId: sold.couponId }))).toBe("COUPON_SOLD_OUT");
});

test("a new epoch (e.g. set after restoring a backup) is picked up and admission starts fresh", async () => {
  const coupon = await openCoupon(first, 1);
  const [a, b] = (await first.signUpCustomers(2, "epoch")) as [Customer, Customer];
  await a.client.coupons.issue.mutate({ couponId: coupon.couponId });
  const before = await first.agora.services.coupons.admissionKeys(coupon.couponId);
  expect(await first.redis?.client.exists(before?.slots as string)).toBe(1);

  await first.db.updateTable("coupon_admission_epoch").set({ epoch: crypto.randomUUID() }).execute();
  first.clock.advance(31_000); // past the cached epoch's lifetime
  const after = await first.agora.services.coupons.admissionKeys(coupon.couponId);
  expect(after?.slots).not.toBe(before?.slots as string);
  expect(await first.redis?.client.exists(after?.slots as string)).toBe(0);
  // Fresh state, seeded from the database: still exactly the quantity.
  expect(await codeOf(b.client.coupons.issue.mutate({ couponId: coupon.couponId }))).toBe("COUPON_SOLD_OUT");
  expect(await codeOf(a.client.coupons.issue.mutate({ couponId: coupon.couponId }))).toBe("ALREADY_ISSUED");
  expect(await first.redis?.client.hget(after?.slots as string, "next")).toBe("2");
});
