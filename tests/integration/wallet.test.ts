/**
 * The wallet against real PostgreSQL and Redis and the fake gateway over HTTP. tests/support does not
 * wire the wallet yet, so the service and router are built here on the test Agora's database and clock,
 * and called through tRPC's server-side caller with a context built from a real session.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { TRPCError } from "@trpc/server";
import { type FakePaymentGateway, startFakePaymentGateway } from "../../apps/fakes/payment-gateway.ts";
import { inTransaction, LockOrderViolation, LockRank, noteLock, pgErrorCode } from "../../db/index.ts";
import { createCallerFactory, createLogger, DomainError, domainErrorOf, trpcCodeOfKind } from "../../modules/kernel/index.ts";
import { createWalletRouter, createWalletService, HttpPaymentGateway, type WalletConfig, type WalletService } from "../../modules/wallet/index.ts";
import { type Customer, startTestAgora, type TestAgora } from "../support/agora.ts";

const GATEWAY_TIMEOUT_MS = 400;

let t: TestAgora;
let gw: FakePaymentGateway;
let wallet: WalletService;
const callerFactoryFor = (w: WalletService) => createCallerFactory(createWalletRouter(w));
let createCaller: ReturnType<typeof callerFactoryFor>;

function walletWith(config: Partial<WalletConfig> = {}): WalletService {
  return createWalletService({ db: t.db, clock: t.clock, gateway: new HttpPaymentGateway({ baseUrl: gw.url, timeoutMs: GATEWAY_TIMEOUT_MS }), config });
}

beforeAll(async () => {
  t = await startTestAgora();
  gw = startFakePaymentGateway();
  wallet = walletWith();
  createCaller = callerFactoryFor(wallet);
});
afterAll(async () => {
  await gw.stop();
  await t.close();
});

beforeEach(() => gw.control.reset());

async function callerFor(who: Customer | null) {
  const session = who ? await t.agora.services.identity.resolveSession(who.token) : null;
  if (who && !session) throw new Error("no session for the test customer");
  return createCaller({ requestId: "wallet-test", ip: null, session, log: createLogger("silent"), metrics: null });
}

/** The rejection of a call: a domain error (domain code, carried by the TRPCError the caller throws) or a TRPCError (tRPC code). */
async function failureOf(call: Promise<unknown>): Promise<{ code: string; trpcCode: string; details: Record<string, unknown> }> {
  try {
    await call;
  } catch (error) {
    const domain = domainErrorOf(error);
    if (domain) return { code: domain.domainCode, trpcCode: error instanceof TRPCError ? error.code : trpcCodeOfKind[domain.kind], details: domain.details };
    if (error instanceof TRPCError) return { code: error.code, trpcCode: error.code, details: {} };
    throw error;
  }
  throw new Error("expected the call to fail, but it succeeded");
}

async function ledgerOf(userId: number) {
  return t.db.selectFrom("wallet_ledger").selectAll().where("user_id", "=", userId).orderBy("id").execute();
}

async function attemptsOf(userId: number) {
  return t.db.selectFrom("wallet_charge_attempts").select(["status", "amount"]).where("user_id", "=", userId).orderBy("id").execute();
}

async function balanceOf(userId: number): Promise<number | undefined> {
  return (await t.db.selectFrom("wallet_accounts").select("balance").where("user_id", "=", userId).executeTakeFirst())?.balance;
}

let keys = 0;
const newKey = () => `charge-${++keys}-${Math.random().toString(36).slice(2, 10)}`;

describe("wallet charge", () => {
  test("a charge answers the seed 004 shape, writes one ledger entry and moves the card once", async () => {
    const c = await t.signUpCustomer("charge");
    const api = await callerFor(c);
    expect(await api.balance()).toEqual({ balance: 0, updatedAt: null });

    const first = await api.charge({ amount: 50_000, idempotencyKey: newKey() });
    expect(first).toEqual({ previousBalance: 0, chargedAmount: 50_000, currentBalance: 50_000, ledgerEntryId: expect.any(Number), chargedAt: t.clock.now() });
    t.clock.advance(60_000);
    const second = await api.charge({ amount: 20_000 });
    expect(second).toEqual({
      previousBalance: 50_000,
      chargedAmount: 20_000,
      currentBalance: 70_000,
      ledgerEntryId: expect.any(Number),
      chargedAt: t.clock.now(),
    });
    expect(second.ledgerEntryId).toBeGreaterThan(first.ledgerEntryId);
    expect(await api.balance()).toEqual({ balance: 70_000, updatedAt: t.clock.now() });

    const charges = gw.control.charges();
    const ledger = await ledgerOf(c.id);
    expect(ledger.map((e) => [e.id, e.kind, e.amount, e.balance_after, e.order_id, e.gateway_reference])).toEqual([
      [first.ledgerEntryId, "charge", 50_000, 50_000, null, charges[0]?.reference ?? "missing"],
      [second.ledgerEntryId, "charge", 20_000, 70_000, null, charges[1]?.reference ?? "missing"],
    ]);
    expect(gw.stats()).toMatchObject({ requests: 2, approved: 1 + 1, capturedAmount: 70_000 });
    // The key was completed with the result.
    const keyRows = await t.db.selectFrom("idempotency_keys").select(["scope", "status"]).where("user_id", "=", c.id).execute();
    expect(keyRows).toEqual([{ scope: "wallet.charge", status: "completed" }]);
  });

  test("amounts out of 1,000..1,000,000 are CHARGE_AMOUNT_OUT_OF_RANGE and never reach the gateway; floats are BAD_REQUEST", async () => {
    const c = await t.signUpCustomer("bounds");
    const api = await callerFor(c);
    for (const amount of [999, 1_000_001, 0, -5_000]) {
      const failure = await failureOf(api.charge({ amount }));
      expect(failure).toEqual({ code: "CHARGE_AMOUNT_OUT_OF_RANGE", trpcCode: "BAD_REQUEST", details: { amount, minAmount: 1_000, maxAmount: 1_000_000 } });
    }
    expect((await failureOf(api.charge({ amount: 1_000.5 }))).code).toBe("BAD_REQUEST");
    expect(gw.stats().requests).toBe(0);
    expect((await api.charge({ amount: 1_000 })).currentBalance).toBe(1_000);
    expect((await api.charge({ amount: 1_000_000 })).currentBalance).toBe(1_001_000);
    expect(gw.stats().requests).toBe(2);
  });

  test("a charge past the balance limit is refused before the gateway with the current balance and the limit", async () => {
    const capped = walletWith({ maxBalance: 100_000 });
    const c = await t.signUpCustomer("cap");
    await capped.charge(c.id, 60_000);
    const failure = await failureOf(capped.charge(c.id, 50_000, newKey()));
    expect(failure).toEqual({
      code: "BALANCE_LIMIT_EXCEEDED",
      trpcCode: "BAD_REQUEST",
      details: { amount: 50_000, currentBalance: 60_000, maxBalance: 100_000, chargeableAmount: 40_000 },
    });
    expect(gw.stats().requests).toBe(1);
    // The refused key was given back.
    expect(await t.db.selectFrom("idempotency_keys").select("key").where("user_id", "=", c.id).execute()).toEqual([]);
    expect((await capped.charge(c.id, 40_000)).currentBalance).toBe(100_000);
  });

  test("a declined card is PAYMENT_DECLINED and changes nothing; the same key is declined again by the gateway", async () => {
    const c = await t.signUpCustomer("decline");
    const api = await callerFor(c);
    await api.charge({ amount: 10_000 });
    const ledgerBefore = (await ledgerOf(c.id)).length;

    gw.control.declineNext(1, "CARD_DECLINED");
    const key = newKey();
    const failure = await failureOf(api.charge({ amount: 30_000, idempotencyKey: key }));
    expect(failure).toEqual({
      code: "PAYMENT_DECLINED",
      trpcCode: "BAD_REQUEST",
      details: { reason: "The card issuer declined the charge", gatewayCode: "CARD_DECLINED" },
    });
    expect(await balanceOf(c.id)).toBe(10_000);
    expect((await ledgerOf(c.id)).length).toBe(ledgerBefore);
    expect(await t.db.selectFrom("idempotency_keys").select("key").where("key", "=", key).execute()).toEqual([]);

    // The key was released, so the retry runs; the gateway answers its key with the same decline.
    expect((await failureOf(api.charge({ amount: 30_000, idempotencyKey: key }))).code).toBe("PAYMENT_DECLINED");
    expect(gw.stats()).toMatchObject({ requests: 3, approved: 1, declined: 1, replayed: 1 });
    // A new key is a new attempt.
    expect((await api.charge({ amount: 30_000, idempotencyKey: newKey() })).currentBalance).toBe(40_000);
  });

  test("a charge over the card's own limit is PAYMENT_DECLINED with gatewayCode LIMIT_EXCEEDED", async () => {
    const big = walletWith({ maxCharge: 5_000_000 });
    const c = await t.signUpCustomer("cardlimit");
    const failure = await failureOf(big.charge(c.id, 2_000_001));
    expect(failure.code).toBe("PAYMENT_DECLINED");
    expect(failure.details).toEqual({ reason: "The amount exceeds the card's per-charge limit", gatewayCode: "LIMIT_EXCEEDED" });
    expect(await balanceOf(c.id)).toBeUndefined();
  });

  test("a gateway 503 is PAYMENT_GATEWAY_UNAVAILABLE and credits nothing; once the attempt's lease runs out the same key runs again", async () => {
    const c = await t.signUpCustomer("503");
    const api = await callerFor(c);
    gw.control.failNext(1);
    const key = newKey();
    expect(await failureOf(api.charge({ amount: 12_000, idempotencyKey: key }))).toEqual({
      code: "PAYMENT_GATEWAY_UNAVAILABLE",
      trpcCode: "SERVICE_UNAVAILABLE",
      details: { failure: "server_error", retryable: true },
    });
    expect(await balanceOf(c.id)).toBeUndefined();
    expect(await ledgerOf(c.id)).toEqual([]);
    // The outcome was unknown (a 5xx may still have charged): the attempt stays pending until its lease runs out.
    expect(await attemptsOf(c.id)).toEqual([{ status: "pending", amount: 12_000 }]);
    t.clock.advance(wallet.config.chargeLeaseMs + 1);
    expect((await api.charge({ amount: 12_000, idempotencyKey: key })).currentBalance).toBe(12_000);
    // The retry asked the gateway by key (never seen), closed the attempt, and charged anew with the same key.
    expect(gw.stats()).toMatchObject({ requests: 2, failed: 1, approved: 1, capturedAmount: 12_000, lookups: 2 });
    expect(await attemptsOf(c.id)).toEqual([{ status: "credited", amount: 12_000 }]);
  });

  test("a hanging gateway is PAYMENT_GATEWAY_UNAVAILABLE after the timeout; recovery closes the attempt the gateway never saw and gives the key back", async () => {
    const c = await t.signUpCustomer("hang");
    const api = await callerFor(c);
    await api.charge({ amount: 5_000 });
    gw.control.hangNext(1);
    const key = newKey();
    const started = performance.now();
    const failure = await failureOf(api.charge({ amount: 8_000, idempotencyKey: key }));
    const elapsed = performance.now() - started;
    expect(failure).toEqual({ code: "PAYMENT_GATEWAY_UNAVAILABLE", trpcCode: "SERVICE_UNAVAILABLE", details: { failure: "timeout", retryable: true } });
    expect(elapsed).toBeGreaterThanOrEqual(GATEWAY_TIMEOUT_MS - 10);
    expect(elapsed).toBeLessThan(GATEWAY_TIMEOUT_MS + 1_500);
    expect(await balanceOf(c.id)).toBe(5_000);
    expect((await ledgerOf(c.id)).length).toBe(1);
    expect(await t.db.selectFrom("idempotency_keys").select("status").where("key", "=", key).execute()).toEqual([{ status: "in_progress" }]);

    t.clock.advance(wallet.config.chargeLeaseMs + 1);
    expect(await wallet.recoverCharges()).toEqual({ taken: 1, credited: 0, closed: 1, failed: 0 });
    expect(await t.db.selectFrom("idempotency_keys").select("key").where("key", "=", key).execute()).toEqual([]);
    expect(await attemptsOf(c.id)).toEqual([
      { status: "credited", amount: 5_000 },
      { status: "failed", amount: 8_000 },
    ]);
    expect(await balanceOf(c.id)).toBe(5_000);
    expect(gw.stats()).toMatchObject({ hung: 1, approved: 1, capturedAmount: 5_000 });
  });

  test("the answer lost after the card was charged: the gateway is asked by key at once and the charge is credited exactly once", async () => {
    const c = await t.signUpCustomer("lost");
    const api = await callerFor(c);
    gw.control.hangNext(1, { afterCharging: true });
    const key = newKey();
    const first = await api.charge({ amount: 25_000, idempotencyKey: key });
    expect(first).toMatchObject({ previousBalance: 0, chargedAmount: 25_000, currentBalance: 25_000 });
    expect(gw.stats()).toMatchObject({ requests: 1, approved: 1, lookups: 1, capturedAmount: 25_000 });

    const retry = await api.charge({ amount: 25_000, idempotencyKey: key });
    expect(retry).toEqual(first);
    expect(gw.stats()).toMatchObject({ requests: 1, approved: 1, capturedAmount: 25_000 });
    const ledger = await ledgerOf(c.id);
    expect(ledger.map((e) => [e.amount, e.gateway_reference])).toEqual([[25_000, gw.control.charges()[0]?.reference ?? "missing"]]);
  });
});

describe("idempotent charge", () => {
  test("10 parallel charges with one key: the gateway is called once, one ledger entry, every caller gets the same result", async () => {
    const c = await t.signUpCustomer("idem");
    const api = await callerFor(c);
    gw.control.configure({ latencyMs: 150 });
    const key = newKey();
    const results = await Promise.all(Array.from({ length: 10 }, () => api.charge({ amount: 33_000, idempotencyKey: key })));
    const first = results[0];
    expect(first).toEqual({ previousBalance: 0, chargedAmount: 33_000, currentBalance: 33_000, ledgerEntryId: expect.any(Number), chargedAt: t.clock.now() });
    for (const result of results) expect(result).toEqual(first as never);
    expect(gw.stats()).toMatchObject({ requests: 1, approved: 1, replayed: 0, capturedAmount: 33_000 });
    expect((await ledgerOf(c.id)).length).toBe(1);
    expect(await balanceOf(c.id)).toBe(33_000);

    // A later retry replays the stored result without calling out.
    gw.control.configure({ latencyMs: 0 });
    expect(await api.charge({ amount: 33_000, idempotencyKey: key })).toEqual(first as never);
    expect(gw.stats().requests).toBe(1);
  });

  test("the same key with a different amount is IDEMPOTENCY_KEY_REUSED and changes nothing", async () => {
    const c = await t.signUpCustomer("reuse");
    const api = await callerFor(c);
    const key = newKey();
    await api.charge({ amount: 10_000, idempotencyKey: key });
    expect(await failureOf(api.charge({ amount: 20_000, idempotencyKey: key }))).toEqual({
      code: "IDEMPOTENCY_KEY_REUSED",
      trpcCode: "UNPROCESSABLE_CONTENT",
      details: { key },
    });
    expect(await balanceOf(c.id)).toBe(10_000);
    expect(gw.stats().requests).toBe(1);
  });

  test("keys are per customer: two customers may use the same key", async () => {
    const [a, b] = await t.signUpCustomers(2, "samekey");
    if (!a || !b) throw new Error("two customers");
    const key = newKey();
    expect((await (await callerFor(a)).charge({ amount: 10_000, idempotencyKey: key })).currentBalance).toBe(10_000);
    expect((await (await callerFor(b)).charge({ amount: 15_000, idempotencyKey: key })).currentBalance).toBe(15_000);
    expect(gw.stats()).toMatchObject({ approved: 2, capturedAmount: 25_000 });
  });
});

describe("wallet history and access", () => {
  test("history pages newest first by id with an opaque cursor", async () => {
    const c = await t.signUpCustomer("history");
    const api = await callerFor(c);
    for (const amount of [1_000, 2_000, 3_000, 4_000, 5_000]) await api.charge({ amount });
    const page1 = await api.history({ limit: 2 });
    const page2 = await api.history({ limit: 2, cursor: page1.nextCursor ?? undefined });
    const page3 = await api.history({ limit: 2, cursor: page2.nextCursor ?? undefined });
    expect(page1.items.map((e) => [e.kind, e.amount, e.balanceAfter])).toEqual([
      ["charge", 5_000, 15_000],
      ["charge", 4_000, 10_000],
    ]);
    expect(page2.items.map((e) => e.amount)).toEqual([3_000, 2_000]);
    expect(page3.items.map((e) => e.amount)).toEqual([1_000]);
    expect(page3.nextCursor).toBeNull();
    const ids = [...page1.items, ...page2.items, ...page3.items].map((e) => e.id);
    expect(ids).toEqual([...ids].sort((x, y) => y - x));
    expect(page1.items[0]).toEqual({
      id: expect.any(Number),
      kind: "charge",
      amount: 5_000,
      balanceAfter: 15_000,
      orderId: null,
      gatewayReference: expect.stringMatching(/^ch_/),
      createdAt: t.clock.now(),
    });
  });

  test("customer procedures take no userId: naming one is BAD_REQUEST, and each sees only their own ledger", async () => {
    const [alice, bob] = await t.signUpCustomers(2, "nosy");
    if (!alice || !bob) throw new Error("two customers");
    const aliceApi = await callerFor(alice);
    const bobApi = await callerFor(bob);
    await bobApi.charge({ amount: 77_000 });
    await aliceApi.charge({ amount: 11_000 });

    expect((await failureOf(aliceApi.history({ userId: bob.id } as never))).code).toBe("BAD_REQUEST");
    expect((await failureOf(aliceApi.balance({ userId: bob.id } as never))).code).toBe("BAD_REQUEST");
    expect((await failureOf(aliceApi.charge({ amount: 5_000, userId: bob.id } as never))).code).toBe("BAD_REQUEST");
    expect(await balanceOf(bob.id)).toBe(77_000);

    expect((await aliceApi.history({})).items.map((e) => e.amount)).toEqual([11_000]);
    expect(await aliceApi.balance()).toMatchObject({ balance: 11_000 });
  });

  test("anonymous callers are UNAUTHENTICATED; customers may not use admin procedures", async () => {
    const anonymous = await callerFor(null);
    expect((await failureOf(anonymous.balance())).code).toBe("UNAUTHENTICATED");
    expect((await failureOf(anonymous.charge({ amount: 5_000 }))).code).toBe("UNAUTHENTICATED");
    const c = await t.signUpCustomer("notadmin");
    const api = await callerFor(c);
    expect((await failureOf(api.admin.ledger({ userId: c.id }))).code).toBe("FORBIDDEN");
    expect((await failureOf(api.admin.verifyBooks())).code).toBe("FORBIDDEN");
    expect(gw.stats().requests).toBe(0);
  });

  test("admin reads any customer's ledger and verifies the books; a corrupted balance is reported exactly", async () => {
    const admin = await callerFor(await t.admin());
    const c = await t.signUpCustomer("audited");
    const api = await callerFor(c);
    await api.charge({ amount: 40_000 });
    await inTransaction(t.db, (trx) => wallet.debit(trx, c.id, 15_000, { orderId: 501 }));

    const ledger = await admin.admin.ledger({ userId: c.id, limit: 10 });
    expect(ledger).toMatchObject({ userId: c.id, balance: 25_000, ledgerSum: 25_000, entryCount: 2, nextCursor: null });
    expect(ledger.items.map((e) => [e.kind, e.amount, e.balanceAfter, e.orderId])).toEqual([
      ["payment", -15_000, 25_000, 501],
      ["charge", 40_000, 40_000, null],
    ]);

    const accounts = Number(
      (
        await t.db
          .selectFrom("wallet_accounts")
          .select((eb) => eb.fn.countAll().as("n"))
          .executeTakeFirstOrThrow()
      ).n,
    );
    expect(await admin.admin.verifyBooks()).toEqual({ checkedAccounts: accounts, mismatches: [] });

    await t.db
      .updateTable("wallet_accounts")
      .set((eb) => ({ balance: eb("balance", "+", 1) }))
      .where("user_id", "=", c.id)
      .execute();
    try {
      expect(await admin.admin.verifyBooks()).toEqual({ checkedAccounts: accounts, mismatches: [{ userId: c.id, balance: 25_001, ledgerSum: 25_000 }] });
    } finally {
      await t.db
        .updateTable("wallet_accounts")
        .set((eb) => ({ balance: eb("balance", "-", 1) }))
        .where("user_id", "=", c.id)
        .execute();
    }
    expect((await admin.admin.verifyBooks()).mismatches).toEqual([]);
  });

  test("the database refuses a negative balance (the last guard)", async () => {
    const c = await t.signUpCustomer("guard");
    await wallet.charge(c.id, 3_000);
    let code: string | undefined;
    try {
      await t.db.updateTable("wallet_accounts").set({ balance: -1 }).where("user_id", "=", c.id).execute();
    } catch (error) {
      code = pgErrorCode(error);
    }
    expect(code).toBe("23514");
    expect(await balanceOf(c.id)).toBe(3_000);
  });
});

describe("debit and refund for orders", () => {
  test("debit writes a negative payment entry, refund a positive one, both in the caller's transaction", async () => {
    const c = await t.signUpCustomer("orders");
    await wallet.charge(c.id, 30_000);
    const debit = await inTransaction(t.db, (trx) => wallet.debit(trx, c.id, 12_000, { orderId: 9001 }));
    expect(debit).toEqual({ previousBalance: 30_000, balanceAfter: 18_000, ledgerEntryId: expect.any(Number) });
    const refund = await inTransaction(t.db, (trx) => wallet.refund(trx, c.id, 12_000, { orderId: 9001 }));
    expect(refund).toEqual({ balanceAfter: 30_000, ledgerEntryId: expect.any(Number) });
    expect((await ledgerOf(c.id)).map((e) => [e.kind, e.amount, e.balance_after, e.order_id])).toEqual([
      ["charge", 30_000, 30_000, null],
      ["payment", -12_000, 18_000, 9001],
      ["refund", 12_000, 30_000, 9001],
    ]);
  });

  test("a debit over the balance is INSUFFICIENT_BALANCE (PAY001) with required, current and shortfall", async () => {
    const c = await t.signUpCustomer("short");
    await wallet.charge(c.id, 30_000);
    let caught: unknown;
    try {
      await inTransaction(t.db, (trx) => wallet.debit(trx, c.id, 40_000, { orderId: 1 }));
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(DomainError);
    const error = caught as DomainError;
    expect([error.domainCode, error.ref, error.details]).toEqual([
      "INSUFFICIENT_BALANCE",
      "PAY001",
      { requiredAmount: 40_000, currentBalance: 30_000, shortfall: 10_000 },
    ]);
    expect(await balanceOf(c.id)).toBe(30_000);
    expect((await ledgerOf(c.id)).length).toBe(1);

    const none = await t.signUpCustomer("noaccount");
    const noAccount = await failureOf(inTransaction(t.db, (trx) => wallet.debit(trx, none.id, 1, { orderId: 2 })));
    expect(noAccount).toMatchObject({ code: "INSUFFICIENT_BALANCE", details: { requiredAmount: 1, currentBalance: 0, shortfall: 1 } });
  });

  test("a zero debit or refund (fully discounted order) writes no entry and answers the balance", async () => {
    const c = await t.signUpCustomer("zero");
    await wallet.charge(c.id, 5_000);
    expect(await inTransaction(t.db, (trx) => wallet.debit(trx, c.id, 0, { orderId: 3 }))).toEqual({
      previousBalance: 5_000,
      balanceAfter: 5_000,
      ledgerEntryId: null,
    });
    expect(await inTransaction(t.db, (trx) => wallet.refund(trx, c.id, 0, { orderId: 3 }))).toEqual({ balanceAfter: 5_000, ledgerEntryId: null });
    const fresh = await t.signUpCustomer("zerofresh");
    expect(await inTransaction(t.db, (trx) => wallet.debit(trx, fresh.id, 0, { orderId: 4 }))).toEqual({
      previousBalance: 0,
      balanceAfter: 0,
      ledgerEntryId: null,
    });
    expect((await ledgerOf(c.id)).length).toBe(1);
    expect(await ledgerOf(fresh.id)).toEqual([]);
    await expect(inTransaction(t.db, (trx) => wallet.debit(trx, c.id, -1, { orderId: 5 }))).rejects.toThrow("non-negative integer");
  });

  test("a debit rolls back with the caller's transaction", async () => {
    const c = await t.signUpCustomer("rollback");
    await wallet.charge(c.id, 20_000);
    await expect(
      inTransaction(t.db, async (trx) => {
        await wallet.debit(trx, c.id, 8_000, { orderId: 6 });
        throw new Error("the order failed later");
      }),
    ).rejects.toThrow("the order failed later");
    expect(await balanceOf(c.id)).toBe(20_000);
    expect((await ledgerOf(c.id)).length).toBe(1);
  });

  test("a debit takes the Wallet lock rank: after a later rank in the same transaction it is a lock-order violation", async () => {
    const c = await t.signUpCustomer("lockorder");
    await wallet.charge(c.id, 20_000);
    const attempt = inTransaction(t.db, async (trx) => {
      noteLock(trx, LockRank.Stock, 1);
      return wallet.debit(trx, c.id, 1_000, { orderId: 7 });
    });
    await expect(attempt).rejects.toBeInstanceOf(LockOrderViolation);
    expect(await balanceOf(c.id)).toBe(20_000);
  });
});
