/**
 * The cart through the API: adding (and adding again), the view with current prices, availability
 * and totals, changing and removing lines, the limits, privacy, and ordering from the cart.
 * Every refusal is checked against the stored rows: a refused call writes nothing.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { type Customer, codeOf, errorOf, startTestAgora, type TestAgora } from "../support/agora.ts";

setDefaultTimeout(20_000);

let t: TestAgora;
let admin: Customer;
beforeAll(async () => {
  t = await startTestAgora();
  admin = await t.admin();
});
afterAll(() => t.close());

/** The customer's cart rows as stored. */
function rows(c: Customer) {
  return t.db.selectFrom("cart_items").select(["product_id", "quantity", "updated_at"]).where("user_id", "=", c.id).orderBy("product_id").execute();
}
const lines = async (c: Customer) => (await rows(c)).map((r) => [r.product_id, r.quantity]);

async function badRequest(call: Promise<unknown>) {
  const error = await errorOf(call);
  expect(error.data).toMatchObject({ code: "BAD_REQUEST", httpStatus: 400, domainCode: "VALIDATION_FAILED" });
  return error;
}

async function stockOf(productId: number) {
  const row = await t.db.selectFrom("inventory_stock").select("quantity").where("product_id", "=", productId).executeTakeFirstOrThrow();
  return row.quantity;
}

describe("adding and viewing", () => {
  test("add creates a line; adding the same product again increments it", async () => {
    const c = await t.signUpCustomer("adder");
    const p = await t.createProduct({ name: "Mug", price: 8_000, stock: 20 });
    const first = await c.client.cart.addItem.mutate({ productId: p.id, quantity: 2 });
    expect(first.items.map((i) => [i.productId, i.quantity])).toEqual([[p.id, 2]]);
    const second = await c.client.cart.addItem.mutate({ productId: p.id, quantity: 3 });
    expect(second.items).toEqual([
      { productId: p.id, name: "Mug", unitPrice: 8_000, quantity: 5, lineAmount: 40_000, stock: 20, available: true, addedAt: t.clock.now() },
    ]);
    expect(second).toMatchObject({ itemCount: 1, totalQuantity: 5, totalAmount: 40_000, orderable: true });
    expect(await lines(c)).toEqual([[p.id, 5]]);
    expect(await stockOf(p.id)).toBe(20); // a cart reserves nothing
  });

  test("the view shows current prices, availability and totals", async () => {
    const c = await t.signUpCustomer("viewer");
    const a = await t.createProduct({ name: "Apple box", price: 12_000, stock: 10 });
    const b = await t.createProduct({ name: "Banana box", price: 3_500, stock: 4 });
    const h = await t.createProduct({ name: "Cherry box", price: 9_000, stock: 10 });
    await c.client.cart.addItem.mutate({ productId: a.id, quantity: 2 });
    await c.client.cart.addItem.mutate({ productId: b.id, quantity: 3 });
    await c.client.cart.addItem.mutate({ productId: h.id, quantity: 1 });
    expect(await c.client.cart.get.query()).toMatchObject({ itemCount: 3, totalQuantity: 6, totalAmount: 2 * 12_000 + 3 * 3_500 + 9_000, orderable: true });

    // The price changes after it was added: the cart shows today's price.
    await admin.client.catalog.admin.update.mutate({ productId: a.id, price: 11_000 });
    // Stock falls below the line's quantity: the line is unavailable and leaves the total.
    await admin.client.catalog.admin.outbound.mutate({ productId: b.id, quantity: 2, reason: "damaged" });
    // A hidden product is no longer sold.
    await admin.client.catalog.admin.setStatus.mutate({ productId: h.id, status: "hidden" });

    const cart = await c.client.cart.get.query();
    expect(
      cart.items.map((i) => ({
        productId: i.productId,
        name: i.name,
        unitPrice: i.unitPrice,
        quantity: i.quantity,
        lineAmount: i.lineAmount,
        stock: i.stock,
        available: i.available,
      })),
    ).toEqual([
      { productId: a.id, name: "Apple box", unitPrice: 11_000, quantity: 2, lineAmount: 22_000, stock: 10, available: true },
      { productId: b.id, name: "Banana box", unitPrice: 3_500, quantity: 3, lineAmount: 10_500, stock: 2, available: false },
      { productId: h.id, name: "(no longer sold)", unitPrice: 0, quantity: 1, lineAmount: 0, stock: 0, available: false },
    ]);
    expect(cart).toMatchObject({ itemCount: 3, totalQuantity: 6, totalAmount: 22_000, orderable: false });

    // Fixing the short line makes it count again; the hidden one still blocks "orderable".
    await c.client.cart.setQuantity.mutate({ productId: b.id, quantity: 2 });
    expect(await c.client.cart.get.query()).toMatchObject({ totalQuantity: 5, totalAmount: 22_000 + 7_000, orderable: false });
    await c.client.cart.removeItem.mutate({ productId: h.id });
    expect(await c.client.cart.get.query()).toMatchObject({ itemCount: 2, totalQuantity: 4, totalAmount: 29_000, orderable: true });
  });

  test("an empty cart", async () => {
    const c = await t.signUpCustomer("empty");
    expect(await c.client.cart.get.query()).toEqual({ items: [], itemCount: 0, totalQuantity: 0, totalAmount: 0, orderable: false });
  });

  test("a visitor has no cart", async () => {
    const p = await t.createProduct({ stock: 3 });
    expect(await codeOf(t.client().cart.get.query())).toBe("UNAUTHENTICATED");
    expect(await codeOf(t.client().cart.addItem.mutate({ productId: p.id, quantity: 1 }))).toBe("UNAUTHENTICATED");
  });
});

describe("changing lines", () => {
  test("setQuantity sets (not adds) the quantity", async () => {
    const c = await t.signUpCustomer("setter");
    const p = await t.createProduct({ price: 1_000, stock: 10 });
    await c.client.cart.addItem.mutate({ productId: p.id, quantity: 4 });
    const cart = await c.client.cart.setQuantity.mutate({ productId: p.id, quantity: 7 });
    expect(cart.items.map((i) => [i.productId, i.quantity, i.lineAmount])).toEqual([[p.id, 7, 7_000]]);
    await c.client.cart.setQuantity.mutate({ productId: p.id, quantity: 1 });
    expect(await lines(c)).toEqual([[p.id, 1]]);
  });

  test("setQuantity on a product not in the cart is CART_ITEM_NOT_FOUND and adds nothing", async () => {
    const c = await t.signUpCustomer("setmissing");
    const p = await t.createProduct({ stock: 10 });
    const error = await errorOf(c.client.cart.setQuantity.mutate({ productId: p.id, quantity: 2 }));
    expect(error.data).toMatchObject({ code: "NOT_FOUND", domainCode: "CART_ITEM_NOT_FOUND", details: { productId: p.id } });
    expect(await rows(c)).toEqual([]);
  });

  test("setQuantity beyond the stock is INSUFFICIENT_STOCK and keeps the old quantity", async () => {
    const c = await t.signUpCustomer("setshort");
    const p = await t.createProduct({ name: "Scarce", stock: 5 });
    await c.client.cart.addItem.mutate({ productId: p.id, quantity: 2 });
    const before = await rows(c);
    const error = await errorOf(c.client.cart.setQuantity.mutate({ productId: p.id, quantity: 6 }));
    expect(error.data).toMatchObject({ domainCode: "INSUFFICIENT_STOCK", ref: "P002", details: { availableStock: 5 } });
    expect(await rows(c)).toEqual(before);
  });

  test("remove deletes the line; removing it again is CART_ITEM_NOT_FOUND", async () => {
    const c = await t.signUpCustomer("remover");
    const [p, q] = await Promise.all([t.createProduct({ stock: 5 }), t.createProduct({ stock: 5 })]);
    await c.client.cart.addItem.mutate({ productId: p.id, quantity: 1 });
    await c.client.cart.addItem.mutate({ productId: q.id, quantity: 2 });
    const cart = await c.client.cart.removeItem.mutate({ productId: p.id });
    expect(cart.items.map((i) => i.productId)).toEqual([q.id]);
    expect(await lines(c)).toEqual([[q.id, 2]]);
    const error = await errorOf(c.client.cart.removeItem.mutate({ productId: p.id }));
    expect(error.data).toMatchObject({ code: "NOT_FOUND", httpStatus: 404, domainCode: "CART_ITEM_NOT_FOUND", details: { productId: p.id } });
    expect(await codeOf(c.client.cart.removeItem.mutate({ productId: 987_654 }))).toBe("CART_ITEM_NOT_FOUND");
    expect(await lines(c)).toEqual([[q.id, 2]]);
  });

  test("clear empties the cart and says how many lines went", async () => {
    const c = await t.signUpCustomer("clearer");
    const products = await Promise.all([1, 2, 3].map(() => t.createProduct({ stock: 5 })));
    for (const p of products) await c.client.cart.addItem.mutate({ productId: p.id, quantity: 1 });
    expect(await c.client.cart.clear.mutate()).toEqual({ removedLines: 3 });
    expect(await rows(c)).toEqual([]);
    expect(await c.client.cart.clear.mutate()).toEqual({ removedLines: 0 });
  });
});

describe("refusals", () => {
  test("INSUFFICIENT_STOCK (P002) with availableStock when adding more than the stock, counting what is already in the cart", async () => {
    const c = await t.signUpCustomer("greedy");
    const p = await t.createProduct({ name: "Limited print", price: 50_000, stock: 5 });
    const over = await errorOf(c.client.cart.addItem.mutate({ productId: p.id, quantity: 6 }));
    expect(over.data).toMatchObject({
      code: "BAD_REQUEST",
      httpStatus: 400,
      domainCode: "INSUFFICIENT_STOCK",
      ref: "P002",
      details: { availableStock: 5, insufficientItems: [{ productId: p.id, productName: "Limited print", requestedQuantity: 6, availableStock: 5 }] },
    });
    expect(await rows(c)).toEqual([]);

    await c.client.cart.addItem.mutate({ productId: p.id, quantity: 3 });
    const before = await rows(c);
    const again = await errorOf(c.client.cart.addItem.mutate({ productId: p.id, quantity: 3 }));
    expect(again.data).toMatchObject({
      domainCode: "INSUFFICIENT_STOCK",
      details: { availableStock: 5, insufficientItems: [{ requestedQuantity: 6, availableStock: 5 }] },
    });
    expect(await rows(c)).toEqual(before);
    // Exactly the stock is fine.
    await c.client.cart.addItem.mutate({ productId: p.id, quantity: 2 });
    expect(await lines(c)).toEqual([[p.id, 5]]);
  });

  test("PRODUCT_NOT_FOUND (P001) for hidden, deleted and unknown products", async () => {
    const c = await t.signUpCustomer("ghosts");
    const hidden = await t.createProduct({ stock: 5 });
    const deleted = await t.createProduct({ stock: 5 });
    await admin.client.catalog.admin.setStatus.mutate({ productId: hidden.id, status: "hidden" });
    await admin.client.catalog.admin.delete.mutate({ productId: deleted.id });
    for (const productId of [hidden.id, deleted.id, 987_654]) {
      const error = await errorOf(c.client.cart.addItem.mutate({ productId, quantity: 1 }));
      expect(error.data).toMatchObject({ code: "NOT_FOUND", httpStatus: 404, domainCode: "PRODUCT_NOT_FOUND", ref: "P001", details: { productId } });
    }
    expect(await rows(c)).toEqual([]);
  });

  test("CART_LINE_LIMIT past 99 units on a line; more than 99 in one call is BAD_REQUEST", async () => {
    const c = await t.signUpCustomer("bulk");
    const p = await t.createProduct({ price: 100, stock: 1_000 });
    await c.client.cart.addItem.mutate({ productId: p.id, quantity: 60 });
    const before = await rows(c);
    const error = await errorOf(c.client.cart.addItem.mutate({ productId: p.id, quantity: 40 }));
    expect(error.data).toMatchObject({ code: "BAD_REQUEST", domainCode: "CART_LINE_LIMIT", details: { productId: p.id, maxQuantity: 99 } });
    expect(await rows(c)).toEqual(before);
    await c.client.cart.addItem.mutate({ productId: p.id, quantity: 39 });
    expect(await lines(c)).toEqual([[p.id, 99]]);
    expect(await codeOf(c.client.cart.addItem.mutate({ productId: p.id, quantity: 1 }))).toBe("CART_LINE_LIMIT");

    const q = await t.createProduct({ price: 100, stock: 1_000 });
    await badRequest(c.client.cart.addItem.mutate({ productId: q.id, quantity: 100 }));
    await badRequest(c.client.cart.addItem.mutate({ productId: q.id, quantity: 0 }));
    await badRequest(c.client.cart.setQuantity.mutate({ productId: p.id, quantity: 100 }));
    await badRequest(c.client.cart.setQuantity.mutate({ productId: p.id, quantity: 0 }));
    expect(await lines(c)).toEqual([[p.id, 99]]);
  });

  test("CART_FULL past 50 lines; adding to an existing line of a full cart still works", async () => {
    const c = await t.signUpCustomer("hoarder");
    const products = [];
    for (let i = 0; i < 51; i += 17) products.push(...(await Promise.all(Array.from({ length: 17 }, () => t.createProduct({ price: 1_000, stock: 5 })))));
    for (const p of products.slice(0, 50)) await c.client.cart.addItem.mutate({ productId: p.id, quantity: 1 });
    expect(await rows(c)).toHaveLength(50);

    const last = products[50] as { id: number };
    const error = await errorOf(c.client.cart.addItem.mutate({ productId: last.id, quantity: 1 }));
    expect(error.data).toMatchObject({ code: "BAD_REQUEST", domainCode: "CART_FULL", details: { maxLines: 50 } });
    expect(await rows(c)).toHaveLength(50);
    expect((await rows(c)).some((r) => r.product_id === last.id)).toBe(false);

    const first = products[0] as { id: number };
    const cart = await c.client.cart.addItem.mutate({ productId: first.id, quantity: 2 });
    expect(cart).toMatchObject({ itemCount: 50, totalQuantity: 52, totalAmount: 52_000 });

    // Making room lets the 51st product in.
    await c.client.cart.removeItem.mutate({ productId: first.id });
    await c.client.cart.addItem.mutate({ productId: last.id, quantity: 1 });
    expect(await rows(c)).toHaveLength(50);
  });
});

describe("parallel adds", () => {
  test("15 parallel adds of new products to a 45-line cart: exactly 5 fit, never more than 50 lines", async () => {
    const c = await t.signUpCustomer("rushcart");
    const products = [];
    for (let i = 0; i < 60; i += 20) products.push(...(await Promise.all(Array.from({ length: 20 }, () => t.createProduct({ price: 1_000, stock: 5 })))));
    for (const p of products.slice(0, 45)) await c.client.cart.addItem.mutate({ productId: p.id, quantity: 1 });
    const results = await Promise.allSettled(products.slice(45).map((p) => c.client.cart.addItem.mutate({ productId: p.id, quantity: 1 })));
    const codes = await Promise.all(results.map((r) => (r.status === "fulfilled" ? "ok" : codeOf(Promise.reject(r.reason)))));
    expect(codes.filter((x) => x === "ok")).toHaveLength(5);
    expect(codes.filter((x) => x === "CART_FULL")).toHaveLength(10);
    expect(await rows(c)).toHaveLength(50);
  });

  test("parallel adds to one line never pass 99 units, and none fails with a server error", async () => {
    const c = await t.signUpCustomer("rushline");
    const p = await t.createProduct({ price: 100, stock: 1_000 });
    const results = await Promise.allSettled(Array.from({ length: 8 }, () => c.client.cart.addItem.mutate({ productId: p.id, quantity: 45 })));
    const codes = await Promise.all(results.map((r) => (r.status === "fulfilled" ? "ok" : codeOf(Promise.reject(r.reason)))));
    expect(codes.filter((x) => x === "ok")).toHaveLength(2);
    expect(codes.filter((x) => x === "CART_LINE_LIMIT")).toHaveLength(6);
    expect(await lines(c)).toEqual([[p.id, 90]]);
  });
});

describe("privacy", () => {
  test("a customer cannot name another customer: a userId in the input is BAD_REQUEST", async () => {
    const [a, b] = (await t.signUpCustomers(2, "neighbour")) as [Customer, Customer];
    const p = await t.createProduct({ stock: 10 });
    await a.client.cart.addItem.mutate({ productId: p.id, quantity: 2 });
    const aBefore = await rows(a);

    await badRequest(b.client.cart.addItem.mutate({ productId: p.id, quantity: 1, userId: a.id } as never));
    await badRequest(b.client.cart.setQuantity.mutate({ productId: p.id, quantity: 9, userId: a.id } as never));
    await badRequest(b.client.cart.removeItem.mutate({ productId: p.id, userId: a.id } as never));
    expect(await rows(a)).toEqual(aBefore);
    expect(await rows(b)).toEqual([]);

    // get and clear take no input at all: anything sent is refused, like any unknown key.
    await badRequest(b.client.cart.get.query({ userId: a.id } as never));
    await badRequest(b.client.cart.clear.mutate({ userId: a.id } as never));
    expect((await b.client.cart.get.query()).items).toEqual([]);
    expect(await rows(a)).toEqual(aBefore);
  });

  test("each customer's cart shows only their own lines, and changing one leaves the other alone", async () => {
    const [a, b] = (await t.signUpCustomers(2, "twin")) as [Customer, Customer];
    // One after the other: with the clock standing still, lines added at the same instant list by product id.
    const p = await t.createProduct({ stock: 10 });
    const q = await t.createProduct({ stock: 10 });
    await a.client.cart.addItem.mutate({ productId: p.id, quantity: 1 });
    await b.client.cart.addItem.mutate({ productId: q.id, quantity: 4 });
    await b.client.cart.addItem.mutate({ productId: p.id, quantity: 3 });

    expect((await a.client.cart.get.query()).items.map((i) => [i.productId, i.quantity])).toEqual([[p.id, 1]]);
    expect((await b.client.cart.get.query()).items.map((i) => [i.productId, i.quantity])).toEqual([
      [p.id, 3],
      [q.id, 4],
    ]);
    // b cannot reach a's line: q is not in a's cart, and a's p line is not b's to remove.
    expect(await codeOf(a.client.cart.removeItem.mutate({ productId: q.id }))).toBe("CART_ITEM_NOT_FOUND");
    await b.client.cart.removeItem.mutate({ productId: p.id });
    await b.client.cart.clear.mutate();
    expect(await lines(a)).toEqual([[p.id, 1]]);
    expect(await lines(b)).toEqual([]);
  });
});

describe("ordering from the cart", () => {
  test("orders.place with no items buys the cart and removes the bought lines", async () => {
    const c = await t.signUpCustomer("checkout");
    await t.fund(c, 100_000);
    const a = await t.createProduct({ price: 12_000, stock: 10 });
    const b = await t.createProduct({ price: 3_500, stock: 5 });
    await c.client.cart.addItem.mutate({ productId: a.id, quantity: 2 });
    await c.client.cart.addItem.mutate({ productId: b.id, quantity: 3 });

    const placed = await c.client.orders.place.mutate({});
    expect(placed).toMatchObject({ status: "paid", subtotalAmount: 34_500, finalAmount: 34_500, remainingBalance: 65_500 });
    expect(await rows(c)).toEqual([]);
    expect(await stockOf(a.id)).toBe(8);
    expect(await stockOf(b.id)).toBe(2);
    const order = await c.client.orders.get.query({ orderId: placed.orderId });
    expect(order.lines.map((l) => [l.productId, l.quantity, l.unitPrice])).toEqual([
      [a.id, 2, 12_000],
      [b.id, 3, 3_500],
    ]);
    expect(await codeOf(c.client.orders.place.mutate({}))).toBe("CART_EMPTY");
  });

  test("an order with explicit items leaves the cart as it was", async () => {
    const c = await t.signUpCustomer("direct");
    await t.fund(c, 50_000);
    const p = await t.createProduct({ price: 5_000, stock: 10 });
    await c.client.cart.addItem.mutate({ productId: p.id, quantity: 2 });
    const before = await rows(c);
    await c.client.orders.place.mutate({ items: [{ productId: p.id, quantity: 1 }] });
    expect(await rows(c)).toEqual(before);
  });

  test("a refused cart order (stock gone meanwhile) keeps the cart, the money and the stock", async () => {
    const c = await t.signUpCustomer("toolate");
    await t.fund(c, 50_000);
    const p = await t.createProduct({ price: 5_000, stock: 3 });
    const q = await t.createProduct({ price: 1_000, stock: 3 });
    await c.client.cart.addItem.mutate({ productId: p.id, quantity: 3 });
    await c.client.cart.addItem.mutate({ productId: q.id, quantity: 1 });
    await admin.client.catalog.admin.outbound.mutate({ productId: p.id, quantity: 1 });
    const before = await rows(c);
    expect(await codeOf(c.client.orders.place.mutate({}))).toBe("INSUFFICIENT_STOCK");
    expect(await rows(c)).toEqual(before);
    expect((await c.client.wallet.balance.query()).balance).toBe(50_000);
    expect(await stockOf(p.id)).toBe(2);
    expect(await stockOf(q.id)).toBe(3);
  });

  test("another customer's order does not touch my cart", async () => {
    const [me, other] = (await t.signUpCustomers(2, "shared")) as [Customer, Customer];
    await t.fund(other, 50_000);
    const p = await t.createProduct({ price: 5_000, stock: 10 });
    await me.client.cart.addItem.mutate({ productId: p.id, quantity: 2 });
    await other.client.cart.addItem.mutate({ productId: p.id, quantity: 1 });
    await other.client.orders.place.mutate({});
    expect(await lines(other)).toEqual([]);
    expect(await lines(me)).toEqual([[p.id, 2]]);
  });
});
