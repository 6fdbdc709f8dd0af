/** SMS through an HTTP provider: the adapter against the fake provider, and a restock SMS end to end. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type FakeSmsProvider, startFakeSmsProvider } from "../../apps/fakes/sms.ts";
import { createNotificationSender, HttpSmsSender, type OutgoingMessage } from "../../modules/notifications/index.ts";
import { startTestAgora, type TestAgora } from "../support/agora.ts";

let provider: FakeSmsProvider;
let t: TestAgora;

beforeAll(async () => {
  provider = startFakeSmsProvider({ apiKey: "sms-key" });
  t = await startTestAgora({
    notificationSender: createNotificationSender({
      smtpUrl: undefined,
      smtpFrom: "Agora <no-reply@agora.test>",
      smtpTimeoutMs: 1_000,
      smsUrl: provider.url,
      smsApiKey: "sms-key",
      smsFrom: "1588-0000",
      smsTimeoutMs: 500,
    }),
  });
});
afterAll(async () => {
  await t.close();
  await provider.stop();
});

const message = (id: number, text = "[Agora] 주문 1 배송이 완료되었습니다."): OutgoingMessage => ({
  channel: "sms",
  to: "010-1111-2222",
  subject: "s",
  body: text,
  template: "shipment.delivered",
  id,
});

describe("HttpSmsSender", () => {
  test("sends once per message id, whatever the retries; refusals and an unreachable provider throw", async () => {
    provider.control.reset();
    const sender = new HttpSmsSender({ baseUrl: provider.url, apiKey: "sms-key", from: "1588-0000", timeoutMs: 500 });
    await sender.send(message(1));
    await sender.send(message(1));
    expect(provider.stats()).toMatchObject({ accepted: 1, duplicates: 1 });
    expect(provider.messages()).toEqual([
      { messageId: "sms_1", idempotencyKey: "agora-notification-1", to: "010-1111-2222", from: "1588-0000", text: "[Agora] 주문 1 배송이 완료되었습니다." },
    ]);

    provider.control.failNext(1);
    await expect(sender.send(message(2))).rejects.toThrow("SMS provider answered 503");
    await sender.send(message(2));
    await expect(new HttpSmsSender({ baseUrl: provider.url, timeoutMs: 500 }).send(message(3))).rejects.toThrow("401");
    await expect(sender.send(message(4, "가".repeat(46)))).rejects.toThrow("400");
    await expect(sender.send({ ...message(5), channel: "email" })).rejects.toThrow("SMS only");
    const closed = startFakeSmsProvider();
    await closed.stop();
    await expect(new HttpSmsSender({ baseUrl: closed.url, timeoutMs: 300 }).send(message(6))).rejects.toThrow("SMS provider");
    expect(provider.stats().accepted).toBe(2);
  });
});

describe("a restock SMS through the outbox", () => {
  test("reaches the provider once; a provider failure is retried after the backoff and still sent once", async () => {
    provider.control.reset();
    const admin = await t.admin();
    const mug = await t.createProduct({ name: "한정판 머그", stock: 0 });
    const c = await t.signUpCustomer("sms");
    await c.client.identity.updateProfile.mutate({ phone: "010-2222-3333" });
    await c.client.catalog.signUpForRestock.mutate({ productId: mug.id, channel: "sms" });
    await admin.client.catalog.admin.inbound.mutate({ productId: mug.id, quantity: 3 });
    await t.agora.outboxPoller.runOnce();
    await t.agora.outboxPoller.runOnce();
    expect(provider.messages().map((m) => [m.to, m.text])).toEqual([
      ["010-2222-3333", `[Agora] 재입고 알림: 한정판 머그 (상품번호 ${mug.id}) 지금 구매하실 수 있습니다.`],
    ]);

    const lamp = await t.createProduct({ name: "무드등", stock: 0 });
    await c.client.catalog.signUpForRestock.mutate({ productId: lamp.id, channel: "sms" });
    provider.control.failNext(1);
    await admin.client.catalog.admin.inbound.mutate({ productId: lamp.id, quantity: 1 });
    expect((await t.agora.outboxPoller.runOnce()).retried).toBe(1);
    expect(provider.messages()).toHaveLength(1);
    t.clock.advance(20 * 60_000);
    await t.agora.outboxPoller.runOnce();
    expect(provider.messages().map((m) => m.text)).toEqual([
      `[Agora] 재입고 알림: 한정판 머그 (상품번호 ${mug.id}) 지금 구매하실 수 있습니다.`,
      `[Agora] 재입고 알림: 무드등 (상품번호 ${lamp.id}) 지금 구매하실 수 있습니다.`,
    ]);
    const recorded = await t.db
      .selectFrom("notification_messages")
      .select(["channel", "recipient", "status"])
      .where("user_id", "=", c.id)
      .orderBy("id")
      .execute();
    expect(recorded.filter((m) => m.channel === "sms").map((m) => m.status)).toEqual(["sent", "sent"]);
  });
});
