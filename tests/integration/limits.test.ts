/**
 * Limits on what costs (issue 8, finding 5): sign-ups per address, writes and searches per caller
 * and per address, the batch cap, a login limit that cannot lock the owner out; every refusal is
 * TOO_MANY_REQUESTS with `Retry-After`. Client addresses come from X-Forwarded-For (TRUST_PROXY).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type Customer, startTestAgora, type TestAgora } from "../support/agora.ts";

let t: TestAgora;

beforeAll(async () => {
  t = await startTestAgora({
    config: {
      trustProxy: true,
      signUpsPerHourPerAddress: 3,
      writesPerMinutePerCaller: 5,
      writesPerMinutePerAddress: 8,
      searchesPerMinutePerCaller: 4,
      searchesPerMinutePerAddress: 6,
      loginAttemptsPerAccountAndAddress: 3,
      loginAttemptsPerAddress: 6,
      maxBatchCalls: 3,
    },
  });
});

afterAll(async () => {
  await t?.close();
});

interface Answer {
  status: number;
  retryAfter: string | null;
  codes: Array<string | null>;
}

async function trpc(path: string, input: unknown, options: { from: string; token?: string; query?: boolean }): Promise<Answer> {
  const headers: Record<string, string> = { "x-forwarded-for": options.from, ...(options.token ? { authorization: `Bearer ${options.token}` } : {}) };
  const wire = JSON.stringify({ json: input });
  const response = options.query
    ? await t.agora.app.fetch(new Request(`http://agora.test/trpc/${path}?input=${encodeURIComponent(wire)}`, { headers }))
    : await t.agora.app.fetch(
        new Request(`http://agora.test/trpc/${path}`, { method: "POST", headers: { ...headers, "content-type": "application/json" }, body: wire }),
      );
  const body = (await response.json()) as unknown;
  const items = Array.isArray(body) ? body : [body];
  return {
    status: response.status,
    retryAfter: response.headers.get("retry-after"),
    codes: items.map((item) => (item as { error?: { json?: { data?: { domainCode?: string } } } }).error?.json?.data?.domainCode ?? null),
  };
}

const signUp = (n: string, from: string) => trpc("identity.signUp", { email: `limit-${n}@agora.test`, password: "correct-horse-battery", name: n }, { from });

describe("sign-ups", () => {
  test("at most SIGNUPS_PER_HOUR_PER_ADDRESS from one address; then 429 with Retry-After, and no account is made; another address goes on", async () => {
    for (let i = 0; i < 3; i++) expect((await signUp(`s${i}`, "10.1.0.1")).status).toBe(200);
    const refused = await signUp("s3", "10.1.0.1");
    expect(refused.status).toBe(429);
    expect(refused.codes).toEqual(["RATE_LIMITED"]);
    expect(Number(refused.retryAfter)).toBeGreaterThan(3_000); // about an hour
    expect(await t.db.selectFrom("identity_users").select("id").where("email", "=", "limit-s3@agora.test").execute()).toEqual([]);
    expect((await signUp("s4", "10.1.0.2")).status).toBe(200);
  });
});

describe("writes", () => {
  test("per caller: the sixth mutation of a minute is refused with Retry-After; another customer is not affected", async () => {
    const [a, b] = (await t.signUpCustomers(2, "writer")) as [Customer, Customer];
    const addresses = ["10.2.0.1", "10.2.0.2", "10.2.0.3", "10.2.0.4", "10.2.0.5", "10.2.0.6"];
    const answers: Answer[] = [];
    for (const from of addresses) answers.push(await trpc("cart.clear", {}, { from, token: a.token }));
    expect(answers.map((x) => x.status)).toEqual([200, 200, 200, 200, 200, 429]);
    expect(answers[5]?.codes).toEqual(["RATE_LIMITED"]);
    const wait = Number(answers[5]?.retryAfter);
    expect(wait).toBeGreaterThan(0);
    expect(wait).toBeLessThanOrEqual(60);
    expect((await trpc("cart.clear", {}, { from: "10.2.0.7", token: b.token })).status).toBe(200);
  });

  test("per address: the ninth mutation of a minute from one address is refused, whoever makes it", async () => {
    const customers = await t.signUpCustomers(3, "neighbour");
    const statuses: number[] = [];
    for (let i = 0; i < 9; i++) statuses.push((await trpc("cart.clear", {}, { from: "10.3.0.1", token: customers[i % 3]?.token })).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 429]);
  });

  test("a batch counts each call: the calls past the limit are refused, the response says when to come back", async () => {
    const c = (await t.signUpCustomer("batcher")) as Customer;
    for (let i = 0; i < 3; i++) await trpc("cart.clear", {}, { from: `10.4.0.${i}`, token: c.token });
    const response = await t.agora.app.fetch(
      new Request("http://agora.test/trpc/cart.clear,cart.clear,cart.clear?batch=1", {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${c.token}`, "x-forwarded-for": "10.4.0.9" },
        body: JSON.stringify({ 0: { json: {} }, 1: { json: {} }, 2: { json: {} } }),
      }),
    );
    const body = (await response.json()) as Array<{ result?: unknown; error?: { json: { data: { domainCode: string } } } }>;
    expect(body.map((item) => (item.result ? "ok" : item.error?.json.data.domainCode))).toEqual(["ok", "ok", "RATE_LIMITED"]);
    expect(Number(response.headers.get("retry-after"))).toBeGreaterThan(0);
  });
});

describe("searches", () => {
  test("per caller and per address; plain reads are not limited", async () => {
    const search = (from: string, token?: string) => trpc("catalog.search", { query: "lamp" }, { from, token, query: true });
    const anonymous: number[] = [];
    for (let i = 0; i < 7; i++) anonymous.push((await search("10.5.0.1")).status);
    expect(anonymous).toEqual([200, 200, 200, 200, 200, 200, 429]);
    const c = (await t.signUpCustomer("searcher")) as Customer;
    const mine: number[] = [];
    for (let i = 0; i < 5; i++) mine.push((await search(`10.5.1.${i}`, c.token)).status);
    expect(mine).toEqual([200, 200, 200, 200, 429]);
    for (let i = 0; i < 10; i++) expect((await trpc("catalog.list", {}, { from: "10.5.0.1", query: true })).status).toBe(200);
  });
});

describe("batches", () => {
  test("a batch of more than MAX_BATCH_CALLS calls is refused whole; at the cap it runs", async () => {
    const batch = (n: number) =>
      t.agora.app.fetch(
        new Request(`http://agora.test/trpc/${Array(n).fill("catalog.categories").join(",")}?batch=1`, { headers: { "x-forwarded-for": "10.6.0.1" } }),
      );
    const over = await batch(4);
    expect(over.status).toBe(400);
    expect(await over.text()).toContain("Batch call exceeds maximum size");
    expect((await batch(3)).status).toBe(200);
  });
});

describe("login", () => {
  test("guessing at an email locks out only the guesser's address: the owner, from theirs, still logs in", async () => {
    const owner = (await t.signUpCustomer("owner")) as Customer;
    const guess = (from: string, password: string) => trpc("identity.login", { email: owner.email, password }, { from });
    for (let i = 0; i < 3; i++) expect((await guess("10.7.0.66", `wrong-${i}`)).codes).toEqual(["INVALID_CREDENTIALS"]);
    const locked = await guess("10.7.0.66", "correct-horse-battery");
    expect(locked.status).toBe(429);
    expect(Number(locked.retryAfter)).toBeGreaterThan(0);
    const home = await guess("10.7.0.7", "correct-horse-battery");
    expect(home.status).toBe(200);
  });

  test("one address trying many emails is limited per address", async () => {
    const codes: Array<string | null> = [];
    for (let i = 0; i < 7; i++)
      codes.push(...(await trpc("identity.login", { email: `nobody-${i}@agora.test`, password: "whatever-1" }, { from: "10.8.0.1" })).codes);
    expect(codes).toEqual([...Array(6).fill("INVALID_CREDENTIALS"), "RATE_LIMITED"]);
  });
});

describe("operators", () => {
  test("an admin is not limited per caller: importing a catalog is many writes", async () => {
    const { createCallLimits, createMemoryInfra, ManualClock } = await import("../../modules/kernel/index.ts");
    const limits = createCallLimits(createMemoryInfra(new ManualClock(), "admin-limits:"), {
      writesPerMinutePerCaller: 2,
      writesPerMinutePerAddress: 1_000,
      searchesPerMinutePerCaller: 2,
      searchesPerMinutePerAddress: 1_000,
      signUpsPerHourPerAddress: 2,
    });
    const call = (role: "customer" | "admin") => limits.consume({ type: "mutation", cost: undefined, userId: role === "admin" ? 1 : 2, role, ip: null });
    expect((await Promise.all([call("admin"), call("admin"), call("admin")])).map((d) => d.allowed)).toEqual([true, true, true]);
    expect((await Promise.all([call("customer"), call("customer"), call("customer")])).map((d) => d.allowed)).toEqual([true, true, false]);
  });
});
