import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sql } from "kysely";
import type { AgoraClient } from "../../apps/client/index.ts";
import type { Database } from "../../db/index.ts";
import { type Customer, codeOf, errorOf, startTestAgora, type TestAgora } from "../support/agora.ts";

let t: TestAgora;
let admin: Customer;
let customer: Customer;
let anonymous: AgoraClient;

beforeAll(async () => {
  t = await startTestAgora();
  admin = await t.admin();
  customer = await t.signUpCustomer("shopper");
  anonymous = t.client();
});
afterAll(() => t.close());

// ── helpers ──────────────────────────────────────────────────────────────

type CreateInput = Parameters<AgoraClient["catalog"]["admin"]["create"]["mutate"]>[0];
let productSeq = 0;

function createProduct(input: Partial<CreateInput> = {}) {
  productSeq += 1;
  return admin.client.catalog.admin.create.mutate({ name: `Product ${productSeq}`, category: "misc", price: 10_000, ...input });
}

async function rowCount(table: keyof Database): Promise<number> {
  const row = await t.db
    .selectFrom(table as "catalog_products")
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Row counts of every table the catalog writes: equal snapshots mean nothing was written. */
async function catalogCounts() {
  const tables = ["catalog_products", "inventory_stock", "inventory_movements", "inventory_restock_subscriptions", "outbox_events"] as const;
  return Object.fromEntries(await Promise.all(tables.map(async (table) => [table, await rowCount(table)] as const)));
}

/** Product and stock rows as stored, to show a refused call left them untouched. */
async function storedProduct(productId: number) {
  const product = await t.db.selectFrom("catalog_products").selectAll().where("id", "=", productId).executeTakeFirstOrThrow();
  const stock = await t.db.selectFrom("inventory_stock").selectAll().where("product_id", "=", productId).executeTakeFirstOrThrow();
  return { product, stock };
}

/** Outbox rows of one type about a product (by payload: back-in-stock rows belong to their sign-up). */
function outboxEvents(productId: number, type: string) {
  return t.db
    .selectFrom("outbox_events")
    .selectAll()
    .where(sql<string>`payload->>'productId'`, "=", String(productId))
    .where("type", "=", type)
    .orderBy("id")
    .execute();
}

type ListInput = Parameters<AgoraClient["catalog"]["list"]["query"]>[0];

/** Follows nextCursor to the end, checking that every page but the last is full. */
async function collectPages(fetchPage: (cursor: string | undefined) => Promise<{ items: Array<{ id: number }>; nextCursor: string | null }>, limit: number) {
  const ids: number[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 1000; pages++) {
    const page = await fetchPage(cursor);
    ids.push(...page.items.map((p) => p.id));
    if (page.nextCursor === null) {
      expect(page.items.length).toBeLessThanOrEqual(limit);
      return ids;
    }
    expect(page.items).toHaveLength(limit);
    cursor = page.nextCursor;
  }
  throw new Error("paging did not end");
}

// ── admin product management ─────────────────────────────────────────────

describe("catalog: admin manages products", () => {
  test("create sets stock, threshold and an initial inbound movement", async () => {
    const product = await createProduct({
      name: "Jeju Green Tea 100g",
      category: "food",
      price: 12_900,
      description: "Loose leaf",
      initialStock: 40,
      lowStockThreshold: 5,
    });
    expect(product).toMatchObject({
      name: "Jeju Green Tea 100g",
      category: "food",
      price: 12_900,
      description: "Loose leaf",
      status: "active",
      stock: 40,
      inStock: true,
    });
    expect(product.createdAt).toBeInstanceOf(Date);

    const stock = await anonymous.catalog.stock.query({ productId: product.id });
    expect(stock).toMatchObject({ productId: product.id, stock: 40, inStock: true, lowStockThreshold: 5 });

    const movements = await admin.client.catalog.admin.movements.query({ productId: product.id });
    expect(movements.items).toHaveLength(1);
    expect(movements.items[0]).toMatchObject({ kind: "inbound", change: 40, quantityAfter: 40, reason: "initial stock", actorId: admin.id, orderId: null });
  });

  test("create with no initial stock is out of stock and logs no movement", async () => {
    const product = await createProduct();
    expect(product).toMatchObject({ stock: 0, inStock: false, status: "active", description: "" });
    expect((await admin.client.catalog.admin.movements.query({ productId: product.id })).items).toHaveLength(0);
    expect((await anonymous.catalog.stock.query({ productId: product.id })).lowStockThreshold).toBe(10);
  });

  test("update changes only the given fields", async () => {
    const product = await createProduct({ name: "Old name", category: "misc", price: 5_000, description: "keep me" });
    t.clock.advance(60_000);
    const updated = await admin.client.catalog.admin.update.mutate({ productId: product.id, name: "New name", price: 6_500 });
    expect(updated).toMatchObject({ id: product.id, name: "New name", price: 6_500, category: "misc", description: "keep me" });
    expect(updated.updatedAt.getTime()).toBe(product.updatedAt.getTime() + 60_000);
    expect(await anonymous.catalog.get.query({ productId: product.id })).toMatchObject({ name: "New name", price: 6_500 });
    expect(await codeOf(admin.client.catalog.admin.update.mutate({ productId: 999_999_999, name: "x" }))).toBe("PRODUCT_NOT_FOUND");
  });

  test("a hidden product vanishes from public list, get, stock and search, but not from admin.list", async () => {
    const category = "hide-test";
    const product = await createProduct({ name: "Hideable Lamp", category, initialStock: 3 });
    const publicIds = async () => (await anonymous.catalog.list.query({ category })).items.map((p) => p.id);
    const searchIds = async () => (await anonymous.catalog.search.query({ query: "Hideable" })).items.map((p) => p.id);
    expect(await publicIds()).toEqual([product.id]);
    expect(await searchIds()).toEqual([product.id]);

    const hidden = await admin.client.catalog.admin.setStatus.mutate({ productId: product.id, status: "hidden" });
    expect(hidden.status).toBe("hidden");
    expect(await publicIds()).toEqual([]);
    expect(await searchIds()).toEqual([]);
    expect(await codeOf(anonymous.catalog.get.query({ productId: product.id }))).toBe("PRODUCT_NOT_FOUND");
    expect(await codeOf(anonymous.catalog.stock.query({ productId: product.id }))).toBe("PRODUCT_NOT_FOUND");
    expect((await anonymous.catalog.categories.query()).map((c) => c.category)).not.toContain(category);

    const adminList = await admin.client.catalog.admin.list.query({ category });
    expect(adminList.items.map((p) => [p.id, p.status])).toEqual([[product.id, "hidden"]]);
    expect((await admin.client.catalog.admin.get.query({ productId: product.id })).status).toBe("hidden");

    await admin.client.catalog.admin.setStatus.mutate({ productId: product.id, status: "active" });
    expect(await publicIds()).toEqual([product.id]);
  });

  test("delete is soft: the row stays, but nobody sees it and it cannot be changed", async () => {
    const category = "delete-test";
    const product = await createProduct({ category });
    expect(await admin.client.catalog.admin.delete.mutate({ productId: product.id })).toEqual({ deleted: true, productId: product.id });

    expect((await storedProduct(product.id)).product.status).toBe("deleted");
    expect((await anonymous.catalog.list.query({ category })).items).toEqual([]);
    expect((await admin.client.catalog.admin.list.query({ category })).items).toEqual([]);
    expect((await admin.client.catalog.admin.list.query({ category, status: "deleted" })).items.map((p) => p.id)).toEqual([product.id]);
    expect(await codeOf(anonymous.catalog.get.query({ productId: product.id }))).toBe("PRODUCT_NOT_FOUND");
    expect(await codeOf(admin.client.catalog.admin.get.query({ productId: product.id }))).toBe("PRODUCT_NOT_FOUND");
    expect(await codeOf(admin.client.catalog.admin.update.mutate({ productId: product.id, name: "zombie" }))).toBe("PRODUCT_NOT_FOUND");
    expect(await codeOf(admin.client.catalog.admin.setStatus.mutate({ productId: product.id, status: "active" }))).toBe("PRODUCT_NOT_FOUND");
    expect(await codeOf(admin.client.catalog.admin.delete.mutate({ productId: product.id }))).toBe("PRODUCT_NOT_FOUND");
    expect((await storedProduct(product.id)).product.name).toBe(product.name);
  });

  test("categories counts active products only", async () => {
    await createProduct({ category: "cat-count" });
    await createProduct({ category: "cat-count" });
    await createProduct({ category: "cat-count", status: "hidden" });
    const categories = await anonymous.catalog.categories.query();
    expect(categories.find((c) => c.category === "cat-count")).toEqual({ category: "cat-count", productCount: 2 });
  });
});

// ── public browsing ──────────────────────────────────────────────────────

describe("catalog: public browsing", () => {
  const category = "paging";
  // Many equal prices: keyset paging must break ties by id or it skips or repeats products.
  const prices = [3, 1, 2, 2, 3, 1, 2, 5, 2, 3, 1, 2, 4, 2, 3, 1, 2, 2, 5, 3, 2, 1, 2].map((thousands) => thousands * 1_000);
  const visible: Array<{ id: number; price: number }> = [];

  beforeAll(async () => {
    for (const [i, price] of prices.entries()) {
      const product = await createProduct({ name: `Paging item ${i}`, category, price });
      visible.push({ id: product.id, price });
      // Hidden and deleted products sit between the visible ones and must never show up.
      if (i % 7 === 3) await createProduct({ name: `Paging hidden ${i}`, category, price, status: "hidden" });
      if (i % 7 === 5) {
        const doomed = await createProduct({ name: `Paging deleted ${i}`, category, price });
        await admin.client.catalog.admin.delete.mutate({ productId: doomed.id });
      }
    }
  });

  const expectedOrder = (sort: "newest" | "price_asc" | "price_desc", items: Array<{ id: number; price: number }>) =>
    [...items]
      .sort((a, b) => (sort === "newest" ? b.id - a.id : sort === "price_asc" ? a.price - b.price || a.id - b.id : b.price - a.price || b.id - a.id))
      .map((p) => p.id);

  for (const sort of ["newest", "price_asc", "price_desc"] as const) {
    for (const limit of [1, 4, 7]) {
      test(`${sort}, ${limit} a page: every product exactly once, in order`, async () => {
        const ids = await collectPages((cursor) => anonymous.catalog.list.query({ category, sort, limit, cursor }), limit);
        expect(ids).toEqual(expectedOrder(sort, visible));
        expect(new Set(ids).size).toBe(prices.length);
      });
    }

    test(`${sort} with a price range: bounds are inclusive and paging stays exact`, async () => {
      const input = { category, sort, minPrice: 2_000, maxPrice: 3_000, limit: 3 } satisfies ListInput;
      const ids = await collectPages((cursor) => anonymous.catalog.list.query({ ...input, cursor }), 3);
      const inRange = visible.filter((p) => p.price >= 2_000 && p.price <= 3_000);
      expect(inRange.length).toBe(15);
      expect(ids).toEqual(expectedOrder(sort, inRange));
    });
  }

  test("without a category, paging covers exactly the active products", async () => {
    const ids = await collectPages((cursor) => anonymous.catalog.list.query({ sort: "price_asc", limit: 10, cursor }), 10);
    const active = await t.db.selectFrom("catalog_products").select("id").where("status", "=", "active").execute();
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort((a, b) => a - b)).toEqual(active.map((r) => r.id).sort((a, b) => a - b));
  });

  test("a category filter returns that category only", async () => {
    const other = await createProduct({ category: "paging-other", price: 2_000 });
    const page = await anonymous.catalog.list.query({ category, limit: 100 });
    expect(page.items.every((p) => p.category === category)).toBe(true);
    expect(page.items.map((p) => p.id)).not.toContain(other.id);
    expect((await anonymous.catalog.list.query({ category: "paging-other" })).items.map((p) => p.id)).toEqual([other.id]);
    expect((await anonymous.catalog.list.query({ category: "no-such-category" })).items).toEqual([]);
  });

  test("a garbled cursor starts from the first page instead of failing", async () => {
    const first = await anonymous.catalog.list.query({ category, limit: 5 });
    const garbled = await anonymous.catalog.list.query({ category, limit: 5, cursor: "not-a-cursor" });
    expect(garbled.items.map((p) => p.id)).toEqual(first.items.map((p) => p.id));
  });

  test("search finds a name substring, case-insensitively", async () => {
    const mug = await createProduct({ name: "Celadon Porcelain Mug", category: "kitchen" });
    const bowl = await createProduct({ name: "Celadon Rice Bowl", category: "kitchen" });
    await createProduct({ name: "Brass Spoon", category: "kitchen" });
    const found = await anonymous.catalog.search.query({ query: "celadon" });
    expect(found.items.map((p) => p.id).sort((a, b) => a - b)).toEqual([mug.id, bowl.id]);
    expect((await anonymous.catalog.search.query({ query: "PORCELAIN" })).items.map((p) => p.id)).toEqual([mug.id]);
    expect((await anonymous.catalog.search.query({ query: "celadon", category: "nope" })).items).toEqual([]);
    expect((await anonymous.catalog.search.query({ query: "zzz-nothing-like-this" })).items).toEqual([]);
  });

  test("% and _ in a search query are literal characters, not wildcards", async () => {
    const percent = await createProduct({ name: "Cotton 100% Towel" });
    await createProduct({ name: "Cotton 100 Towel" });
    const underscore = await createProduct({ name: "snake_case sticker" });
    await createProduct({ name: "snakeXcase sticker" });
    const backslash = await createProduct({ name: "back\\slash poster" });

    expect((await anonymous.catalog.search.query({ query: "100%" })).items.map((p) => p.id)).toEqual([percent.id]);
    expect((await anonymous.catalog.search.query({ query: "%" })).items.map((p) => p.id)).toEqual([percent.id]);
    expect((await anonymous.catalog.search.query({ query: "snake_case" })).items.map((p) => p.id)).toEqual([underscore.id]);
    expect((await anonymous.catalog.search.query({ query: "e_c" })).items.map((p) => p.id)).toEqual([underscore.id]);
    expect((await anonymous.catalog.search.query({ query: "k\\s" })).items.map((p) => p.id)).toEqual([backslash.id]);
  });

  test("search matches exactly what name ILIKE matches (lower-cased search_name), beyond ASCII too, and follows a rename", async () => {
    const names = ["ÄRGER Kettle", "ärger kettle", "Straße Lamp", "STRASSE LAMP", "녹차 Tea Cup", "İstanbul Mug", "ΣΟΦΑ Cushion", "σοφα cushion"];
    const created = await Promise.all(names.map((name) => createProduct({ name, category: "ilike-parity" })));
    const ids = new Set(created.map((p) => p.id));
    for (const query of ["ärger", "ÄRGER", "straße", "STRASSE", "녹차 TEA", "i̇stanbul", "İSTANBUL", "σοφα", "ΣΟΦΑ", "a c"]) {
      const found = (await anonymous.catalog.search.query({ query, category: "ilike-parity", limit: 50 })).items.map((p) => p.id);
      const pattern = `%${query.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      const expected = await t.db
        .selectFrom("catalog_products")
        .select("id")
        .where("name", "ilike", pattern)
        .where("status", "=", "active")
        .orderBy("id", "desc")
        .execute();
      expect({ query, found }).toEqual({ query, found: expected.map((r) => r.id).filter((id) => ids.has(id)) });
    }
    const [kettle] = created;
    await admin.client.catalog.admin.update.mutate({ productId: kettle?.id ?? 0, name: "Copper Samovar" });
    expect((await anonymous.catalog.search.query({ query: "SAMOVAR", category: "ilike-parity" })).items.map((p) => p.id)).toEqual([kettle?.id ?? 0]);
    expect((await anonymous.catalog.search.query({ query: "ärger", category: "ilike-parity" })).items.map((p) => p.id)).toEqual([created[1]?.id ?? 0]);
  });

  test("get and stock of a product need no login; unknown ids are PRODUCT_NOT_FOUND", async () => {
    const product = await createProduct({ name: "Hanji Notebook", price: 8_800, initialStock: 7, lowStockThreshold: 2 });
    expect(await anonymous.catalog.get.query({ productId: product.id })).toMatchObject({
      id: product.id,
      name: "Hanji Notebook",
      price: 8_800,
      stock: 7,
      inStock: true,
      status: "active",
    });
    expect(await anonymous.catalog.stock.query({ productId: product.id })).toMatchObject({
      productId: product.id,
      stock: 7,
      inStock: true,
      lowStockThreshold: 2,
    });
    expect(await codeOf(anonymous.catalog.get.query({ productId: 999_999_999 }))).toBe("PRODUCT_NOT_FOUND");
    expect(await codeOf(anonymous.catalog.stock.query({ productId: 999_999_999 }))).toBe("PRODUCT_NOT_FOUND");
    const notFound = await errorOf(anonymous.catalog.get.query({ productId: 999_999_999 }));
    expect(notFound.data).toMatchObject({ code: "NOT_FOUND", httpStatus: 404, ref: "P001", details: { productId: 999_999_999 } });
  });
});

// ── access control ───────────────────────────────────────────────────────

describe("catalog: admin procedures are for admins only", () => {
  test("customers get FORBIDDEN, anonymous callers UNAUTHENTICATED, and nothing changes", async () => {
    const product = await createProduct({ name: "Guarded Vase", initialStock: 5 });
    const before = { counts: await catalogCounts(), stored: await storedProduct(product.id) };
    const productId = product.id;

    const calls = (client: AgoraClient) => [
      client.catalog.admin.list.query({}),
      client.catalog.admin.get.query({ productId }),
      client.catalog.admin.create.mutate({ name: "Sneaky", category: "misc", price: 1, initialStock: 99 }),
      client.catalog.admin.update.mutate({ productId, price: 1 }),
      client.catalog.admin.setStatus.mutate({ productId, status: "hidden" }),
      client.catalog.admin.delete.mutate({ productId }),
      client.catalog.admin.inbound.mutate({ productId, quantity: 100 }),
      client.catalog.admin.outbound.mutate({ productId, quantity: 5 }),
      client.catalog.admin.adjust.mutate({ productId, change: -5, reason: "theft" }),
      client.catalog.admin.setLowStockThreshold.mutate({ productId, threshold: 99 }),
      client.catalog.admin.movements.query({ productId }),
      client.catalog.admin.lowStock.query({}),
    ];
    const asCustomer = await Promise.all(calls(customer.client).map(codeOf));
    const asAnonymous = await Promise.all(calls(anonymous).map(codeOf));
    expect(asCustomer).toEqual(Array(12).fill("FORBIDDEN"));
    expect(asAnonymous).toEqual(Array(12).fill("UNAUTHENTICATED"));
    const forbidden = await errorOf(customer.client.catalog.admin.list.query({}));
    expect(forbidden.data.httpStatus).toBe(403);

    expect(await catalogCounts()).toEqual(before.counts);
    expect(await storedProduct(product.id)).toEqual(before.stored);
  });

  test("restock sign-up needs a login", async () => {
    const product = await createProduct();
    const before = await rowCount("inventory_restock_subscriptions");
    expect(await codeOf(anonymous.catalog.signUpForRestock.mutate({ productId: product.id }))).toBe("UNAUTHENTICATED");
    expect(await rowCount("inventory_restock_subscriptions")).toBe(before);
  });
});

// ── validation ───────────────────────────────────────────────────────────

describe("catalog: bad input", () => {
  test("create: negative price, wrong types, huge strings → BAD_REQUEST with field errors, nothing written", async () => {
    const before = await catalogCounts();
    const error = await errorOf(
      admin.client.catalog.admin.create.mutate({
        name: "x".repeat(10_000),
        category: 42,
        price: -100,
        description: "d".repeat(5_001),
        initialStock: 1.5,
        lowStockThreshold: "ten",
        status: "deleted",
      } as never),
    );
    expect(error.data).toMatchObject({ code: "BAD_REQUEST", httpStatus: 400, domainCode: "VALIDATION_FAILED" });
    expect(error.message).toBe("Invalid input");
    expect(Object.keys(error.data.fieldErrors ?? {}).sort()).toEqual([
      "category",
      "description",
      "initialStock",
      "lowStockThreshold",
      "name",
      "price",
      "status",
    ]);
    expect(await catalogCounts()).toEqual(before);
  });

  test("create: a fractional price or an empty name is refused", async () => {
    const before = await catalogCounts();
    const fractional = await errorOf(admin.client.catalog.admin.create.mutate({ name: "Half won", category: "misc", price: 999.5 }));
    expect(Object.keys(fractional.data.fieldErrors ?? {})).toEqual(["price"]);
    const blank = await errorOf(admin.client.catalog.admin.create.mutate({ name: "   ", category: "misc", price: 1_000 }));
    expect(Object.keys(blank.data.fieldErrors ?? {})).toEqual(["name"]);
    expect(await catalogCounts()).toEqual(before);
  });

  test("unknown fields are refused as a form error, nothing written", async () => {
    const before = await catalogCounts();
    const error = await errorOf(admin.client.catalog.admin.create.mutate({ name: "Extra", category: "misc", price: 1_000, stock: 5 } as never));
    expect(error.data.code).toBe("BAD_REQUEST");
    expect(error.data.fieldErrors).toEqual({});
    expect(error.data.formErrors).toEqual(['Unrecognized key: "stock"']);
    expect(await catalogCounts()).toEqual(before);
  });

  test("update and stock changes with bad input change nothing", async () => {
    const product = await createProduct({ initialStock: 10 });
    const before = { counts: await catalogCounts(), stored: await storedProduct(product.id) };

    const update = await errorOf(admin.client.catalog.admin.update.mutate({ productId: product.id, price: -1, name: "" }));
    expect(Object.keys(update.data.fieldErrors ?? {}).sort()).toEqual(["name", "price"]);
    const inbound = await errorOf(admin.client.catalog.admin.inbound.mutate({ productId: product.id, quantity: -5 }));
    expect(Object.keys(inbound.data.fieldErrors ?? {})).toEqual(["quantity"]);
    const zero = await errorOf(admin.client.catalog.admin.adjust.mutate({ productId: product.id, change: 0, reason: "nothing" }));
    expect(Object.keys(zero.data.fieldErrors ?? {})).toEqual(["change"]);
    const noReason = await errorOf(admin.client.catalog.admin.adjust.mutate({ productId: product.id, change: 1 } as never));
    expect(Object.keys(noReason.data.fieldErrors ?? {})).toEqual(["reason"]);
    const badId = await errorOf(anonymous.catalog.get.query({ productId: "1" } as never));
    expect(Object.keys(badId.data.fieldErrors ?? {})).toEqual(["productId"]);
    const hugeQuery = await errorOf(anonymous.catalog.search.query({ query: "q".repeat(5_000) }));
    expect(Object.keys(hugeQuery.data.fieldErrors ?? {})).toEqual(["query"]);
    const badLimit = await errorOf(anonymous.catalog.list.query({ limit: 1_000, sort: "cheapest" } as never));
    expect(Object.keys(badLimit.data.fieldErrors ?? {}).sort()).toEqual(["limit", "sort"]);
    const backwardsRange = await errorOf(anonymous.catalog.list.query({ minPrice: 5_000, maxPrice: 1_000 }));
    expect(Object.keys(backwardsRange.data.fieldErrors ?? {})).toEqual(["minPrice"]);
    const nothingToChange = await errorOf(admin.client.catalog.admin.update.mutate({ productId: product.id }));
    expect(nothingToChange.data.formErrors).toEqual(["nothing to update"]);

    expect(await catalogCounts()).toEqual(before.counts);
    expect(await storedProduct(product.id)).toEqual(before.stored);
  });
});

// ── inventory ────────────────────────────────────────────────────────────

describe("catalog: inventory", () => {
  test("inbound, outbound and adjust move stock and log movements with the actor", async () => {
    const product = await createProduct({ initialStock: 10, lowStockThreshold: 0 });
    const productId = product.id;
    expect(await admin.client.catalog.admin.inbound.mutate({ productId, quantity: 15, reason: "delivery #7" })).toMatchObject({ stock: 25, inStock: true });
    expect(await admin.client.catalog.admin.outbound.mutate({ productId, quantity: 4, reason: "damaged" })).toMatchObject({ stock: 21 });
    expect(await admin.client.catalog.admin.adjust.mutate({ productId, change: -1, reason: "stock count" })).toMatchObject({ stock: 20 });
    expect(await admin.client.catalog.admin.adjust.mutate({ productId, change: 3, reason: "found in back room" })).toMatchObject({ stock: 23 });

    const movements = await admin.client.catalog.admin.movements.query({ productId });
    // Newest first.
    expect(
      movements.items.map(({ kind, change, quantityAfter, reason, actorId, orderId }) => ({ kind, change, quantityAfter, reason, actorId, orderId })),
    ).toEqual([
      { kind: "adjustment", change: 3, quantityAfter: 23, reason: "found in back room", actorId: admin.id, orderId: null },
      { kind: "adjustment", change: -1, quantityAfter: 20, reason: "stock count", actorId: admin.id, orderId: null },
      { kind: "outbound", change: -4, quantityAfter: 21, reason: "damaged", actorId: admin.id, orderId: null },
      { kind: "inbound", change: 15, quantityAfter: 25, reason: "delivery #7", actorId: admin.id, orderId: null },
      { kind: "inbound", change: 10, quantityAfter: 10, reason: "initial stock", actorId: admin.id, orderId: null },
    ]);
    expect(movements.nextCursor).toBeNull();
    expect((await anonymous.catalog.stock.query({ productId })).stock).toBe(23);
  });

  test("taking more than there is → INVALID_STOCK_CHANGE, and nothing changes", async () => {
    const product = await createProduct({ initialStock: 3 });
    const before = { counts: await catalogCounts(), stored: await storedProduct(product.id) };

    const outbound = await errorOf(admin.client.catalog.admin.outbound.mutate({ productId: product.id, quantity: 4 }));
    expect(outbound.data).toMatchObject({
      domainCode: "INVALID_STOCK_CHANGE",
      code: "BAD_REQUEST",
      details: { productId: product.id, change: -4, availableStock: 3 },
    });
    expect(await codeOf(admin.client.catalog.admin.adjust.mutate({ productId: product.id, change: -4, reason: "count" }))).toBe("INVALID_STOCK_CHANGE");
    expect(await codeOf(admin.client.catalog.admin.outbound.mutate({ productId: 999_999_999, quantity: 1 }))).toBe("PRODUCT_NOT_FOUND");
    expect(await codeOf(admin.client.catalog.admin.inbound.mutate({ productId: 999_999_999, quantity: 1 }))).toBe("PRODUCT_NOT_FOUND");

    expect(await catalogCounts()).toEqual(before.counts);
    expect(await storedProduct(product.id)).toEqual(before.stored);

    // Exactly down to zero is fine.
    expect(await admin.client.catalog.admin.outbound.mutate({ productId: product.id, quantity: 3 })).toMatchObject({ stock: 0, inStock: false });
  });

  test("movements page newest first with no gaps or repeats", async () => {
    const product = await createProduct({ initialStock: 1, lowStockThreshold: 0 });
    for (let i = 0; i < 9; i++) await admin.client.catalog.admin.inbound.mutate({ productId: product.id, quantity: i + 1 });
    const stored = await t.db.selectFrom("inventory_movements").select("id").where("product_id", "=", product.id).orderBy("id", "desc").execute();
    expect(stored).toHaveLength(10);

    const ids = await collectPages((cursor) => admin.client.catalog.admin.movements.query({ productId: product.id, limit: 3, cursor }), 3);
    expect(ids).toEqual(stored.map((m) => m.id));
  });

  test("lowStock lists products under their threshold, lowest stock first", async () => {
    const under = await createProduct({ name: "Under", initialStock: 3, lowStockThreshold: 5 });
    const atThreshold = await createProduct({ name: "At threshold", initialStock: 5, lowStockThreshold: 5 });
    const empty = await createProduct({ name: "Empty", initialStock: 0, lowStockThreshold: 1 });
    const zeroThreshold = await createProduct({ name: "Zero threshold", initialStock: 0, lowStockThreshold: 0 });
    const hiddenUnder = await createProduct({ name: "Hidden under", initialStock: 1, lowStockThreshold: 5, status: "hidden" });
    const deletedUnder = await createProduct({ name: "Deleted under", initialStock: 1, lowStockThreshold: 5 });
    await admin.client.catalog.admin.delete.mutate({ productId: deletedUnder.id });

    const low = await admin.client.catalog.admin.lowStock.query({ limit: 100 });
    const ids = low.map((l) => l.productId);
    expect(ids).toContain(under.id);
    expect(ids).toContain(empty.id);
    expect(ids).toContain(hiddenUnder.id);
    expect(ids).not.toContain(atThreshold.id);
    expect(ids).not.toContain(zeroThreshold.id);
    expect(ids).not.toContain(deletedUnder.id);
    expect(low.find((l) => l.productId === under.id)).toMatchObject({ name: "Under", stock: 3, lowStockThreshold: 5 });

    // The whole list is exactly the non-deleted products under threshold, by stock then id.
    const expected = await t.db
      .selectFrom("inventory_stock as s")
      .innerJoin("catalog_products as p", "p.id", "s.product_id")
      .select(["p.id", "s.quantity"])
      .where("p.status", "<>", "deleted")
      .whereRef("s.quantity", "<", "s.low_stock_threshold")
      .execute();
    expect(expected.length).toBeLessThan(100);
    expect(ids).toEqual(expected.sort((a, b) => a.quantity - b.quantity || a.id - b.id).map((r) => r.id));

    // Raising stock above the threshold takes it off the list; so does lowering the threshold.
    await admin.client.catalog.admin.inbound.mutate({ productId: under.id, quantity: 2 });
    await admin.client.catalog.admin.setLowStockThreshold.mutate({ productId: empty.id, threshold: 0 });
    const after = (await admin.client.catalog.admin.lowStock.query({ limit: 100 })).map((l) => l.productId);
    expect(after).not.toContain(under.id);
    expect(after).not.toContain(empty.id);
    expect(after.length).toBe(ids.length - 2);
  });

  test("crossing under the threshold writes exactly one low_stock event; staying under writes none", async () => {
    const product = await createProduct({ initialStock: 12, lowStockThreshold: 10 });
    const productId = product.id;
    await admin.client.catalog.admin.outbound.mutate({ productId, quantity: 2 }); // 10: at, not under
    expect(await outboxEvents(productId, "inventory.low_stock")).toHaveLength(0);

    await admin.client.catalog.admin.outbound.mutate({ productId, quantity: 1 }); // 9: crossed
    const events = await outboxEvents(productId, "inventory.low_stock");
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ status: "pending", payload: { productId, quantity: 9, threshold: 10 } });

    await admin.client.catalog.admin.outbound.mutate({ productId, quantity: 1 }); // 8: still under
    await admin.client.catalog.admin.adjust.mutate({ productId, change: -8, reason: "count" }); // 0
    await admin.client.catalog.admin.inbound.mutate({ productId, quantity: 5 }); // 5: under, rising
    expect(await outboxEvents(productId, "inventory.low_stock")).toHaveLength(1);

    // Back above, then under again: a new crossing, a new event.
    await admin.client.catalog.admin.inbound.mutate({ productId, quantity: 10 }); // 15
    await admin.client.catalog.admin.outbound.mutate({ productId, quantity: 7 }); // 8
    const again = await outboxEvents(productId, "inventory.low_stock");
    expect(again).toHaveLength(2);
    expect(again[1]?.payload).toEqual({ productId, quantity: 8, threshold: 10 });
  });

  test("a refused stock change writes no event", async () => {
    const product = await createProduct({ initialStock: 11, lowStockThreshold: 10 });
    expect(await codeOf(admin.client.catalog.admin.outbound.mutate({ productId: product.id, quantity: 12 }))).toBe("INVALID_STOCK_CHANGE");
    expect(await outboxEvents(product.id, "inventory.low_stock")).toHaveLength(0);
  });
});

// ── restock sign-ups ─────────────────────────────────────────────────────

describe("catalog: restock sign-ups", () => {
  test("sign up for an out-of-stock product; in stock → PRODUCT_IN_STOCK; twice → ALREADY_SUBSCRIBED", async () => {
    const soldOut = await createProduct({ name: "Sold-out Kettle", initialStock: 0 });
    const inStock = await createProduct({ name: "Plenty Kettle", initialStock: 4 });
    const hidden = await createProduct({ name: "Hidden Kettle", initialStock: 0, status: "hidden" });
    const before = await rowCount("inventory_restock_subscriptions");

    const signup = await customer.client.catalog.signUpForRestock.mutate({ productId: soldOut.id, channel: "sms" });
    expect(signup).toMatchObject({ productId: soldOut.id, channel: "sms" });
    expect(signup.signupId).toBeGreaterThan(0);

    const inStockError = await errorOf(customer.client.catalog.signUpForRestock.mutate({ productId: inStock.id }));
    expect(inStockError.data).toMatchObject({ domainCode: "PRODUCT_IN_STOCK", code: "CONFLICT", details: { productId: inStock.id, stock: 4 } });
    expect(await codeOf(customer.client.catalog.signUpForRestock.mutate({ productId: soldOut.id }))).toBe("ALREADY_SUBSCRIBED");
    expect(await codeOf(customer.client.catalog.signUpForRestock.mutate({ productId: hidden.id }))).toBe("PRODUCT_NOT_FOUND");
    expect(await codeOf(customer.client.catalog.signUpForRestock.mutate({ productId: 999_999_999 }))).toBe("PRODUCT_NOT_FOUND");

    expect(await rowCount("inventory_restock_subscriptions")).toBe(before + 1);
    const stored = await t.db.selectFrom("inventory_restock_subscriptions").selectAll().where("product_id", "=", soldOut.id).execute();
    expect(stored).toEqual([expect.objectContaining({ user_id: customer.id, channel: "sms", notified_at: null })]);
  });

  test("inbound from zero writes one back_in_stock event per sign-up and closes them; later inbounds write none", async () => {
    const product = await createProduct({ name: "Restock Teapot", initialStock: 0, lowStockThreshold: 0 });
    const productId = product.id;
    const [a, b, c] = await t.signUpCustomers(3, "restock");
    if (!a || !b || !c) throw new Error("sign-up failed");
    await a.client.catalog.signUpForRestock.mutate({ productId });
    await b.client.catalog.signUpForRestock.mutate({ productId, channel: "sms" });
    await c.client.catalog.signUpForRestock.mutate({ productId });
    expect(await outboxEvents(productId, "inventory.back_in_stock")).toHaveLength(0);

    await admin.client.catalog.admin.inbound.mutate({ productId, quantity: 5 });
    const events = await outboxEvents(productId, "inventory.back_in_stock");
    expect(events).toHaveLength(3);
    const payloads = events.map((e) => e.payload as { productId: number; userId: number; channel: string; signupId: number });
    // One event per sign-up: each customer once, on the channel they chose.
    expect(Object.fromEntries(payloads.map((p) => [p.userId, p.channel]))).toEqual({ [a.id]: "email", [b.id]: "sms", [c.id]: "email" });
    expect(new Set(payloads.map((p) => p.signupId)).size).toBe(3);
    expect(payloads.every((p) => p.productId === productId)).toBe(true);
    const open = await t.db
      .selectFrom("inventory_restock_subscriptions")
      .select("id")
      .where("product_id", "=", productId)
      .where("notified_at", "is", null)
      .execute();
    expect(open).toHaveLength(0);

    // Still in stock: another inbound announces nothing.
    await admin.client.catalog.admin.inbound.mutate({ productId, quantity: 5 });
    expect(await outboxEvents(productId, "inventory.back_in_stock")).toHaveLength(3);

    // Sold out again, back again: the closed sign-ups are not notified twice.
    await admin.client.catalog.admin.outbound.mutate({ productId, quantity: 10 });
    await admin.client.catalog.admin.inbound.mutate({ productId, quantity: 1 });
    expect(await outboxEvents(productId, "inventory.back_in_stock")).toHaveLength(3);

    // A customer whose sign-up was closed may sign up again; only that new sign-up is announced.
    await admin.client.catalog.admin.outbound.mutate({ productId, quantity: 1 });
    await a.client.catalog.signUpForRestock.mutate({ productId });
    await admin.client.catalog.admin.adjust.mutate({ productId, change: 2, reason: "found" });
    const latest = await outboxEvents(productId, "inventory.back_in_stock");
    expect(latest).toHaveLength(4);
    expect(latest[3]?.payload).toMatchObject({ productId, userId: a.id });
  });
});
