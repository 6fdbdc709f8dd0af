/**
 * The HTTP layer's shared answers: only queries declared `shared` are kept, only their successful
 * answers, only for the TTL, and byte for byte as tRPC gave them.
 */
import { describe, expect, test } from "bun:test";
import { initTRPC, TRPCError } from "@trpc/server";
import { fetchRequestHandler } from "@trpc/server/adapters/fetch";
import { z } from "zod";
import { createSharedAnswers } from "../../apps/server/shared-answers.ts";
import type { ProcedureMeta } from "../../modules/kernel/index.ts";

const t = initTRPC.meta<ProcedureMeta>().create();
let computed = 0;
const router = t.router({
  sales: t.router({
    popular: t.procedure
      .meta({ shared: true })
      .input(z.object({ days: z.number() }))
      .query(({ input }) => {
        computed++;
        if (input.days < 0) throw new TRPCError({ code: "BAD_REQUEST", message: "no" });
        return { days: input.days, computed };
      }),
  }),
  mine: t.procedure.query(() => ({ computed: ++computed })),
  searched: t.procedure.meta({ shared: true, cost: "search" }).query(() => ({ computed: ++computed })),
});

let now = 1_000_000;
const answers = createSharedAnswers(router, 1_000, () => now);

/** What the server does: a kept answer, or tRPC's, kept when shared. */
async function get(path: string, method = "GET", headers: Record<string, string> = {}): Promise<Response> {
  const url = `http://shop.test/trpc/${path}`;
  const req = new Request(url, { method, headers });
  const kept = answers.answer(method, url, req.headers);
  if (kept) return kept;
  const answered = await fetchRequestHandler({ endpoint: "/trpc", req, router, createContext: () => ({}) });
  return answers.isShared(method, url, req.headers) ? answers.keep(url, answered) : answered;
}

const input = (value: unknown) => `?input=${encodeURIComponent(JSON.stringify(value))}`;

describe("shared answers", () => {
  test("a shared query is answered once per TTL, byte for byte, with Cache-Control", async () => {
    computed = 0;
    const first = await get(`sales.popular${input({ days: 3 })}`);
    const firstBody = await first.text();
    expect(first.headers.get("cache-control")).toBe("public, max-age=1");
    const second = await get(`sales.popular${input({ days: 3 })}`);
    expect(await second.text()).toBe(firstBody);
    expect(second.headers.get("content-type")).toContain("application/json");
    expect(computed).toBe(1);
    // Another input is another answer.
    await get(`sales.popular${input({ days: 4 })}`);
    expect(computed).toBe(2);
    // Past the TTL the procedure answers again.
    now += 1_001;
    const third = await get(`sales.popular${input({ days: 3 })}`);
    expect(JSON.parse(await third.text()).result.data.computed).toBe(3);
  });

  test("errors, other procedures, costed ones and mixed batches are never kept", async () => {
    computed = 0;
    for (let i = 0; i < 2; i++) expect((await get(`sales.popular${input({ days: -1 })}`)).status).toBe(400);
    expect(computed).toBe(2);
    for (let i = 0; i < 2; i++) await get("mine");
    expect(computed).toBe(4);
    for (let i = 0; i < 2; i++) await get("searched");
    expect(computed).toBe(6);
    const batch = `sales.popular,mine?batch=1&input=${encodeURIComponent(JSON.stringify({ 0: { days: 5 } }))}`;
    for (let i = 0; i < 2; i++) expect((await get(batch)).status).toBe(200);
    expect(computed).toBe(10);
    expect(answers.isShared("POST", "http://shop.test/trpc/sales.popular", new Headers())).toBe(false);
  });

  test("a streamed batch (200 even when a call inside failed) is neither kept nor served a kept answer", async () => {
    computed = 0;
    const batch = `sales.popular?batch=1&input=${encodeURIComponent(JSON.stringify({ 0: { days: -2 } }))}`;
    const streamed = await get(batch, "GET", { "trpc-accept": "application/jsonl" });
    expect(streamed.status).toBe(200); // the failure is inside the stream
    await streamed.text();
    const plain = await get(batch);
    expect(plain.status).toBe(400);
    expect(plain.headers.get("cache-control")).toBeNull();
    expect(computed).toBe(2);
    const ok = `sales.popular?batch=1&input=${encodeURIComponent(JSON.stringify({ 0: { days: 7 } }))}`;
    expect((await get(ok)).headers.get("vary")).toBe("trpc-accept, accept");
    const streamedOk = await get(ok, "GET", { "trpc-accept": "application/jsonl" });
    expect(streamedOk.headers.get("cache-control")).toBeNull(); // not the kept plain answer
  });

  test("a malformed escape in the path is not shared (tRPC answers it), never a thrown URIError", () => {
    expect(answers.isShared("GET", "http://shop.test/trpc/sales.popular%E0", new Headers())).toBe(false);
    expect(answers.answer("GET", "http://shop.test/trpc/%", new Headers())).toBeNull();
  });

  test("a TTL of 0 turns it off", () => {
    const off = createSharedAnswers(router, 0, () => now);
    expect(off.isShared("GET", `http://shop.test/trpc/sales.popular${input({ days: 3 })}`, new Headers())).toBe(false);
  });
});
