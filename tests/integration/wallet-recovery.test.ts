/**
 * Durable charges: a request that dies after the gateway approved (or declined, or before it called
 * out at all) leaves a recorded attempt, and recovery — the worker or the customer's own retry —
 * settles it by asking the gateway. Captured money is always credited or voided, never lost.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { type FakePaymentGateway, startFakePaymentGateway } from "../../apps/fakes/payment-gateway.ts";
import { claimBeforeCallingOut, hashRequest } from "../../modules/idempotency/index.ts";
import { DomainError } from "../../modules/kernel/index.ts";
import {
  CHARGE_SCOPE,
  createWalletService,
  HttpPaymentGateway,
  type PaymentGateway,
  PaymentGatewayUnavailableError,
  type WalletConfig,
  type WalletService,
} from "../../modules/wallet/index.ts";
import { startTestAgora, type TestAgora } from "../support/agora.ts";

const LEASE_MS = 15_000;

let t: TestAgora;
let gw: FakePaymentGateway;
let http: HttpPaymentGateway;

beforeAll(async () => {
  t = await startTestAgora();
  gw = startFakePaymentGateway();
  http = new HttpPaymentGateway({ baseUrl: gw.url, timeoutMs: 400 });
});
afterAll(async () => {
  await gw.stop();
  await t.close();
});
beforeEach(() => gw.control.reset());

/** A "process": a wallet service of its own on the shared database and clock. */
function processWith(gateway: PaymentGateway = http, config: Partial<WalletConfig> = {}): WalletService {
  return createWalletService({ db: t.db, clock: t.clock, gateway, config: { chargeLeaseMs: LEASE_MS, ...config } });
}

/**
 * A process that dies right after its charge reached the gateway: the call is made for real, and
 * the process never hears the answer nor runs another line of the charge.
 */
function dyingGateway(): PaymentGateway {
  return {
    charge(request) {
      void http.charge(request).catch(() => {});
      return new Promise(() => {});
    },
    voidCharge: (request) => http.voidCharge(request),
    lookup: (key) => http.lookup(key),
  };
}

/** Waits until the gateway has decided `n` charges (the dying process's call has landed). */
async function gatewayDecided(n: number): Promise<void> {
  for (let i = 0; i < 200 && gw.control.charges().length < n; i++) await Bun.sleep(5);
  expect(gw.control.charges().length).toBe(n);
}

async function booksOf(userId: number) {
  const balance = (await t.db.selectFrom("wallet_accounts").select("balance").where("user_id", "=", userId).executeTakeFirst())?.balance ?? 0;
  const ledger = await t.db.selectFrom("wallet_ledger").select(["amount", "gateway_reference"]).where("user_id", "=", userId).orderBy("id").execute();
  return { balance, ledger };
}

async function attemptsOf(userId: number) {
  return t.db.selectFrom("wallet_charge_attempts").select(["status", "amount"]).where("user_id", "=", userId).orderBy("id").execute();
}

async function keyStatus(userId: number, key: string) {
  return (await t.db.selectFrom("idempotency_keys").select("status").where("user_id", "=", userId).where("key", "=", key).executeTakeFirst())?.status;
}

describe("a process dies after the gateway approved", () => {
  test("the worker credits it once the lease runs out, and the customer's retry with the key gets that result", async () => {
    const c = await t.signUpCustomer("died-approved");
    void processWith(dyingGateway()).charge(c.id, 30_000, "died-1");
    await gatewayDecided(1);
    expect(await attemptsOf(c.id)).toEqual([{ status: "pending", amount: 30_000 }]);
    expect(await keyStatus(c.id, "died-1")).toBe("in_progress");

    const next = processWith();
    // Within the lease the dead request might still be alive: recovery leaves it alone.
    expect(await next.recoverCharges()).toEqual({ taken: 0, credited: 0, closed: 0, failed: 0 });
    t.clock.advance(LEASE_MS + 1);
    expect(await next.recoverCharges()).toEqual({ taken: 1, credited: 1, closed: 0, failed: 0 });
    expect(await next.recoverCharges()).toEqual({ taken: 0, credited: 0, closed: 0, failed: 0 });

    const reference = gw.control.charges()[0]?.reference;
    expect(await booksOf(c.id)).toEqual({ balance: 30_000, ledger: [{ amount: 30_000, gateway_reference: reference ?? "missing" }] });
    expect(await keyStatus(c.id, "died-1")).toBe("completed");
    const retry = await next.charge(c.id, 30_000, "died-1");
    expect(retry).toMatchObject({ previousBalance: 0, chargedAmount: 30_000, currentBalance: 30_000 });
    expect(gw.stats()).toMatchObject({ requests: 1, approved: 1, lookups: 1, capturedAmount: 30_000 });
    expect(await next.unsettledCharges()).toEqual({ pending: 0, voiding: 0 });
  });

  test("the customer's own retry after the lease settles it, without the worker", async () => {
    const c = await t.signUpCustomer("died-retry");
    void processWith(dyingGateway()).charge(c.id, 20_000, "died-2");
    await gatewayDecided(1);
    t.clock.advance(LEASE_MS + 1);
    const retry = await processWith().charge(c.id, 20_000, "died-2");
    expect(retry).toMatchObject({ previousBalance: 0, chargedAmount: 20_000, currentBalance: 20_000 });
    expect(gw.stats()).toMatchObject({ requests: 1, approved: 1, lookups: 1, capturedAmount: 20_000 });
    expect((await booksOf(c.id)).balance).toBe(20_000);
  });

  test("20 dead charges, two recovery workers racing: each is credited exactly once", async () => {
    const customers = await t.signUpCustomers(20, "died-many");
    const dying = processWith(dyingGateway());
    for (const [i, c] of customers.entries()) void dying.charge(c.id, 1_000 * (i + 1), `died-many-${i}`);
    await gatewayDecided(20);
    t.clock.advance(LEASE_MS + 1);
    const [a, b] = await Promise.all([processWith().recoverCharges(), processWith().recoverCharges()]);
    expect(a.taken + b.taken).toBe(20);
    expect(a.credited + b.credited).toBe(20);
    for (const [i, c] of customers.entries()) {
      const books = await booksOf(c.id);
      expect([books.balance, books.ledger.length]).toEqual([1_000 * (i + 1), 1]);
    }
    expect(gw.stats().capturedAmount).toBe(210_000);
  });
});

describe("other deaths and outcomes", () => {
  test("a declined charge whose process died: closed, the key given back, nothing credited", async () => {
    const c = await t.signUpCustomer("died-declined");
    gw.control.declineNext(1);
    void processWith(dyingGateway()).charge(c.id, 9_000, "died-3");
    await gatewayDecided(1);
    t.clock.advance(LEASE_MS + 1);
    expect(await processWith().recoverCharges()).toEqual({ taken: 1, credited: 0, closed: 1, failed: 0 });
    expect(await attemptsOf(c.id)).toEqual([{ status: "declined", amount: 9_000 }]);
    expect(await keyStatus(c.id, "died-3")).toBeUndefined();
    expect(await booksOf(c.id)).toEqual({ balance: 0, ledger: [] });
  });

  test("a process that died between claiming the key and recording the attempt: the key is given back after the lease", async () => {
    const c = await t.signUpCustomer("died-claim");
    await claimBeforeCallingOut(t.db, { userId: c.id, scope: CHARGE_SCOPE, key: "died-4", requestHash: hashRequest({ amount: 7_000 }) }, t.clock.now());
    const impatient = processWith(http, { idempotencyWaitMs: 200 });
    const early = await impatient.charge(c.id, 7_000, "died-4").catch((error: unknown) => error);
    expect(early instanceof DomainError && early.domainCode).toBe("IDEMPOTENCY_IN_PROGRESS");
    t.clock.advance(LEASE_MS + 1);
    expect((await impatient.charge(c.id, 7_000, "died-4")).currentBalance).toBe(7_000);
    expect(gw.stats()).toMatchObject({ requests: 1, approved: 1 });
  });

  test("a claim whose request died before recording its attempt is given back by the recovery worker too", async () => {
    const c = await t.signUpCustomer("died-claim-worker");
    await claimBeforeCallingOut(t.db, { userId: c.id, scope: CHARGE_SCOPE, key: "died-5", requestHash: hashRequest({ amount: 4_000 }) }, t.clock.now());
    const worker = processWith();
    await worker.recoverCharges();
    expect(await keyStatus(c.id, "died-5")).toBe("in_progress");
    t.clock.advance(LEASE_MS + 1);
    await worker.recoverCharges();
    expect(await keyStatus(c.id, "died-5")).toBeUndefined();
  });

  test("a key left in progress beside its closed attempt (died between closing and giving the key back) is given back by the worker or the retry", async () => {
    // Closing an attempt and giving its key back are one statement now; this is the state an older
    // process could leave behind, rebuilt by hand: a declined attempt, its key claimed again.
    const c = await t.signUpCustomer("died-closed");
    const key = "died-closed-1";
    gw.control.declineNext(1);
    await expect(processWith().charge(c.id, 6_000, key)).rejects.toThrow(DomainError);
    await claimBeforeCallingOut(t.db, { userId: c.id, scope: CHARGE_SCOPE, key, requestHash: hashRequest({ amount: 6_000 }) }, t.clock.now());
    const worker = processWith();
    await worker.recoverCharges();
    expect(await keyStatus(c.id, key)).toBe("in_progress");
    t.clock.advance(LEASE_MS + 1);
    await worker.recoverCharges();
    expect(await keyStatus(c.id, key)).toBeUndefined();

    // The same state again, met by the customer's own retry after the lease: the key is given back
    // and the charge runs again (the gateway answers its key with the same decline), no waiting.
    await claimBeforeCallingOut(t.db, { userId: c.id, scope: CHARGE_SCOPE, key, requestHash: hashRequest({ amount: 6_000 }) }, t.clock.now());
    t.clock.advance(LEASE_MS + 1);
    const retry = await processWith(http, { idempotencyWaitMs: 1_000 })
      .charge(c.id, 6_000, key)
      .catch((error: unknown) => error);
    expect(retry instanceof DomainError && retry.domainCode).toBe("PAYMENT_DECLINED");
    expect(await attemptsOf(c.id)).toEqual([{ status: "declined", amount: 6_000 }]);
    expect(await keyStatus(c.id, key)).toBeUndefined();
    expect(await booksOf(c.id)).toEqual({ balance: 0, ledger: [] });
  });

  test("an approval past the cap whose void failed stays 'voiding' until recovery voids it; the key then replays the refusal", async () => {
    const c = await t.signUpCustomer("void-later");
    const capped = { maxBalance: 50_000 };
    // While this charge is at the gateway, another one fills the wallet; then the void fails.
    let filler: Promise<unknown> = Promise.resolve();
    const racing: PaymentGateway = {
      async charge(request) {
        const answer = await http.charge(request);
        filler = processWith(http, capped).charge(c.id, 45_000, "filler");
        await filler;
        return answer;
      },
      voidCharge: () => Promise.reject(new PaymentGatewayUnavailableError("network", "void lost")),
      lookup: (key) => http.lookup(key),
    };
    const first = await processWith(racing, capped)
      .charge(c.id, 10_000, "over-cap")
      .catch((error: unknown) => error);
    await filler;
    expect(first instanceof DomainError && first.domainCode).toBe("PAYMENT_GATEWAY_UNAVAILABLE");
    expect((await attemptsOf(c.id)).map((a) => a.status).sort()).toEqual(["credited", "voiding"]);
    expect(gw.stats()).toMatchObject({ approved: 2, voided: 0, capturedAmount: 55_000 });

    t.clock.advance(LEASE_MS + 1);
    expect(await processWith(http, capped).recoverCharges()).toEqual({ taken: 1, credited: 0, closed: 1, failed: 0 });
    expect(gw.stats()).toMatchObject({ voided: 1, capturedAmount: 45_000 });
    expect((await booksOf(c.id)).balance).toBe(45_000);
    const replay = await processWith(http, capped)
      .charge(c.id, 10_000, "over-cap")
      .catch((error: unknown) => error);
    expect(replay instanceof DomainError && replay.domainCode).toBe("BALANCE_LIMIT_EXCEEDED");
    expect(replay instanceof DomainError && replay.details).toMatchObject({ voided: true, currentBalance: 45_000, maxBalance: 50_000 });
  });
});
