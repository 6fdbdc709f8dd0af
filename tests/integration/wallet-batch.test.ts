/**
 * Keyed charges at once share their statements (modules/wallet/service.ts `statementBatches`): the
 * record of several customers' attempts in one statement, their credits in another. The answers,
 * the books and the replays must be those of one statement per charge.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import pg from "pg";
import { type FakePaymentGateway, startFakePaymentGateway } from "../../apps/fakes/payment-gateway.ts";
import { createWalletService, HttpPaymentGateway, type WalletService } from "../../modules/wallet/index.ts";
import { startTestAgora, type TestAgora, unbalancedWallets } from "../support/agora.ts";

let t: TestAgora;
let gw: FakePaymentGateway;
let wallet: WalletService;

/** A wallet service of its own on this test's database and fake gateway, with these settings. */
function walletWith(config: Parameters<typeof createWalletService>[0]["config"]): WalletService {
  return createWalletService({ db: t.db, clock: t.clock, gateway: new HttpPaymentGateway({ baseUrl: gw.url, timeoutMs: 5_000 }), config });
}

beforeAll(async () => {
  t = await startTestAgora({ poolSize: 12 });
  gw = startFakePaymentGateway();
  // One shared statement of each kind at a time: charges sent together queue and share.
  wallet = walletWith({ chargeBatchSize: 32, chargeBatchConcurrency: 1, maxBalance: 100_000 });
});
afterAll(async () => {
  await gw.stop();
  await t.close();
});
beforeEach(() => gw.control.reset());

/** The books of the whole database: every wallet equals the sum of its ledger, none negative. */
const assertBooksBalance = async () => expect(await unbalancedWallets(t.db)).toEqual([]);

describe("charges at once share their statements", () => {
  test("40 customers charge at once: statements shared, each credited once, answers equal to their replays", async () => {
    const customers = await t.signUpCustomers(40, "batch-charge");
    const before = wallet.chargeBatchStats();
    const answers = await Promise.all(customers.map((c, i) => wallet.charge(c.id, 1_000 * (i + 1), `batch-charge-${c.id}`)));
    const after = wallet.chargeBatchStats();
    expect(after.records.shared).toBeGreaterThan(before.records.shared);
    expect(after.settles.shared).toBeGreaterThan(before.settles.shared);
    expect(Math.max(after.records.largest, after.settles.largest)).toBeGreaterThan(1);

    answers.forEach((answer, i) => {
      expect(answer.chargedAmount).toBe(1_000 * (i + 1));
      expect(answer.previousBalance).toBe(0);
      expect(answer.currentBalance).toBe(1_000 * (i + 1));
    });
    // Retries replay the first answer exactly (chargedAt and the ledger entry included), and charge no card again.
    const approvedBefore = gw.stats().approved;
    const replays = await Promise.all(customers.map((c, i) => wallet.charge(c.id, 1_000 * (i + 1), `batch-charge-${c.id}`)));
    expect(replays).toEqual(answers);
    expect(gw.stats().approved).toBe(approvedBefore);

    const entries = await t.db
      .selectFrom("wallet_ledger")
      .select(["user_id", "amount", "gateway_reference"])
      .where(
        "user_id",
        "in",
        customers.map((c) => c.id),
      )
      .execute();
    expect(entries).toHaveLength(40);
    const attempts = await t.db
      .selectFrom("wallet_charge_attempts")
      .select(["status"])
      .where(
        "user_id",
        "in",
        customers.map((c) => c.id),
      )
      .execute();
    expect(attempts.map((a) => a.status)).toEqual(Array(40).fill("credited"));
    const keys = await t.db
      .selectFrom("idempotency_keys")
      .select(["status"])
      .where("scope", "=", "wallet.charge")
      .where(
        "user_id",
        "in",
        customers.map((c) => c.id),
      )
      .execute();
    expect(keys.map((k) => k.status)).toEqual(Array(40).fill("completed"));
    await assertBooksBalance();
  });

  test("a customer's second charge, racing in another shared statement past the cap, is voided and refused; the others are credited", async () => {
    const [racer, ...others] = await t.signUpCustomers(21, "batch-cap");
    if (!racer) throw new Error("unreachable");
    const calls = [
      wallet.charge(racer.id, 60_000, `cap-a-${racer.id}`),
      wallet.charge(racer.id, 60_000, `cap-b-${racer.id}`),
      ...others.map((c) => wallet.charge(c.id, 5_000, `cap-other-${c.id}`)),
    ];
    const results = await Promise.allSettled(calls);
    const racerCodes = results
      .slice(0, 2)
      .map((r) => (r.status === "fulfilled" ? "ok" : ((r.reason as { domainCode?: string }).domainCode ?? String(r.reason))));
    expect(racerCodes.sort()).toEqual(["BALANCE_LIMIT_EXCEEDED", "ok"]);
    expect(results.slice(2).every((r) => r.status === "fulfilled")).toBe(true);
    const account = await t.db.selectFrom("wallet_accounts").select("balance").where("user_id", "=", racer.id).executeTakeFirstOrThrow();
    expect(account.balance).toBe(60_000);
    // Whatever the gateway approved past the cap (the second racer, if both passed the pre-check) it was asked to give back.
    const stats = gw.stats();
    expect(stats.approved + stats.voided).toBeGreaterThanOrEqual(21);
    expect(stats.capturedAmount).toBe(60_000 + 20 * 5_000);
    await assertBooksBalance();
  });

  test("a customer whose account another transaction holds does not hold up the others' credits", async () => {
    // A short wait for a batch: if the others waited behind the held account, they would be refused.
    const impatient = walletWith({ chargeBatchSize: 16, chargeBatchConcurrency: 2, chargeBatchMaxWaitMs: 300 });
    const [held, ...others] = await t.signUpCustomers(9, "held-account");
    if (!held) throw new Error("unreachable");
    await impatient.charge(held.id, 1_000, `held-first-${held.id}`);
    // Another transaction holds the account (an order of this customer waiting for a flash-sale stock row, say).
    const holder = new pg.Client({ connectionString: t.database.url });
    await holder.connect();
    await holder.query("BEGIN");
    await holder.query("SELECT 1 FROM wallet_accounts WHERE user_id = $1 FOR UPDATE", [held.id]);
    let heldCharges: Promise<unknown[]>;
    let othersDone: Array<{ currentBalance: number }>;
    try {
      heldCharges = Promise.all([0, 1].map((k) => impatient.charge(held.id, 1_000, `held-${k}-${held.id}`)));
      await Bun.sleep(100);
      othersDone = await Promise.all(others.map((c) => impatient.charge(c.id, 2_000, `held-other-${c.id}`)));
    } finally {
      await holder.query("ROLLBACK");
      await holder.end();
    }
    // The others were credited while the account was still held.
    expect(othersDone.map((r) => r.currentBalance)).toEqual(Array(8).fill(2_000));
    // And the held customer's charges, once it was let go.
    await heldCharges;
    const account = await t.db.selectFrom("wallet_accounts").select("balance").where("user_id", "=", held.id).executeTakeFirstOrThrow();
    expect(account.balance).toBe(3_000);
    const pending = await t.db.selectFrom("wallet_charge_attempts").select("id").where("status", "=", "pending").execute();
    expect(pending).toEqual([]);
    await assertBooksBalance();
  });

  test("with chargeBatchSize 1 every charge runs its own statements", async () => {
    const single = walletWith({ chargeBatchSize: 1 });
    const customers = await t.signUpCustomers(10, "single-charge");
    const answers = await Promise.all(customers.map((c) => single.charge(c.id, 3_000, `single-${c.id}`)));
    expect(answers.every((a) => a.currentBalance === 3_000)).toBe(true);
    expect(single.chargeBatchStats()).toEqual({ records: { shared: 0, largest: 0 }, settles: { shared: 0, largest: 0 } });
    await assertBooksBalance();
  });
});
