/**
 * The address book: several addresses, one default (held by the database), sealed at rest, paged,
 * at most 20; an order without an address ships to the default, or to a chosen entry, and keeps
 * its own copy. A customer never reaches another's entries.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sql } from "kysely";
import { codeOf, startTestAgora, type TestAgora } from "../support/agora.ts";

let t: TestAgora;
beforeAll(async () => {
  t = await startTestAgora();
});
afterAll(() => t.close());

const entry = (n: number) => ({ label: `Home ${n}`, recipient: `Kim Minji ${n}`, phone: "010-2222-3333", address: `${n} Sejong-daero, Jung-gu, Seoul` });

describe("address book", () => {
  test("the first address is the default; the default moves; removing it promotes the oldest", async () => {
    const c = await t.signUpCustomer("book");
    const home = await c.client.addresses.add.mutate(entry(1));
    expect(home.isDefault).toBe(true);
    const office = await c.client.addresses.add.mutate({ ...entry(2), label: "Office" });
    expect(office.isDefault).toBe(false);
    const third = await c.client.addresses.add.mutate({ ...entry(3), makeDefault: true });
    expect(third.isDefault).toBe(true);
    const all = (await c.client.addresses.list.query({})).items;
    expect(all.filter((a) => a.isDefault).map((a) => a.addressId)).toEqual([third.addressId]);

    await c.client.addresses.setDefault.mutate({ addressId: office.addressId });
    expect((await c.client.addresses.get.query({ addressId: office.addressId })).isDefault).toBe(true);
    const removed = await c.client.addresses.remove.mutate({ addressId: office.addressId });
    expect(removed.newDefaultAddressId).toBe(home.addressId);
    const updated = await c.client.addresses.update.mutate({ addressId: home.addressId, phone: null, label: "Parents" });
    expect(updated).toMatchObject({ label: "Parents", phone: null, isDefault: true });
  });

  test("the database holds one default per customer, whatever the code does", async () => {
    const c = await t.signUpCustomer("onedefault");
    await c.client.addresses.add.mutate(entry(1));
    const second = await c.client.addresses.add.mutate(entry(2));
    const error = await sql`UPDATE customer_addresses SET is_default = true WHERE id = ${second.addressId}`.execute(t.db).catch((e) => e);
    expect((error as { code?: string }).code).toBe("23505");
  });

  test("recipient, phone and address are sealed at rest", async () => {
    const c = await t.signUpCustomer("sealed");
    const added = await c.client.addresses.add.mutate(entry(7));
    const row = await t.db.selectFrom("customer_addresses").selectAll().where("id", "=", added.addressId).executeTakeFirstOrThrow();
    for (const value of [row.recipient, row.phone, row.address]) expect(value?.startsWith("pii1:")).toBe(true);
    expect(JSON.stringify(row)).not.toContain("Sejong");
  });

  test("paged, and full at 20 entries (concurrent adds cannot pass it)", async () => {
    const c = await t.signUpCustomer("full");
    await Promise.all(Array.from({ length: 22 }, (_, i) => c.client.addresses.add.mutate(entry(i + 1)).catch((e) => e)));
    const count = await t.db
      .selectFrom("customer_addresses")
      .select((eb) => eb.fn.countAll<string>().as("n"))
      .where("user_id", "=", c.id)
      .executeTakeFirstOrThrow();
    expect(Number(count.n)).toBe(20);
    expect(await codeOf(c.client.addresses.add.mutate(entry(99)))).toBe("ADDRESS_BOOK_FULL");
    const first = await c.client.addresses.list.query({ limit: 15 });
    expect(first.items).toHaveLength(15);
    const second = await c.client.addresses.list.query({ limit: 15, cursor: first.nextCursor ?? undefined });
    expect(second.items).toHaveLength(5);
    expect(second.nextCursor).toBeNull();
    expect(new Set([...first.items, ...second.items].map((a) => a.addressId)).size).toBe(20);
  });

  test("customer A cannot read, change, remove or ship to B's address", async () => {
    const [a, b] = await t.signUpCustomers(2, "bookauthz");
    if (!a || !b) throw new Error("two customers");
    const bs = await b.client.addresses.add.mutate(entry(5));
    expect(await codeOf(a.client.addresses.get.query({ addressId: bs.addressId }))).toBe("ADDRESS_NOT_FOUND");
    expect(await codeOf(a.client.addresses.update.mutate({ addressId: bs.addressId, label: "Mine" }))).toBe("ADDRESS_NOT_FOUND");
    expect(await codeOf(a.client.addresses.setDefault.mutate({ addressId: bs.addressId }))).toBe("ADDRESS_NOT_FOUND");
    expect(await codeOf(a.client.addresses.remove.mutate({ addressId: bs.addressId }))).toBe("ADDRESS_NOT_FOUND");
    const product = await t.createProduct({ stock: 5, price: 1_000 });
    expect(await codeOf(a.client.orders.create.mutate({ items: [{ productId: product.id, quantity: 1 }], addressId: bs.addressId }))).toBe("ADDRESS_NOT_FOUND");
    expect((await b.client.addresses.get.query({ addressId: bs.addressId })).label).toBe("Home 5");
  });
});

describe("orders and the address book", () => {
  test("an order without an address ships to the default; one can name another entry; the order keeps its copy", async () => {
    const c = await t.signUpCustomer("shipto");
    const product = await t.createProduct({ stock: 10, price: 2_000 });
    const home = await c.client.addresses.add.mutate(entry(1));
    const office = await c.client.addresses.add.mutate({ ...entry(2), phone: undefined });

    const toDefault = await c.client.orders.create.mutate({ items: [{ productId: product.id, quantity: 1 }] });
    expect((await c.client.orders.get.query({ orderId: toDefault.orderId })).shippingAddress).toBe(
      "Kim Minji 1 (010-2222-3333)\n1 Sejong-daero, Jung-gu, Seoul",
    );
    const toOffice = await c.client.orders.create.mutate({ items: [{ productId: product.id, quantity: 1 }], addressId: office.addressId });
    expect((await c.client.orders.get.query({ orderId: toOffice.orderId })).shippingAddress).toBe("Kim Minji 2\n2 Sejong-daero, Jung-gu, Seoul");

    // The book changes; the orders keep what they shipped to.
    await c.client.addresses.update.mutate({ addressId: home.addressId, address: "99 Elsewhere-ro, Busan" });
    await c.client.addresses.remove.mutate({ addressId: office.addressId });
    expect((await c.client.orders.get.query({ orderId: toDefault.orderId })).shippingAddress).toContain("1 Sejong-daero");
    expect((await c.client.orders.get.query({ orderId: toOffice.orderId })).shippingAddress).toContain("2 Sejong-daero");
  });

  test("text and addressId together are refused; with an empty book and no text the order has no address", async () => {
    const c = await t.signUpCustomer("noaddr");
    const product = await t.createProduct({ stock: 10, price: 2_000 });
    expect(
      await codeOf(c.client.orders.create.mutate({ items: [{ productId: product.id, quantity: 1 }], shippingAddress: "1 Somewhere-ro", addressId: 1 })),
    ).toBe("VALIDATION_FAILED");
    const order = await c.client.orders.create.mutate({ items: [{ productId: product.id, quantity: 1 }] });
    expect((await c.client.orders.get.query({ orderId: order.orderId })).shippingAddress).toBeNull();
  });
});
