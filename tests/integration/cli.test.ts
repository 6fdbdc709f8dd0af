/** `bun run agora`: the CLI against a real, seeded server process (exit codes, --json, --help). */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAgoraClient } from "../../apps/client/index.ts";
import { runProcess, type SeededServer, seededAdmin, startSeededServer } from "../support/seeded-server.ts";

let seeded: SeededServer;
const scratch = mkdtempSync(join(tmpdir(), "agora-cli-"));
const config = join(scratch, "login.json");

beforeAll(async () => {
  seeded = await startSeededServer({ products: 6 });
}, 240_000);
afterAll(async () => {
  await seeded?.close();
  rmSync(scratch, { recursive: true, force: true });
}, 60_000);

/** Runs `agora <args>` with the saved login of this test (AGORA_CONFIG) and the server's URL. */
function agora(...args: string[]) {
  return runProcess([process.execPath, "apps/cli/main.ts", ...args], { AGORA_URL: seeded.url, AGORA_CONFIG: config, NO_COLOR: "1" });
}

async function json<T>(...args: string[]): Promise<T> {
  const run = await agora(...args, "--json");
  if (run.exitCode !== 0) throw new Error(`agora ${args.join(" ")} exited ${run.exitCode}: ${run.stderr}`);
  return JSON.parse(run.stdout) as T;
}

describe("agora CLI", () => {
  test("--help everywhere", async () => {
    for (const command of [
      [],
      ["login"],
      ["admin", "create"],
      ["products", "import"],
      ["stock", "inbound"],
      ["stock", "adjust"],
      ["coupons", "create"],
      ["orders", "list"],
      ["orders", "cancel"],
      ["outbox", "list"],
      ["outbox", "retry"],
      ["reports", "overview"],
    ]) {
      const run = await agora(...command, "--help");
      expect({ command, exitCode: run.exitCode }).toEqual({ command, exitCode: 0 });
      expect(run.stdout).toContain("USAGE");
    }
  }, 60_000);

  test("login: a refusal exits 1 with the domain code; --save keeps the token for later commands", async () => {
    const wrong = await agora("login", "--email", seededAdmin.email, "--password", "not-the-password");
    expect(wrong.exitCode).toBe(1);
    expect(wrong.stderr).toMatch(/^agora: refused: INVALID_CREDENTIALS/);

    const noToken = await agora("orders", "list");
    expect(noToken.exitCode).toBe(2);
    expect(noToken.stderr).toContain("no token");

    const token = await agora("login", "--email", seededAdmin.email, "--password", seededAdmin.password, "--print-token");
    expect(token.exitCode).toBe(0);
    expect(token.stdout.trim()).toMatch(/^\S{20,}$/);
    const saved = await agora("login", "--email", seededAdmin.email, "--password", seededAdmin.password, "--save");
    expect(saved.exitCode).toBe(0);
    expect(saved.stdout).toContain(`saved to ${config}`);
  }, 60_000);

  test("admin create, products import from CSV, stock inbound and adjust", async () => {
    const admin = await json<{ email: string; role: string }>(
      "admin",
      "create",
      "--email",
      "second-op@example.com",
      "--password",
      "second-op-pass",
      "--name",
      "Second Op",
    );
    expect(admin).toMatchObject({ email: "second-op@example.com", role: "admin" });

    const csv = join(scratch, "products.csv");
    writeFileSync(csv, 'name,category,price,initialStock,lowStockThreshold\n"CLI 키보드, 블랙",electronics,45000,3,1\nCLI Mouse,electronics,19000,10,2\n');
    const imported = await json<{ created: { id: number; name: string }[] }>("products", "import", csv);
    expect(imported.created.map((p) => p.name)).toEqual(["CLI 키보드, 블랙", "CLI Mouse"]);
    const keyboardId = imported.created[0]?.id as number;

    const badCsv = join(scratch, "bad.csv");
    writeFileSync(badCsv, "name,category,price\nBroken,electronics,lots\n");
    const bad = await agora("products", "import", badCsv);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain("price (line 2)");

    expect(await json("stock", "inbound", "--product", String(keyboardId), "--quantity", "7", "--reason", "truck 12")).toMatchObject({
      productId: keyboardId,
      stock: 10,
    });
    expect(await json("stock", "adjust", "--product", String(keyboardId), "--change", "-2", "--reason", "count")).toMatchObject({ stock: 8 });
    const below = await agora("stock", "adjust", "--product", String(keyboardId), "--change", "-100", "--reason", "count");
    expect(below.exitCode).toBe(1);
    expect(below.stderr).toMatch(/^agora: refused: [A-Z_]+/);
  }, 60_000);

  test("coupons create; orders list and cancel; outbox list and retry; reports", async () => {
    const coupon = await json<{ couponId: number; totalQuantity: number }>(
      "coupons",
      "create",
      "--name",
      "CLI 10%",
      "--type",
      "percent",
      "--value",
      "10",
      "--total",
      "5",
    );
    expect(coupon).toMatchObject({ totalQuantity: 5 });
    const badType = await agora("coupons", "create", "--name", "x", "--type", "half", "--value", "1", "--total", "1");
    expect(badType.exitCode).toBe(2);

    // A customer orders, through the typed client.
    const anonymous = createAgoraClient({ url: seeded.url });
    const { token } = await anonymous.identity.signUp.mutate({ email: "cli-buyer@example.com", password: "long-password", name: "Buyer" });
    const buyer = createAgoraClient({ url: seeded.url, token });
    const keyboard = (await buyer.catalog.search.query({ query: "키보드", limit: 10 })).items.find((p) => p.stock > 0);
    if (!keyboard) throw new Error("no keyboard");
    await buyer.wallet.charge.mutate({ amount: keyboard.price });
    const order = await buyer.orders.place.mutate({ items: [{ productId: keyboard.id, quantity: 1 }], shippingAddress: "서울특별시 중구 세종대로 110" });

    const listed = await json<{ items: { orderId: number; status: string }[] }>("orders", "list", "--limit", "50");
    expect(listed.items.map((o) => o.orderId)).toContain(order.orderId);
    const text = await agora("orders", "list");
    expect(text.stdout).toContain(`#${order.orderId}`);
    expect(await json("orders", "cancel", String(order.orderId), "--reason", "customer called")).toMatchObject({ orderId: order.orderId, status: "cancelled" });
    const again = await agora("orders", "cancel", String(order.orderId), "--reason", "again");
    expect(again.exitCode).toBe(1);
    expect(again.stderr).toMatch(/^agora: refused: [A-Z_]+/);

    const events = await json<{ items: { id: string; aggregateId: string }[] }>("outbox", "list", "--limit", "50");
    expect(events.items.some((e) => e.aggregateId === String(order.orderId))).toBe(true);
    const missing = await agora("outbox", "retry", "0193a9c5-0000-7000-8000-000000000000");
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toContain("refused: OUTBOX_EVENT_NOT_FOUND");

    for (const report of ["sales", "inventory", "overview"]) {
      const run = await agora("reports", report, "--json");
      expect({ report, exitCode: run.exitCode, stderr: run.stderr }).toEqual({ report, exitCode: 0, stderr: "" });
      expect(JSON.parse(run.stdout)).toBeObject();
    }
  }, 90_000);

  test("a server that does not answer exits 3", async () => {
    const run = await runProcess([process.execPath, "apps/cli/main.ts", "reports", "inventory", "--url", "http://127.0.0.1:9", "--token", "x"], {
      NO_COLOR: "1",
    });
    expect(run.exitCode).toBe(3);
    expect(run.stderr).toContain("could not reach the server");
  }, 30_000);
});
