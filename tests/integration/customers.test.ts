/**
 * Customers an operator registers, edits and deletes; customers who delete their own account; and
 * the order changes around them: the address of an order not yet booked, an unpaid order's lines,
 * a re-order into the cart. Deletion keeps the books (orders, ledger, coupons) and leaves the
 * person unfindable (name, email, phone) and unable to log in.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sql } from "kysely";
import { createPiiCipher, developmentPiiKeys } from "../../modules/kernel/index.ts";
import { type Customer, codeOf, startTestAgora, type TestAgora } from "../support/agora.ts";

let t: TestAgora;
let admin: Customer;
beforeAll(async () => {
  t = await startTestAgora();
  admin = await t.admin();
});
afterAll(() => t.close());

async function drainOutbox(): Promise<void> {
  for (let r = await t.agora.outboxPoller.runOnce(); r.claimed > 0; r = await t.agora.outboxPoller.runOnce()) {}
}

describe("operator: register and edit a customer", () => {
  test("a registered customer logs in with the temporary password and can do nothing but change it", async () => {
    const email = `registered-${Date.now()}@agora.test`;
    const registered = await admin.client.identity.admin.registerCustomer.mutate({ email, name: "Park Jisoo", phone: "010-5555-6666" });
    expect(registered.user).toMatchObject({ email, role: "customer", mustChangePassword: true });
    expect(registered.temporaryPassword.length).toBeGreaterThanOrEqual(20);

    const session = await t.client().identity.login.mutate({ email, password: registered.temporaryPassword });
    expect(session.user.mustChangePassword).toBe(true);
    const customer = t.client(session.token);
    expect((await customer.identity.me.query()).id).toBe(registered.user.id);
    expect(await codeOf(customer.cart.get.query())).toBe("PASSWORD_CHANGE_REQUIRED");
    expect(await codeOf(customer.addresses.list.query({}))).toBe("PASSWORD_CHANGE_REQUIRED");

    await customer.identity.changePassword.mutate({ currentPassword: registered.temporaryPassword, newPassword: "my-own-password-1" });
    expect((await customer.cart.get.query()).items).toEqual([]);
    expect((await customer.identity.me.query()).mustChangePassword).toBe(false);
    // The session that changed the password stays cached with its new state (not marked as revoked,
    // which would send every request of it to the database for the cache's lifetime).
    const [row] = (
      await sql<{ token_hash: string }>`SELECT token_hash FROM identity_sessions WHERE user_id = ${registered.user.id} AND revoked_at IS NULL`.execute(t.db)
    ).rows;
    const cached = await t.infra.cache.get<{ userId: number; mustChangePassword?: boolean }>(`session:${row?.token_hash}`);
    expect(cached).toMatchObject({ userId: registered.user.id, mustChangePassword: false });
  });

  test("an operator edits name, email and phone; a taken email is refused", async () => {
    const [c, other] = await t.signUpCustomers(2, "edited");
    if (!c || !other) throw new Error("two customers");
    const newEmail = `renamed-${c.id}@agora.test`;
    const edited = await admin.client.identity.admin.updateCustomer.mutate({ userId: c.id, name: "Lee Seo", email: newEmail, phone: "010-1111-2222" });
    expect(edited).toMatchObject({ name: "Lee Seo", email: newEmail, phone: "010-1111-2222" });
    expect((await t.client().identity.login.mutate({ email: newEmail, password: "correct-horse-battery" })).user.id).toBe(c.id);
    expect(await codeOf(admin.client.identity.admin.updateCustomer.mutate({ userId: c.id, email: other.email }))).toBe("EMAIL_TAKEN");
    expect((await admin.client.identity.admin.listCustomers.query({ query: "010 1111 2222" })).items.map((u) => u.id)).toEqual([c.id]);
  });
});

describe("deleting a customer", () => {
  test("refused while the wallet holds money or an order is under way; then the person is gone and the books stay", async () => {
    const c = await t.signUpCustomer("leaving");
    await c.client.identity.updateProfile.mutate({ name: "Choi Unique Leaver", phone: "010-7777-8888" });
    await c.client.addresses.add.mutate({ label: "Home", recipient: "Choi", address: "7 Leaving-gil, Seoul" });
    const product = await t.createProduct({ stock: 20, price: 10_000 });
    const soldOut = await t.createProduct({ stock: 0 });
    await c.client.catalog.signUpForRestock.mutate({ productId: soldOut.id });
    await t.fund(c, 10_000);

    expect(await codeOf(admin.client.customers.admin.delete.mutate({ userId: c.id, reason: "asked by phone" }))).toBe("ACCOUNT_HAS_BALANCE");
    // Spend it all on an order that then travels to the door.
    const placed = await c.client.orders.place.mutate({ items: [{ productId: product.id, quantity: 1 }] });
    expect(await codeOf(admin.client.customers.admin.delete.mutate({ userId: c.id, reason: "asked by phone" }))).toBe("ACCOUNT_HAS_OPEN_ORDERS");
    await drainOutbox();
    const tracking = await c.client.shipping.track.query({ orderId: placed.orderId });
    await t.carrier.advance(tracking.trackingNumber as string, "delivered");
    expect((await c.client.orders.get.query({ orderId: placed.orderId })).status).toBe("delivered");
    await drainOutbox();
    await c.client.cart.addItem.mutate({ productId: product.id, quantity: 2 });
    expect(await codeOf(c.client.customers.deleteMyAccount.mutate({ password: "wrong-password" }))).toBe("INVALID_CREDENTIALS");

    const erased = await c.client.customers.deleteMyAccount.mutate({ password: "correct-horse-battery" });
    expect(erased).toMatchObject({ userId: c.id, status: "deleted", ordersKept: 1 });

    // Cannot log in, the old session is over.
    expect(await codeOf(c.client.identity.me.query())).toBe("UNAUTHENTICATED");
    expect(await codeOf(t.client().identity.login.mutate({ email: c.email, password: "correct-horse-battery" }))).toBe("INVALID_CREDENTIALS");
    // Unfindable by the operator: name, email, phone.
    for (const query of ["Choi Unique Leaver", c.email, "010-7777-8888"]) {
      expect((await admin.client.identity.admin.listCustomers.query({ query, role: "any" })).items).toEqual([]);
      expect((await admin.client.identity.admin.listCustomers.query({ query, status: "deleted" })).items).toEqual([]);
    }
    // Nothing of the person left in any row that names them.
    const rows = await sql<{ row: string }>`
      SELECT row_to_json(u)::text AS row FROM identity_users u WHERE id = ${c.id}
      UNION ALL SELECT row_to_json(o)::text FROM order_orders o WHERE user_id = ${c.id}
      UNION ALL SELECT row_to_json(s)::text FROM shipping_shipments s WHERE user_id = ${c.id}
      UNION ALL SELECT row_to_json(n)::text FROM notification_messages n WHERE user_id = ${c.id}`.execute(t.db);
    const text = rows.rows.map((r) => r.row).join("\n");
    expect(text).not.toContain("Choi");
    expect(text).not.toContain(c.email);
    // One sealed value is left: the email column's tombstone (the column stays NOT NULL and unique).
    expect(text.match(/pii1:/g)?.length).toBe(1);
    const account = await t.db.selectFrom("identity_users").select("email").where("id", "=", c.id).executeTakeFirstOrThrow();
    expect(await createPiiCipher(developmentPiiKeys).open(account.email, "identity_users.email")).toBe(`deleted-${c.id}@deleted.invalid`);
    const left = async (table: "customer_addresses" | "inventory_restock_subscriptions" | "cart_items") =>
      Number(
        (
          await t.db
            .selectFrom(table)
            .select((eb) => eb.fn.countAll<string>().as("n"))
            .where("user_id", "=", c.id)
            .executeTakeFirstOrThrow()
        ).n,
      );
    expect([await left("customer_addresses"), await left("inventory_restock_subscriptions"), await left("cart_items")]).toEqual([0, 0, 0]);

    // The books: the order, its payment and the ledger are all there, and the wallet equals its ledger.
    const order = await admin.client.orders.admin.get.query({ orderId: placed.orderId });
    expect(order).toMatchObject({ status: "delivered", finalAmount: 10_000, shippingAddress: null, payment: { amount: 10_000 } });
    expect((await admin.client.wallet.admin.verifyBooks.query()).mismatches).toEqual([]);
    const ledger = await t.db.selectFrom("wallet_ledger").select("kind").where("user_id", "=", c.id).orderBy("id").execute();
    expect(ledger.map((l) => l.kind)).toEqual(["charge", "payment"]);
    // Deleting again: there is no such customer any more.
    expect(await codeOf(admin.client.customers.admin.delete.mutate({ userId: c.id, reason: "again" }))).toBe("USER_NOT_FOUND");
    // The email is free for a new account.
    expect((await t.client().identity.signUp.mutate({ email: c.email, password: "correct-horse-battery", name: "New" })).user.id).not.toBe(c.id);
  });

  test("an operator deletes a customer with a cancelled order; admins are not deleted this way", async () => {
    const c = await t.signUpCustomer("opdelete");
    const product = await t.createProduct({ stock: 5, price: 1_000 });
    const pending = await c.client.orders.create.mutate({ items: [{ productId: product.id, quantity: 1 }], shippingAddress: "12 Cancelled-ro, Seoul" });
    await admin.client.orders.admin.cancel.mutate({ orderId: pending.orderId, reason: "customer asked" });
    const erased = await admin.client.customers.admin.delete.mutate({ userId: c.id, reason: "GDPR request #12" });
    expect(erased.ordersKept).toBe(1);
    expect(await codeOf(c.client.cart.get.query())).toBe("UNAUTHENTICATED");
    expect((await admin.client.identity.admin.getCustomer.query({ userId: c.id })).status).toBe("deleted");
    expect(await codeOf(admin.client.customers.admin.delete.mutate({ userId: admin.id, reason: "no" }))).toBe("FORBIDDEN");
  });
});

describe("an order's shipping address", () => {
  test("changed before booking by the customer or an operator; refused once booked; never by another customer", async () => {
    const [c, other] = await t.signUpCustomers(2, "moving");
    if (!c || !other) throw new Error("two customers");
    const product = await t.createProduct({ stock: 5, price: 1_000 });
    await t.fund(c, 10_000);
    const pending = await c.client.orders.create.mutate({ items: [{ productId: product.id, quantity: 1 }], shippingAddress: "1 Old-ro, Seoul" });
    const moved = await c.client.orders.changeAddress.mutate({ orderId: pending.orderId, shippingAddress: "2 New-ro, Seoul" });
    expect(moved.shippingAddress).toBe("2 New-ro, Seoul");
    const book = await c.client.addresses.add.mutate({ label: "Work", recipient: "Me", address: "3 Work-ro, Seoul" });
    expect((await c.client.orders.changeAddress.mutate({ orderId: pending.orderId, addressId: book.addressId })).shippingAddress).toBe("Me\n3 Work-ro, Seoul");
    expect(await codeOf(other.client.orders.changeAddress.mutate({ orderId: pending.orderId, shippingAddress: "4 Thief-ro" }))).toBe("ORDER_NOT_FOUND");
    const otherBook = await other.client.addresses.add.mutate({ label: "Theirs", recipient: "Them", address: "5 Theirs-ro, Seoul" });
    expect(await codeOf(c.client.orders.changeAddress.mutate({ orderId: pending.orderId, addressId: otherBook.addressId }))).toBe("ADDRESS_NOT_FOUND");

    const paid = await c.client.orders.place.mutate({ items: [{ productId: product.id, quantity: 1 }], shippingAddress: "6 Paid-ro, Seoul" });
    await admin.client.orders.admin.changeAddress.mutate({ orderId: paid.orderId, shippingAddress: "7 Operator-ro, Seoul" });
    await drainOutbox();
    // Booked with the address the operator set.
    const booked = t.carrier.shipmentsFor(paid.orderId);
    expect(booked.map((s) => s.address)).toEqual(["7 Operator-ro, Seoul"]);
    expect(await codeOf(c.client.orders.changeAddress.mutate({ orderId: paid.orderId, shippingAddress: "8 Late-ro, Seoul" }))).toBe("INVALID_ORDER_STATE");
    expect((await c.client.orders.get.query({ orderId: paid.orderId })).shippingAddress).toBe("7 Operator-ro, Seoul");
  });
});

describe("an operator edits an unpaid order's lines", () => {
  test("re-priced, stock changed by the difference, the coupon checked again; paid orders are refused", async () => {
    const c = await t.signUpCustomer("edit");
    const [kettle, mug] = [await t.createProduct({ stock: 10, price: 20_000 }), await t.createProduct({ stock: 3, price: 5_000 })];
    const coupon = await admin.client.coupons.admin.create.mutate({
      name: "Edit coupon",
      discountType: "fixed",
      discountValue: 3_000,
      minOrderAmount: 30_000,
      totalQuantity: 10,
      issueStartsAt: new Date(t.clock.now().getTime() - 60_000),
      issueEndsAt: new Date(t.clock.now().getTime() + 86_400_000),
      validDays: 7,
    });
    const issued = await c.client.coupons.issue.mutate({ couponId: coupon.couponId });
    const pending = await c.client.orders.create.mutate({ items: [{ productId: kettle.id, quantity: 2 }], userCouponId: issued.userCouponId });
    expect(pending.finalAmount).toBe(37_000);
    const stockOf = async (productId: number) => (await t.client().catalog.stock.query({ productId })).stock;
    expect(await stockOf(kettle.id)).toBe(8);

    const edited = await admin.client.orders.admin.editLines.mutate({
      orderId: pending.orderId,
      items: [
        { productId: kettle.id, quantity: 1 },
        { productId: mug.id, quantity: 3 },
      ],
      reason: "customer called",
    });
    expect(edited).toMatchObject({ status: "pending_payment", subtotalAmount: 35_000, discountAmount: 3_000, finalAmount: 32_000 });
    expect(edited.lines.map((l) => [l.productId, l.quantity])).toEqual([
      [kettle.id, 1],
      [mug.id, 3],
    ]);
    expect([await stockOf(kettle.id), await stockOf(mug.id)]).toEqual([9, 0]);

    // More mugs than there are: nothing changes.
    expect(
      await codeOf(
        admin.client.orders.admin.editLines.mutate({
          orderId: pending.orderId,
          items: [
            { productId: mug.id, quantity: 4 },
            { productId: kettle.id, quantity: 1 },
          ],
          reason: "x",
        }),
      ),
    ).toBe("INSUFFICIENT_STOCK");
    // Below the coupon's minimum: refused, nothing changes.
    expect(
      await codeOf(admin.client.orders.admin.editLines.mutate({ orderId: pending.orderId, items: [{ productId: kettle.id, quantity: 1 }], reason: "x" })),
    ).toBe("COUPON_MIN_ORDER_NOT_MET");
    expect([await stockOf(kettle.id), await stockOf(mug.id)]).toEqual([9, 0]);

    // Paid at the edited amount; then no more edits.
    await t.fund(c, 32_000);
    const paid = await c.client.orders.pay.mutate({ orderId: pending.orderId });
    expect(paid.finalAmount).toBe(32_000);
    expect(
      await codeOf(admin.client.orders.admin.editLines.mutate({ orderId: pending.orderId, items: [{ productId: kettle.id, quantity: 2 }], reason: "x" })),
    ).toBe("INVALID_ORDER_STATE");
    // Cancelled, everything goes back where the edit left it.
    await admin.client.orders.admin.cancel.mutate({ orderId: pending.orderId, reason: "test" });
    expect([await stockOf(kettle.id), await stockOf(mug.id)]).toEqual([10, 3]);
    expect((await admin.client.wallet.admin.verifyBooks.query()).mismatches).toEqual([]);
  });
});

describe("re-order", () => {
  test("a past order's lines go into the cart; hidden products are skipped and quantities capped, all reported", async () => {
    const [c, other] = await t.signUpCustomers(2, "again");
    if (!c || !other) throw new Error("two customers");
    const [tea, cup, gone] = [
      await t.createProduct({ stock: 50, price: 1_000 }),
      await t.createProduct({ stock: 10, price: 1_000 }),
      await t.createProduct({ stock: 10 }),
    ];
    const order = await c.client.orders.create.mutate({
      items: [
        { productId: tea.id, quantity: 2 },
        { productId: cup.id, quantity: 6 },
        { productId: gone.id, quantity: 1 },
      ],
    });
    await c.client.orders.cancel.mutate({ orderId: order.orderId });
    await admin.client.catalog.admin.setStatus.mutate({ productId: gone.id, status: "hidden" });
    await c.client.cart.addItem.mutate({ productId: cup.id, quantity: 6 }); // only 4 more fit the stock of 10

    const result = await c.client.orders.reorder.mutate({ orderId: order.orderId });
    expect(result.added).toEqual([
      { productId: tea.id, quantity: 2 },
      { productId: cup.id, quantity: 4 },
    ]);
    expect(result.skipped.map((s) => [s.productId, s.reason, s.addedQuantity])).toEqual([
      [cup.id, "stock_limit", 4],
      [gone.id, "not_for_sale", 0],
    ]);
    const cart = await c.client.cart.get.query();
    expect(cart.items.map((i) => [i.productId, i.quantity]).sort((a, b) => Number(a[0]) - Number(b[0]))).toEqual([
      [tea.id, 2],
      [cup.id, 10],
    ]);
    expect(await codeOf(other.client.orders.reorder.mutate({ orderId: order.orderId }))).toBe("ORDER_NOT_FOUND");
    expect((await other.client.cart.get.query()).items).toEqual([]);
  });
});
