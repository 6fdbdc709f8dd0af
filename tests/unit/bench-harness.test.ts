/** Pieces of the benchmark harness: the wire format it sends, how answers are classified, the statistics, the burst generator. */
import { describe, expect, test } from "bun:test";
import { burstLimitError, classifyAnswer, type LoadResult, runLoad, trpcMutation, trpcQuery } from "../../scripts/bench/load.ts";
import { processCpu } from "../../scripts/bench/proc.ts";
import { answersCheck, cpuFloor } from "../../scripts/bench/scenarios.ts";
import { percentiles } from "../../scripts/bench/util.ts";

describe("tRPC wire format (v11, superjson, no batching)", () => {
  test("a mutation is POST /trpc/<path> with {json: input} and the bearer token", () => {
    expect(trpcMutation("coupons.issue", { couponId: 7 }, "tok")).toEqual({
      method: "POST",
      path: "/trpc/coupons.issue",
      headers: { "content-type": "application/json", authorization: "Bearer tok" },
      body: '{"json":{"couponId":7}}',
      label: undefined,
    });
  });

  test("a query is GET /trpc/<path>?input=<urlencoded {json: input}>", () => {
    const request = trpcQuery("sales.popular", { days: 3, limit: 5 });
    expect(request.method).toBe("GET");
    expect(request.path).toBe(`/trpc/sales.popular?input=${encodeURIComponent('{"json":{"days":3,"limit":5}}')}`);
    expect(trpcQuery("ping", undefined).path).toBe("/trpc/ping");
  });
});

describe("classifyAnswer", () => {
  test("2xx is ok; errors give the domain code, else the tRPC code, else the status", () => {
    expect(classifyAnswer(200, '{"result":{"data":{"json":{}}}}')).toBe("ok");
    const domain = JSON.stringify({
      error: { json: { message: "sold out", code: -32009, data: { code: "CONFLICT", httpStatus: 409, domainCode: "COUPON_SOLD_OUT" } } },
    });
    expect(classifyAnswer(409, domain)).toBe("COUPON_SOLD_OUT");
    const plain = JSON.stringify({ error: { json: { message: "x", code: -32603, data: { code: "INTERNAL_SERVER_ERROR", domainCode: null } } } });
    expect(classifyAnswer(500, plain)).toBe("INTERNAL_SERVER_ERROR");
    expect(classifyAnswer(413, JSON.stringify({ error: { message: "too large", code: "PAYLOAD_TOO_LARGE" } }))).toBe("PAYLOAD_TOO_LARGE");
    expect(classifyAnswer(502, "<html>bad gateway</html>")).toBe("HTTP_502");
  });
});

describe("statistics", () => {
  test("nearest-rank percentiles", () => {
    const p = percentiles(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(p).toEqual({ count: 100, mean: 50.5, p50: 50, p90: 90, p99: 99, max: 100 });
    expect(percentiles([]).count).toBe(0);
  });

  test("answersCheck wants exactly the expected answers and no transport errors", () => {
    const load = { outcomes: { ok: 5, COUPON_SOLD_OUT: 15 }, transportErrors: 0, timeouts: 0 } as unknown as LoadResult;
    expect(answersCheck(load, { ok: 5, COUPON_SOLD_OUT: 15 }).ok).toBe(true);
    expect(answersCheck(load, { ok: 5 }).ok).toBe(false);
    expect(answersCheck({ ...load, transportErrors: 1 }, { ok: 5, COUPON_SOLD_OUT: 15 }).ok).toBe(false);
  });

  test("cpuFloor spreads the run's CPU over the cores; the product's part is the server's and PostgreSQL's", () => {
    const cpu = { server: { user: 0.15, sys: 0.05 }, postgres: 0.12, loadGenerator: 0.08, gateway: 0.04 } as LoadResult["cpu"];
    const floor = cpuFloor({ answered: 1_000, cpu }, 2);
    expect(floor.ms).toBeCloseTo(220, 6);
    expect(floor.productMs).toBeCloseTo(160, 6);
    expect(floor.perAnswerUs.server).toBeCloseTo(200, 6);
    expect(floor.perAnswerUs.postgres).toBeCloseTo(120, 6);
    expect(floor.perAnswerUs.loadGenerator).toBeCloseTo(80, 6);
    expect(floor.perAnswerUs.gateway).toBeCloseTo(40, 6);
    expect(cpuFloor({ answered: 0, cpu }, 4).perAnswerUs.server).toBe(0);
    expect(cpuFloor({ answered: 0, cpu }, 4).ms).toBeCloseTo(110, 6);
  });

  test("reads this process's CPU time from /proc", () => {
    const cpu = processCpu(process.pid);
    expect(cpu).not.toBeNull();
    expect((cpu?.user ?? -1) >= 0 && (cpu?.sys ?? -1) >= 0).toBe(true);
    expect(processCpu(2 ** 30)).toBeNull();
  });
});

describe("the burst generator (charge-storm's crowd)", () => {
  test("sends every request at once, each on a new connection, and classifies each answer", async () => {
    const clientPorts = new Set<number>();
    let inFlight = 0;
    let peakInFlight = 0;
    const server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      async fetch(request, self) {
        clientPorts.add(self.requestIP(request)?.port ?? -1);
        inFlight++;
        peakInFlight = Math.max(peakInFlight, inFlight);
        // Held until the whole crowd is in: the burst must not wait for one answer before the next request.
        while (peakInFlight < 40) await Bun.sleep(5);
        inFlight--;
        const { json } = (await request.json()) as { json: { i: number } };
        if (json.i % 4 === 0) return Response.json({ error: { json: { data: { code: "CONFLICT", domainCode: "COUPON_SOLD_OUT" } } } }, { status: 409 });
        return Response.json({ result: { data: { json: { i: json.i } } } });
      },
    });
    try {
      const burst = () =>
        runLoad({
          url: `http://127.0.0.1:${server.port}`,
          connections: 40,
          amount: 40,
          generator: "burst",
          feed: (i) => trpcMutation("wallet.charge", { i }, `token-${i}`, i % 2 === 0 ? "even" : "odd"),
          timeoutSeconds: 10,
          watch: { serverPid: process.pid },
        });
      const result = await burst();
      expect(peakInFlight).toBe(40);
      expect(clientPorts.size).toBe(40);
      // A second crowd is new customers: none of the first crowd's connections is used again.
      expect((await burst()).answered).toBe(40);
      expect(clientPorts.size).toBe(80);
      expect(result.generator).toBe("burst");
      expect(result.answered).toBe(40);
      expect(result.outcomes).toEqual({ ok: 30, COUPON_SOLD_OUT: 10 });
      expect(result.latencyMs.count).toBe(40);
      expect(result.latencyByLabel.even?.count).toBe(20);
      expect(result.transportErrors + result.timeouts).toBe(0);
    } finally {
      server.stop(true);
    }
  });

  test("a burst needs one connection per request", async () => {
    const spec = {
      url: "http://127.0.0.1:9",
      connections: 10,
      amount: 20,
      generator: "burst" as const,
      feed: () => trpcQuery("ping", undefined),
      watch: { serverPid: process.pid },
    };
    await expect(runLoad(spec)).rejects.toThrow("amount = connections");
  });

  test("refuses a crowd larger than Bun's fetch would send at once", () => {
    expect(burstLimitError(256, {})).toBeNull();
    expect(burstLimitError(1_000, {})).toContain("BUN_CONFIG_MAX_HTTP_REQUESTS ≥ 1000");
    expect(burstLimitError(1_000, { BUN_CONFIG_MAX_HTTP_REQUESTS: "4096" })).toBeNull();
    expect(burstLimitError(1_000, { BUN_CONFIG_MAX_HTTP_REQUESTS: "500" })).toContain("it is 500");
    expect(burstLimitError(1_000, { BUN_CONFIG_MAX_HTTP_REQUESTS: "many" })).not.toBeNull();
  });
});
