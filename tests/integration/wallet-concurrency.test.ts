/**
 * The wallet under contention on one account: real PostgreSQL row locks, the fake gateway over HTTP.
 * Every test checks the books exactly: the balance is the sum of the ledger, and the ledger read in
 * id order is one unbroken chain (each balance_after = the previous one + amount, never negative),
 * which holds only if every movement was serialized by the account row lock.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { type FakePaymentGateway, startFakePaymentGateway } from "../../apps/fakes/payment-gateway.ts";
import { inTransaction } from "../../db/index.ts";
import { DomainError } from "../../modules/kernel/index.ts";
import { createWalletService, HttpPaymentGateway, type WalletConfig, type WalletService } from "../../modules/wallet/index.ts";
import { startTestAgora, type TestAgora } from "../support/agora.ts";

let t: TestAgora;
let gw: FakePaymentGateway;
let wallet: WalletService;

function walletWith(config: Partial<WalletConfig> = {}): WalletService {
  return createWalletService({ db: t.db, clock: t.clock, gateway: new HttpPaymentGateway({ baseUrl: gw.url, timeoutMs: 5_000 }), config });
}

beforeAll(async () => {
  t = await startTestAgora({ poolSize: 20 });
  gw = startFakePaymentGateway();
  wallet = walletWith();
});
afterAll(async () => {
  await gw.stop();
  await t.close();
});
beforeEach(() => gw.control.reset());

interface Books {
  balance: number;
  ledgerSum: number;
  entries: Array<{ id: number; kind: string; amount: number; balance_after: number; order_id: number | null }>;
  /** Entries whose balance_after is not the previous balance_after + amount, or is negative. */
  breaks: number[];
}

async function booksOf(userId: number): Promise<Books> {
  const account = await t.db.selectFrom("wallet_accounts").select("balance").where("user_id", "=", userId).executeTakeFirstOrThrow();
  const entries = await t.db
    .selectFrom("wallet_ledger")
    .select(["id", "kind", "amount", "balance_after", "order_id"])
    .where("user_id", "=", userId)
    .orderBy("id")
    .execute();
  const breaks: number[] = [];
  let running = 0;
  for (const entry of entries) {
    running += entry.amount;
    if (entry.balance_after !== running || entry.balance_after < 0) breaks.push(entry.id);
  }
  return { balance: account.balance, ledgerSum: running, entries, breaks };
}

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };
const settle = <T>(p: Promise<T>): Promise<Settled<T>> =>
  p.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );

function domainFailures(results: Settled<unknown>[]): DomainError[] {
  return results.flatMap((r) => {
    if (r.ok) return [];
    if (r.error instanceof DomainError) return [r.error];
    throw r.error;
  });
}

describe("wallet under contention", () => {
  test("80 debits of 7,000 against 500,000, each in its own transaction, at once: exactly 71 pass, 9 are INSUFFICIENT_BALANCE at 3,000", async () => {
    const c = await t.signUpCustomer("drain");
    await wallet.charge(c.id, 500_000);
    const results = await Promise.all(
      Array.from({ length: 80 }, (_, i) => settle(inTransaction(t.db, (trx) => wallet.debit(trx, c.id, 7_000, { orderId: 1_000 + i })))),
    );

    const passed = results.filter((r) => r.ok).length;
    const failures = domainFailures(results);
    expect(passed).toBe(71);
    expect(failures.length).toBe(9);
    for (const failure of failures) {
      expect([failure.domainCode, failure.details]).toEqual(["INSUFFICIENT_BALANCE", { requiredAmount: 7_000, currentBalance: 3_000, shortfall: 4_000 }]);
    }
    const books = await booksOf(c.id);
    expect(books.balance).toBe(3_000);
    expect(books.ledgerSum).toBe(3_000);
    expect(books.entries.length).toBe(1 + 71);
    expect(books.breaks).toEqual([]);
    expect(new Set(books.entries.filter((e) => e.kind === "payment").map((e) => e.order_id)).size).toBe(71);
    expect(await wallet.verifyBooks()).toMatchObject({ mismatches: [] });
  });

  test("50 charges of 10,000 and 80 debits of 7,000 on one wallet, started at once: balance = charges - passed debits, never negative", async () => {
    const c = await t.signUpCustomer("mixed");
    await wallet.charge(c.id, 70_000);
    // All 130 start together; gateway answers and debit starts are spread over the same 0..40 ms
    // window so that charges land between debits instead of after them.
    gw.control.configure({ latencyMs: 0, latencyJitterMs: 40 });
    const charges = Array.from({ length: 50 }, (_, i) => settle(wallet.charge(c.id, 10_000, i % 2 === 0 ? `mixed-charge-${i}` : undefined)));
    const debits = Array.from({ length: 80 }, (_, i) =>
      settle(Bun.sleep(Math.floor(Math.random() * 41)).then(() => inTransaction(t.db, (trx) => wallet.debit(trx, c.id, 7_000, { orderId: 2_000 + i })))),
    );
    const [chargeResults, debitResults] = await Promise.all([Promise.all(charges), Promise.all(debits)]);

    expect(chargeResults.filter((r) => r.ok).length).toBe(50);
    const passed = debitResults.filter((r) => r.ok).length;
    const failures = domainFailures(debitResults);
    expect(passed + failures.length).toBe(80);
    // The first 70,000 alone covers 10 debits; charges only add.
    expect(passed).toBeGreaterThanOrEqual(10);

    const books = await booksOf(c.id);
    expect(books.balance).toBe(70_000 + 50 * 10_000 - passed * 7_000);
    expect(books.ledgerSum).toBe(books.balance);
    expect(books.entries.length).toBe(1 + 50 + passed);
    expect(books.entries.filter((e) => e.kind === "charge").length).toBe(51);
    expect(books.entries.filter((e) => e.kind === "payment").length).toBe(passed);
    expect(books.breaks).toEqual([]);

    // Each refusal saw a real state of the account (under its row lock) that could not cover 7,000.
    const states = new Set(books.entries.map((e) => e.balance_after));
    for (const failure of failures) {
      const current = failure.details.currentBalance as number;
      expect(failure.domainCode).toBe("INSUFFICIENT_BALANCE");
      expect(current).toBeGreaterThanOrEqual(0);
      expect(current).toBeLessThan(7_000);
      expect(failure.details).toEqual({ requiredAmount: 7_000, currentBalance: current, shortfall: 7_000 - current });
      expect(states.has(current)).toBe(true);
    }
    // The 70,000 that funded the wallet plus the 50 racing charges.
    expect(gw.stats()).toMatchObject({ requests: 51, approved: 51, capturedAmount: 570_000 });
    expect(await wallet.verifyBooks()).toMatchObject({ mismatches: [] });
  });

  test("20 keys each sent 3 times at once: 20 credits, 20 gateway charges, every copy gets its key's result", async () => {
    const c = await t.signUpCustomer("retries");
    gw.control.configure({ latencyMs: 20, latencyJitterMs: 20 });
    const keys = Array.from({ length: 20 }, (_, i) => `retry-key-${i}`);
    const calls = keys.flatMap((key) => [0, 1, 2].map(() => wallet.charge(c.id, 4_000, key).then((result) => ({ key, result }))));
    const results = await Promise.all(calls);

    for (const key of keys) {
      const copies = results.filter((r) => r.key === key).map((r) => r.result);
      expect(copies.length).toBe(3);
      expect(copies[1]).toEqual(copies[0] as never);
      expect(copies[2]).toEqual(copies[0] as never);
    }
    expect(new Set(results.map((r) => r.result.ledgerEntryId)).size).toBe(20);
    expect(gw.stats()).toMatchObject({ requests: 20, approved: 20, capturedAmount: 80_000 });
    const books = await booksOf(c.id);
    expect([books.balance, books.entries.length, books.breaks]).toEqual([80_000, 20, []]);
  });

  test("charges racing past the balance limit: exactly 5 of 10 fit, every approval past the cap is voided, replays keep the refusal", async () => {
    const capped = walletWith({ maxBalance: 50_000 });
    const c = await t.signUpCustomer("capped");
    gw.control.configure({ latencyMs: 60 });
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => settle(capped.charge(c.id, 10_000, `cap-key-${i}`))));

    const passed = results.filter((r) => r.ok).length;
    const failures = domainFailures(results);
    expect(passed).toBe(5);
    expect(failures.map((f) => f.domainCode)).toEqual(Array(5).fill("BALANCE_LIMIT_EXCEEDED"));
    const stats = gw.stats();
    // Refusals at the pre-check never reached the gateway; refusals after an approval were voided.
    expect(stats.voided).toBe(stats.approved - 5);
    expect(stats.capturedAmount).toBe(50_000);
    expect(failures.filter((f) => f.details.voided === true).length).toBe(stats.voided);
    const books = await booksOf(c.id);
    expect([books.balance, books.entries.length, books.breaks]).toEqual([50_000, 5, []]);

    // Retrying every key: the 5 credited replay their result, the 5 refused are refused again;
    // a voided approval is never credited later.
    const requestsBefore = gw.stats().requests;
    const retries = await Promise.all(Array.from({ length: 10 }, (_, i) => settle(capped.charge(c.id, 10_000, `cap-key-${i}`))));
    expect(retries.map((r) => r.ok)).toEqual(results.map((r) => r.ok));
    for (const [i, retry] of retries.entries()) {
      const original = results[i];
      if (retry.ok && original?.ok) expect(retry.value).toEqual(original.value);
      if (!retry.ok && !original?.ok) expect((retry.error as DomainError).domainCode).toBe("BALANCE_LIMIT_EXCEEDED");
    }
    // Credited keys replay, voided keys replay their refusal, pre-check refusals are refused again before calling out.
    expect(gw.stats().requests - requestsBefore).toBe(0);
    expect(gw.stats().capturedAmount).toBe(50_000);
    expect((await booksOf(c.id)).balance).toBe(50_000);
  });
});
