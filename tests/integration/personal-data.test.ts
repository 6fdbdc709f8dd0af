/**
 * Personal data at rest: email and phone sealed with AES-256-GCM under a key id, found through keyed
 * blind indexes, re-sealed by key rotation; what an operator's search can still do.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sql } from "kysely";
import { createIdentityService, defaultIdentityConfig } from "../../modules/identity/index.ts";
import { createPiiCipher, developmentPiiKeys, type PiiKeys } from "../../modules/kernel/index.ts";
import { resealNotificationLog } from "../../modules/notifications/index.ts";
import type { DeliverableEvent } from "../../modules/outbox/index.ts";
import { shipmentShipped } from "../../modules/shipping/index.ts";
import { codeOf, startTestAgora, type TestAgora } from "../support/agora.ts";

const key = (fill: string) => Buffer.alloc(32, fill).toString("base64");

let t: TestAgora;
beforeAll(async () => {
  t = await startTestAgora();
});
afterAll(() => t.close());

async function storedRow(id: number) {
  return t.db.selectFrom("identity_users").select(["email", "email_index", "phone", "phone_index"]).where("id", "=", id).executeTakeFirstOrThrow();
}

describe("the cipher", () => {
  const cipher = createPiiCipher(developmentPiiKeys);

  test("seals with a fresh IV each time, opens, and binds a value to its column", async () => {
    const a = await cipher.seal("kim@agora.test", "identity_users.email");
    const b = await cipher.seal("kim@agora.test", "identity_users.email");
    expect(a).not.toBe(b);
    expect(a.startsWith("pii1:dev:")).toBe(true);
    expect(await cipher.open(a, "identity_users.email")).toBe("kim@agora.test");
    await expect(cipher.open(a, "identity_users.phone")).rejects.toThrow();
    const tampered = `${a.slice(0, -2)}${a.endsWith("A") ? "B" : "A"}A`;
    await expect(cipher.open(tampered, "identity_users.email")).rejects.toThrow();
    expect(await cipher.open("plain@agora.test", "identity_users.email")).toBe("plain@agora.test");
  });

  test("values sealed through WebCrypto (releases before node:crypto) open, and new values open through WebCrypto", async () => {
    const column = "order_orders.shipping_address";
    const address = "서울특별시 강남구 테헤란로 123, 4층";
    const keyBytes = Buffer.from(developmentPiiKeys.keys.dev as string, "base64");
    const webKey = await crypto.subtle.importKey("raw", keyBytes, "AES-GCM", false, ["encrypt", "decrypt"]);
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const sealedByWebCrypto = await crypto.subtle.encrypt(
      { name: "AES-GCM", iv, additionalData: new TextEncoder().encode(column) },
      webKey,
      new TextEncoder().encode(address),
    );
    const stored = `pii1:dev:${Buffer.concat([Buffer.from(iv), Buffer.from(sealedByWebCrypto)]).toString("base64url")}`;
    expect(await cipher.open(stored, column)).toBe(address);

    const bytes = Buffer.from((await cipher.seal(address, column)).slice("pii1:dev:".length), "base64url");
    const opened = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: new Uint8Array(bytes.subarray(0, 12)), additionalData: new TextEncoder().encode(column) },
      webKey,
      new Uint8Array(bytes.subarray(12)),
    );
    expect(new TextDecoder().decode(opened)).toBe(address);
    await expect(cipher.open("pii1:dev:AAAA", column)).rejects.toThrow("too short");
  });
  test("blind indexes are equal for equal inputs, differ per column and per index key", () => {
    const other = createPiiCipher({ ...developmentPiiKeys, indexKey: key("other-index") });
    expect(cipher.blindIndex("x", "c")).toBe(cipher.blindIndex("x", "c"));
    expect(cipher.blindIndex("x", "c")).not.toBe(cipher.blindIndex("x", "d"));
    expect(cipher.blindIndex("x", "c")).not.toBe(other.blindIndex("x", "c"));
  });

  test("refuses keys that are not 32 bytes and a current id that is not configured", () => {
    expect(() => createPiiCipher({ keys: { a: key("a").slice(0, 20) }, currentKeyId: "a", indexKey: key("i") })).toThrow("32 bytes");
    expect(() => createPiiCipher({ keys: { a: key("a") }, currentKeyId: "b", indexKey: key("i") })).toThrow("not among");
  });
});

describe("accounts at rest", () => {
  test("email and phone are stored sealed; login, profile and uniqueness work through the blind index", async () => {
    const session = await t
      .client()
      .identity.signUp.mutate({ email: "Lee.Seal@Agora.test", password: "correct-horse-battery", name: "Lee", phone: "010-1234-5678" });
    const row = await storedRow(session.user.id);
    expect(row.email.startsWith("pii1:dev:")).toBe(true);
    expect(row.phone?.startsWith("pii1:dev:")).toBe(true);
    expect(JSON.stringify(row)).not.toContain("agora.test");
    expect(JSON.stringify(row)).not.toContain("5678");
    expect(session.user).toMatchObject({ email: "lee.seal@agora.test", phone: "010-1234-5678" });

    const login = await t.client().identity.login.mutate({ email: "LEE.seal@agora.test", password: "correct-horse-battery" });
    expect(login.user.id).toBe(session.user.id);
    expect(await codeOf(t.client().identity.signUp.mutate({ email: "lee.SEAL@agora.test", password: "correct-horse-battery", name: "Twin" }))).toBe(
      "EMAIL_TAKEN",
    );
  });

  test("an operator finds a customer by part of the name, or by the exact email or phone in any format — not by part of them", async () => {
    const admin = await t.admin();
    const c = await t
      .client()
      .identity.signUp.mutate({ email: "park.find@agora.test", password: "correct-horse-battery", name: "Park Jiwoo", phone: "010 9876 5432" });
    const search = async (query: string) => (await admin.client.identity.admin.listCustomers.query({ query })).items.map((u) => u.id);
    expect(await search("Jiwoo")).toEqual([c.user.id]);
    expect(await search("PARK.FIND@agora.test")).toEqual([c.user.id]);
    expect(await search("01098765432")).toEqual([c.user.id]);
    expect(await search("010-9876-5432")).toEqual([c.user.id]);
    expect(await search("park.find")).toEqual([]);
    expect(await search("9876")).toEqual([]);
    const [found] = (await admin.client.identity.admin.listCustomers.query({ query: "Jiwoo" })).items;
    expect(found).toMatchObject({ email: "park.find@agora.test", phone: "010 9876 5432" });
  });
});

describe("the notification log at rest", () => {
  const shipped = (userId: number, orderId: number, id: string = crypto.randomUUID()): DeliverableEvent => ({
    id,
    type: "shipment.shipped",
    destination: "notifications",
    aggregateType: "shipment",
    aggregateId: String(orderId),
    // Built through the producer's contract, as shipping writes it.
    payload: shipmentShipped.event(orderId, {
      orderId,
      userId,
      carrier: "CJ대한통운",
      trackingNumber: "6543-2109-8765",
      occurredAt: t.clock.now().toISOString(),
    }).payload,
    attempts: 0,
    createdAt: t.clock.now(),
  });
  const rawMessages = (sourceEventId: string) =>
    t.db.selectFrom("notification_messages").selectAll().where("source_event_id", "=", sourceEventId).orderBy("id").execute();

  test("recipients, subjects and bodies are stored sealed; the operator's list shows them in the clear", async () => {
    const session = await t
      .client()
      .identity.signUp.mutate({ email: "log.seal@agora.test", password: "correct-horse-battery", name: "홍길동", phone: "010-2468-1357" });
    const event = shipped(session.user.id, 4242);
    await t.agora.services.notifications.handleOutboxEvent(event);

    const raw = await rawMessages(event.id);
    expect(raw.map((m) => m.channel)).toEqual(["email", "sms"]);
    for (const row of raw) {
      for (const column of [row.recipient, row.subject, row.body]) expect(column.startsWith("pii1:dev:")).toBe(true);
      expect(row.recipient_index).toEqual(expect.any(String));
    }
    const stored = JSON.stringify(raw);
    for (const secret of ["log.seal", "agora.test", "2468", "1357", "홍길동", "6543-2109-8765"]) expect(stored).not.toContain(secret);

    const admin = await t.admin();
    const listed = (await admin.client.notifications.admin.list.query({ sourceEventId: event.id })).items;
    expect(listed.map((m) => [m.channel, m.recipient])).toEqual([
      ["sms", "010-2468-1357"],
      ["email", "log.seal@agora.test"],
    ]);
    expect(listed[1]?.body).toContain("홍길동");
    expect(listed[1]?.subject).toBe("[Agora] 상품 발송 · 주문번호 4242");
  });

  test("still one message per (event, channel, recipient, template): the unique key is on the blind index", async () => {
    const c = await t
      .client()
      .identity.signUp.mutate({ email: "log.once@agora.test", password: "correct-horse-battery", name: "Once", phone: "010-1111-2222" });
    const event = shipped(c.user.id, 4343);
    // Two deliveries at the same time, and one more after: sealing makes every stored recipient different text.
    await Promise.all([t.agora.services.notifications.handleOutboxEvent(event), t.agora.services.notifications.handleOutboxEvent(event)]);
    await t.agora.services.notifications.handleOutboxEvent(event);
    const raw = await rawMessages(event.id);
    expect(raw.map((m) => m.channel)).toEqual(["email", "sms"]);

    // The database itself refuses a second row for the same key, though its sealed recipient differs.
    const [email] = raw;
    if (!email) throw new Error("no email row");
    const cipher = createPiiCipher(developmentPiiKeys);
    const twin = await t.db
      .insertInto("notification_messages")
      .values({
        channel: "email",
        recipient: await cipher.seal("log.once@agora.test", "notification_messages.recipient"),
        recipient_index: email.recipient_index,
        template: email.template,
        subject: email.subject,
        body: email.body,
        created_at: t.clock.now(),
        user_id: c.user.id,
        source_event_id: event.id,
      })
      .execute()
      .catch((error: { code?: string }) => error.code);
    expect(twin).toBe("23505");
  });

  test("messages logged before encryption are sealed at start, and a redelivered event does not send them again", async () => {
    const c = await t.client().identity.signUp.mutate({ email: "log.legacy@agora.test", password: "correct-horse-battery", name: "Legacy" });
    const event = shipped(c.user.id, 4444);
    // What the log held before: plaintext, no index.
    await sql`INSERT INTO notification_messages (channel, recipient, template, subject, body, created_at, user_id, source_event_id, status)
      VALUES ('email', 'log.legacy@agora.test', 'shipment.shipped', '[Agora] 상품 발송 · 주문번호 4444', 'Legacy 고객님', now(), ${c.user.id}, ${event.id}, 'sent')`.execute(
      t.db,
    );
    expect(await t.agora.services.notifications.resealPersonalData({ plaintextOnly: true })).toBe(1);
    expect(await t.agora.services.notifications.resealPersonalData({ plaintextOnly: true })).toBe(0);
    const [legacy] = await rawMessages(event.id);
    expect(legacy?.recipient.startsWith("pii1:dev:")).toBe(true);
    expect(JSON.stringify(legacy)).not.toContain("legacy");

    await t.agora.services.notifications.handleOutboxEvent(event);
    expect((await rawMessages(event.id)).map((m) => m.id)).toEqual([legacy?.id as number]);
  });

  test("pii:reencrypt's pass re-seals every logged message under the new key; the old key can then go", async () => {
    const rotatedKeys = { keys: { ...developmentPiiKeys.keys, k3: key("log-rotation") }, currentKeyId: "k3", indexKey: developmentPiiKeys.indexKey };
    const before = await t.db.selectFrom("notification_messages").select(["id", "recipient_index"]).orderBy("id").execute();
    expect(before.length).toBeGreaterThanOrEqual(5);
    expect(await resealNotificationLog(t.db, createPiiCipher(rotatedKeys))).toBe(before.length);
    expect(await resealNotificationLog(t.db, createPiiCipher(rotatedKeys))).toBe(0);

    const after = await t.db.selectFrom("notification_messages").selectAll().orderBy("id").execute();
    const onlyNew = createPiiCipher({ keys: { k3: key("log-rotation") }, currentKeyId: "k3", indexKey: developmentPiiKeys.indexKey });
    for (const row of after) {
      for (const column of [row.recipient, row.subject, row.body]) expect(onlyNew.keyIdOf(column)).toBe("k3");
      await onlyNew.open(row.body, "notification_messages.body");
    }
    // The index is keyed by the index key alone: rotating the sealing key leaves it as it was.
    expect(after.map((m) => m.recipient_index)).toEqual(before.map((m) => m.recipient_index));
    expect(await Promise.all(after.map((m) => onlyNew.open(m.recipient, "notification_messages.recipient")))).toContain("log.legacy@agora.test");
  });
});

describe("key rotation and rows from before encryption", () => {
  test("pii:reencrypt's pass seals plaintext rows and moves every value to the current key; the old key can then go", async () => {
    // A row written before encryption: plaintext, no index.
    const legacy = await sql<{ id: number }>`INSERT INTO identity_users (email, password_hash, name, phone, role, status, created_at, updated_at)
      VALUES ('old.timer@agora.test', ${await Bun.password.hash("correct-horse-battery", { algorithm: "argon2id", memoryCost: 256, timeCost: 1 })}, 'Old', '02-555-0101', 'customer', 'active', now(), now())
      RETURNING id`.execute(t.db);
    const legacyId = legacy.rows[0]?.id as number;
    expect(await codeOf(t.client().identity.login.mutate({ email: "old.timer@agora.test", password: "correct-horse-battery" }))).toBe("INVALID_CREDENTIALS");

    const rotated: PiiKeys = { keys: { ...developmentPiiKeys.keys, k2: key("rotated-key") }, currentKeyId: "k2", indexKey: developmentPiiKeys.indexKey };
    const identity = createIdentityService({ db: t.db, clock: t.clock, infra: t.infra, config: defaultIdentityConfig, cipher: createPiiCipher(rotated) });
    const rewritten = await identity.resealPersonalData();
    expect(rewritten).toBeGreaterThanOrEqual(3); // every account of this database, the legacy one included
    expect(await identity.resealPersonalData()).toBe(0);
    const stored = await t.db.selectFrom("identity_users").select(["email", "phone"]).execute();
    for (const row of stored) {
      expect(row.email.startsWith("pii1:k2:")).toBe(true);
      if (row.phone !== null) expect(row.phone.startsWith("pii1:k2:")).toBe(true);
    }

    // Only the new key is needed now; the legacy account logs in through its new index.
    const onlyNew = createIdentityService({
      db: t.db,
      clock: t.clock,
      infra: t.infra,
      config: defaultIdentityConfig,
      cipher: createPiiCipher({ keys: { k2: key("rotated-key") }, currentKeyId: "k2", indexKey: developmentPiiKeys.indexKey }),
    });
    const [legacyContact] = await onlyNew.getContacts([legacyId]);
    expect(legacyContact).toMatchObject({ email: "old.timer@agora.test", phone: "02-555-0101" });
    const login = await onlyNew.login({ email: "old.timer@agora.test", password: "correct-horse-battery" }, null);
    expect(login.user.id).toBe(legacyId);
  });
});

describe("addresses at rest", () => {
  test("an order's shipping address and its shipment's copy are stored sealed and read back in the clear", async () => {
    const c = await t.signUpCustomer("address");
    const product = await t.createProduct({ price: 5_000, stock: 5 });
    await t.fund(c, 10_000);
    const address = "서울특별시 강남구 테헤란로 123, 101동 1001호";
    const placed = await c.client.orders.place.mutate({ items: [{ productId: product.id, quantity: 1 }], shippingAddress: address });
    const stored = await t.db.selectFrom("order_orders").select("shipping_address").where("id", "=", placed.orderId).executeTakeFirstOrThrow();
    expect(stored.shipping_address?.startsWith("pii1:dev:")).toBe(true);
    expect(stored.shipping_address).not.toContain("테헤란로");
    expect((await c.client.orders.get.query({ orderId: placed.orderId })).shippingAddress).toBe(address);

    await t.agora.outboxPoller.runOnce();
    const shipment = await t.db.selectFrom("shipping_shipments").select("address").where("order_id", "=", placed.orderId).executeTakeFirstOrThrow();
    expect(shipment.address?.startsWith("pii1:dev:")).toBe(true);
    expect(shipment.address).not.toBe(stored.shipping_address);
    expect((await c.client.shipping.track.query({ orderId: placed.orderId })).address).toBe(address);
    // The carrier is given the address in the clear: it has to deliver the parcel.
    expect(t.carrier.shipments().find((p) => p.orderId === placed.orderId)?.address).toBe(address);
  });
});
