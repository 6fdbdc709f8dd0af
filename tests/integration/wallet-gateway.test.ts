/** The fake card gateway over a real socket, driven through the wallet's HTTP adapter. */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { type FakePaymentGateway, startFakePaymentGateway } from "../../apps/fakes/payment-gateway.ts";
import { HttpPaymentGateway, PaymentGatewayUnavailableError } from "../../modules/wallet/index.ts";

let gw: FakePaymentGateway;
let adapter: HttpPaymentGateway;
let n = 0;
const key = () => `k-${++n}-${Math.random().toString(36).slice(2, 8)}`;

beforeAll(() => {
  gw = startFakePaymentGateway();
  adapter = new HttpPaymentGateway({ baseUrl: gw.url, timeoutMs: 300 });
});
afterAll(() => gw.stop());
beforeEach(() => gw.control.reset());

async function unavailable(call: Promise<unknown>): Promise<PaymentGatewayUnavailableError> {
  try {
    await call;
  } catch (error) {
    if (error instanceof PaymentGatewayUnavailableError) return error;
    throw error;
  }
  throw new Error("expected the gateway call to fail");
}

describe("fake payment gateway", () => {
  test("approves, and answers a repeated key with the same answer without charging again", async () => {
    const k = key();
    const first = await adapter.charge({ userId: 7, amount: 15_000, idempotencyKey: k });
    expect(first.status).toBe("approved");
    const again = await adapter.charge({ userId: 7, amount: 15_000, idempotencyKey: k });
    expect(again).toEqual(first);
    expect(gw.stats()).toMatchObject({ requests: 2, approved: 1, replayed: 1, declined: 0, capturedAmount: 15_000 });
    expect(gw.control.charges()).toEqual([
      { reference: first.status === "approved" ? first.reference : "", idempotencyKey: k, userId: 7, amount: 15_000, status: "approved", code: null },
    ]);
  });

  test("ten racing requests with one key decide once", async () => {
    gw.control.configure({ latencyMs: 50 });
    const k = key();
    const answers = await Promise.all(Array.from({ length: 10 }, () => adapter.charge({ userId: 3, amount: 5_000, idempotencyKey: k })));
    expect(new Set(answers.map((a) => JSON.stringify(a))).size).toBe(1);
    expect(gw.stats()).toMatchObject({ requests: 10, approved: 1, replayed: 9, capturedAmount: 5_000 });
  });

  test("the same key for a different charge is refused with 409 (adapter: bad_response)", async () => {
    const k = key();
    await adapter.charge({ userId: 7, amount: 10_000, idempotencyKey: k });
    const error = await unavailable(adapter.charge({ userId: 7, amount: 20_000, idempotencyKey: k }));
    expect(error.failure).toBe("bad_response");
    expect(error.httpStatus).toBe(409);
    expect(gw.stats()).toMatchObject({ approved: 1, mismatched: 1, capturedAmount: 10_000 });
  });

  test("a charge over the per-charge limit is declined with LIMIT_EXCEEDED; at the limit it passes", async () => {
    expect(await adapter.charge({ userId: 1, amount: 2_000_001, idempotencyKey: key() })).toEqual({
      status: "declined",
      code: "LIMIT_EXCEEDED",
      reason: "The amount exceeds the card's per-charge limit",
    });
    expect((await adapter.charge({ userId: 1, amount: 2_000_000, idempotencyKey: key() })).status).toBe("approved");
    expect(gw.stats()).toMatchObject({ approved: 1, declined: 1, capturedAmount: 2_000_000 });
  });

  test("declineNext and failNext script the next new charges, first in first out", async () => {
    gw.control.declineNext(2, "CARD_DECLINED");
    gw.control.failNext(1);
    const a = await adapter.charge({ userId: 1, amount: 1_000, idempotencyKey: key() });
    const b = await adapter.charge({ userId: 1, amount: 1_000, idempotencyKey: key() });
    const failedKey = key();
    const c = await unavailable(adapter.charge({ userId: 1, amount: 1_000, idempotencyKey: failedKey }));
    expect(a).toMatchObject({ status: "declined", code: "CARD_DECLINED" });
    expect(b).toMatchObject({ status: "declined", code: "CARD_DECLINED" });
    expect(c.failure).toBe("server_error");
    expect(c.httpStatus).toBe(503);
    // A 503 decided nothing: the same key runs again as new.
    expect((await adapter.charge({ userId: 1, amount: 1_000, idempotencyKey: failedKey })).status).toBe("approved");
    expect(gw.stats()).toMatchObject({ requests: 4, declined: 2, failed: 1, approved: 1, replayed: 0 });
    expect(gw.control.queued()).toBe(0);
  });

  test("a hung charge makes the adapter give up at its timeout; nothing is charged", async () => {
    gw.control.hangNext(1);
    const started = performance.now();
    const error = await unavailable(adapter.charge({ userId: 1, amount: 1_000, idempotencyKey: key() }));
    const elapsed = performance.now() - started;
    expect(error.failure).toBe("timeout");
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(1_500);
    expect(gw.stats()).toMatchObject({ hung: 1, approved: 0, capturedAmount: 0 });
    expect(gw.control.charges()).toEqual([]);
    // The fake lets the hung request go once the client hangs up.
    await Bun.sleep(50);
    expect(gw.stats().inFlight).toBe(0);
  });

  test("hangNext afterCharging: the answer is lost, the retry with the same key gets the approval", async () => {
    gw.control.hangNext(1, { afterCharging: true });
    const k = key();
    expect((await unavailable(adapter.charge({ userId: 9, amount: 30_000, idempotencyKey: k }))).failure).toBe("timeout");
    const retry = await adapter.charge({ userId: 9, amount: 30_000, idempotencyKey: k });
    expect(retry.status).toBe("approved");
    expect(gw.stats()).toMatchObject({ requests: 2, hung: 1, approved: 1, replayed: 1, capturedAmount: 30_000 });
  });

  test("rates: failureRate 1 answers 503, declineRate 1 declines; bad rates are refused", async () => {
    gw.control.configure({ failureRate: 1 });
    expect((await unavailable(adapter.charge({ userId: 1, amount: 1_000, idempotencyKey: key() }))).httpStatus).toBe(503);
    gw.control.configure({ failureRate: 0, declineRate: 1 });
    expect(await adapter.charge({ userId: 1, amount: 1_000, idempotencyKey: key() })).toMatchObject({ status: "declined", code: "CARD_DECLINED" });
    expect(() => gw.control.configure({ failureRate: 1.5 })).toThrow("failureRate");
    expect(gw.control.behaviour().failureRate).toBe(0);
  });

  test("latencyMs delays every answer", async () => {
    gw.control.configure({ latencyMs: 120 });
    const started = performance.now();
    await adapter.charge({ userId: 1, amount: 1_000, idempotencyKey: key() });
    expect(performance.now() - started).toBeGreaterThanOrEqual(115);
  });

  test("void gives an approved charge back; an unknown reference is a bad response", async () => {
    const approved = await adapter.charge({ userId: 4, amount: 40_000, idempotencyKey: key() });
    if (approved.status !== "approved") throw new Error("expected approval");
    expect(await adapter.voidCharge({ reference: approved.reference, idempotencyKey: key(), reason: "test" })).toEqual({
      status: "voided",
      reference: approved.reference,
    });
    // Voiding twice is harmless.
    expect((await adapter.voidCharge({ reference: approved.reference, idempotencyKey: key(), reason: "test" })).status).toBe("voided");
    expect(gw.stats()).toMatchObject({ approved: 1, voided: 1, capturedAmount: 0 });
    expect(gw.control.charges()[0]?.status).toBe("voided");
    const unknown = await unavailable(adapter.voidCharge({ reference: "ch_nope", idempotencyKey: key(), reason: "test" }));
    expect(unknown.httpStatus).toBe(404);
  });

  test("the HTTP control and stats endpoints script and report the same state", async () => {
    const control = await fetch(`${gw.url}/_control`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ declineNext: { n: 1, code: "LIMIT_EXCEEDED" } }),
    });
    expect(control.status).toBe(200);
    expect(((await control.json()) as { queued: number }).queued).toBe(1);
    expect(await adapter.charge({ userId: 1, amount: 1_000, idempotencyKey: key() })).toMatchObject({ status: "declined", code: "LIMIT_EXCEEDED" });
    const stats = await (await fetch(`${gw.url}/_stats`)).json();
    expect(stats).toEqual(gw.stats());
    expect(stats).toMatchObject({ requests: 1, declined: 1 });
  });

  test("a charge without an Idempotency-Key or with a bad body is a 400", async () => {
    const noKey = await fetch(`${gw.url}/v1/charges`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ userId: 1, amount: 1000 }),
    });
    expect(noKey.status).toBe(400);
    const badBody = await fetch(`${gw.url}/v1/charges`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Idempotency-Key": key() },
      body: JSON.stringify({ userId: 1, amount: 10.5 }),
    });
    expect(badBody.status).toBe(400);
    expect(gw.stats()).toMatchObject({ rejected: 2, approved: 0 });
  });

  test("an API key, when configured, is required", async () => {
    const guarded = startFakePaymentGateway({ apiKey: "sk_test_123" });
    try {
      const without = await unavailable(
        new HttpPaymentGateway({ baseUrl: guarded.url, timeoutMs: 1_000 }).charge({ userId: 1, amount: 1_000, idempotencyKey: key() }),
      );
      expect(without.httpStatus).toBe(401);
      const withKey = await new HttpPaymentGateway({ baseUrl: guarded.url, timeoutMs: 1_000, apiKey: "sk_test_123" }).charge({
        userId: 1,
        amount: 1_000,
        idempotencyKey: key(),
      });
      expect(withKey.status).toBe("approved");
    } finally {
      await guarded.stop();
    }
  });

  test("an unreachable gateway is a network failure", async () => {
    const gone = startFakePaymentGateway();
    const url = gone.url;
    await gone.stop();
    const error = await unavailable(new HttpPaymentGateway({ baseUrl: url, timeoutMs: 1_000 }).charge({ userId: 1, amount: 1_000, idempotencyKey: key() }));
    expect(error.failure).toBe("network");
  });
});
