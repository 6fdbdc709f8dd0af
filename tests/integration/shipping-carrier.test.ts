/** The carrier's HTTP adapter against the fake carrier over a real socket, and the fake's own contract (webhooks, signing, standalone). */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { type FakeCarrier, signCarrierWebhook, startFakeCarrier } from "../../apps/fakes/carrier.ts";
import { PermanentDeliveryError } from "../../modules/outbox/index.ts";
import { CarrierTooLateError, HttpCarrier } from "../../modules/shipping/index.ts";

let fake: FakeCarrier;
let adapter: HttpCarrier;
let n = 0;
const key = () => `evt-${++n}-${Math.random().toString(36).slice(2, 8)}`;
const request = (orderId: number, idempotencyKey = key()) => ({
  idempotencyKey,
  orderId,
  address: "1 Main St, Seoul 04524",
  items: [{ productId: 1, productName: "Kettle", quantity: 1 }],
});

beforeAll(() => {
  fake = startFakeCarrier();
  adapter = new HttpCarrier({ baseUrl: fake.url, timeoutMs: 300 });
});
afterAll(() => fake.stop());
beforeEach(() => fake.control.reset());

async function failure(call: Promise<unknown>): Promise<Error> {
  try {
    await call;
  } catch (error) {
    if (error instanceof Error) return error;
    throw error;
  }
  throw new Error("expected the call to fail");
}

describe("HttpCarrier against the fake carrier", () => {
  test("books, and answers the same key with the same booking", async () => {
    const k = key();
    const first = await adapter.createShipment(request(101, k));
    expect(first.carrier).toBe("fake-carrier");
    expect(first.trackingNumber).toMatch(/^FC000\d{3}[0-9A-F]{6}$/);
    expect(await adapter.createShipment(request(101, k))).toEqual(first);
    expect(fake.shipmentsFor(101)).toHaveLength(1);
    expect(fake.stats()).toMatchObject({ createRequests: 2, created: 1, replayed: 1 });
  });

  test("sends JSON with the Idempotency-Key header and the API key", async () => {
    const seen: Array<{ url: string; headers: Record<string, string>; body: unknown }> = [];
    const spying = new HttpCarrier({
      baseUrl: `${fake.url}/`,
      timeoutMs: 300,
      apiKey: "carrier-api-key",
      fetch: (async (input: string | URL | Request, init?: RequestInit) => {
        seen.push({ url: String(input), headers: init?.headers as Record<string, string>, body: JSON.parse(String(init?.body)) });
        return Response.json({ carrier: "spy", trackingNumber: "SPY-1" }, { status: 201 });
      }) as typeof fetch,
    });
    expect(await spying.createShipment(request(7, "evt-fixed-key"))).toEqual({ carrier: "spy", trackingNumber: "SPY-1" });
    expect(seen).toEqual([
      {
        url: `${fake.url}/v1/shipments`,
        headers: { "Content-Type": "application/json", "Idempotency-Key": "evt-fixed-key", Authorization: "Bearer carrier-api-key" },
        body: { orderId: 7, address: "1 Main St, Seoul 04524", items: [{ productId: 1, productName: "Kettle", quantity: 1 }] },
      },
    ]);
  });

  test("503 is retryable (a plain Error); nothing is booked", async () => {
    fake.control.failNext(1);
    const error = await failure(adapter.createShipment(request(102)));
    expect(error).not.toBeInstanceOf(PermanentDeliveryError);
    expect(error.message).toContain("HTTP 503");
    expect(fake.stats()).toMatchObject({ created: 0, failed: 1 });
  });

  test("4xx is permanent: no address (422), the same key for another order (409)", async () => {
    const noAddress = await failure(adapter.createShipment({ ...request(103), address: "" }));
    expect(noAddress).toBeInstanceOf(PermanentDeliveryError);
    expect(noAddress.message).toContain("HTTP 422");
    const k = key();
    await adapter.createShipment(request(104, k));
    const mismatch = await failure(adapter.createShipment(request(105, k)));
    expect(mismatch).toBeInstanceOf(PermanentDeliveryError);
    expect(mismatch.message).toContain("IDEMPOTENCY_KEY_MISMATCH");
  });

  test("408 and 429 and an unreadable 2xx are retryable", async () => {
    for (const [status, body] of [
      [408, "slow"],
      [429, "throttled"],
      [200, "<html>proxy</html>"],
    ] as const) {
      const odd = new HttpCarrier({
        baseUrl: "http://carrier.test",
        timeoutMs: 300,
        fetch: (async () => new Response(body, { status })) as unknown as typeof fetch,
      });
      const error = await failure(odd.createShipment(request(106)));
      expect(error).not.toBeInstanceOf(PermanentDeliveryError);
      expect(error.message).toContain(String(status));
    }
  });

  test("a timeout and an unreachable carrier are retryable", async () => {
    fake.control.latency(200);
    const slow = new HttpCarrier({ baseUrl: fake.url, timeoutMs: 50 });
    const timedOut = await failure(slow.createShipment(request(107)));
    expect(timedOut).not.toBeInstanceOf(PermanentDeliveryError);
    expect(timedOut.message).toBe("carrier: no answer within 50 ms");

    const gone = startFakeCarrier();
    const url = gone.url;
    await gone.stop();
    const unreachable = await failure(new HttpCarrier({ baseUrl: url, timeoutMs: 300 }).createShipment(request(108)));
    expect(unreachable).not.toBeInstanceOf(PermanentDeliveryError);
    expect(unreachable.message).toStartWith("carrier: unreachable:");
  });

  test("cancel: twice is fine; once in transit it is CarrierTooLateError; an unknown number is permanent", async () => {
    const booked = await adapter.createShipment(request(109));
    await adapter.cancelShipment({ trackingNumber: booked.trackingNumber });
    await adapter.cancelShipment({ trackingNumber: booked.trackingNumber });
    expect(fake.shipment(booked.trackingNumber)?.status).toBe("cancelled");
    expect(fake.stats()).toMatchObject({ cancelRequests: 2, cancelled: 1 });

    const moving = await adapter.createShipment(request(110));
    await fake.advance(moving.trackingNumber, "in_transit", { notify: false });
    const tooLate = await failure(adapter.cancelShipment({ trackingNumber: moving.trackingNumber }));
    expect(tooLate).toBeInstanceOf(CarrierTooLateError);
    expect((tooLate as CarrierTooLateError).trackingNumber).toBe(moving.trackingNumber);
    expect(fake.shipment(moving.trackingNumber)?.status).toBe("in_transit");

    const unknown = await failure(adapter.cancelShipment({ trackingNumber: "NOPE-1" }));
    expect(unknown).toBeInstanceOf(PermanentDeliveryError);
    expect(unknown.message).toContain("HTTP 404");
  });
});

describe("fake carrier webhooks", () => {
  test("signCarrierWebhook is t=<seconds>,v1=<HMAC-SHA256 hex of '<t>.<body>'>", () => {
    const expected = new Bun.CryptoHasher("sha256", "s3cret").update('1795251600.{"a":1}').digest("hex");
    expect(signCarrierWebhook("s3cret", '{"a":1}', 1_795_251_600.9)).toBe(`t=1795251600,v1=${expected}`);
    expect(expected).toHaveLength(64);
  });

  test("advance POSTs a signed webhook to webhookUrl over real HTTP", async () => {
    const received: Array<{ path: string; signature: string | null; type: string | null; body: string }> = [];
    const receiver = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      async fetch(req) {
        received.push({
          path: new URL(req.url).pathname,
          signature: req.headers.get("x-carrier-signature"),
          type: req.headers.get("content-type"),
          body: await req.text(),
        });
        return Response.json({ status: "applied" });
      },
    });
    const at = new Date("2026-11-21T10:00:00Z");
    const carrier = startFakeCarrier({ webhookUrl: `http://127.0.0.1:${receiver.port}/webhooks/carrier`, webhookSecret: "hook-secret", now: () => at });
    try {
      const booked = await new HttpCarrier({ baseUrl: carrier.url, timeoutMs: 300 }).createShipment(request(201));
      const delivery = await carrier.advance(booked.trackingNumber, "in_transit", { eventId: "evt-201-1" });
      expect(delivery.status).toBe(200);
      expect(delivery.body).toEqual({ status: "applied" });
      expect(received).toHaveLength(1);
      const [hook] = received;
      expect(hook?.path).toBe("/webhooks/carrier");
      expect(hook?.type).toBe("application/json");
      expect(JSON.parse(hook?.body ?? "")).toEqual({
        eventId: "evt-201-1",
        trackingNumber: booked.trackingNumber,
        status: "in_transit",
        occurredAt: at.toISOString(),
        description: "Picked up by the carrier",
      });
      expect(hook?.signature).toBe(signCarrierWebhook("hook-secret", hook?.body ?? "", at.getTime() / 1000));
      expect(carrier.shipment(booked.trackingNumber)?.status).toBe("in_transit");
      expect(carrier.stats()).toMatchObject({ webhooksSent: 1, webhooksRefused: 0 });
    } finally {
      await carrier.stop();
      await receiver.stop(true);
    }
  });

  test("runs standalone: HTTP controls and /_advance", async () => {
    const proc = Bun.spawn([process.execPath, "apps/fakes/carrier.ts"], {
      cwd: `${import.meta.dir}/../..`,
      env: { ...process.env, PORT: "0", FAKE_CARRIER_WEBHOOK_URL: "http://127.0.0.1:9/unreachable" },
      stdout: "pipe",
      stderr: "pipe",
    });
    try {
      const reader = proc.stdout.getReader();
      let banner = "";
      while (!banner.includes("\n")) {
        const { value, done } = await reader.read();
        if (done) break;
        banner += new TextDecoder().decode(value);
      }
      const url = /listening on (http:\/\/\S+)/.exec(banner)?.[1];
      expect(url).toBeDefined();
      expect(await (await fetch(`${url}/health`)).json()).toEqual({ status: "ok" });
      const booked = await new HttpCarrier({ baseUrl: url as string, timeoutMs: 1_000 }).createShipment(request(301));
      expect((await (await fetch(`${url}/v1/shipments/${booked.trackingNumber}`)).json()) as object).toMatchObject({
        trackingNumber: booked.trackingNumber,
        status: "booked",
        orderId: 301,
      });
      const advanced = await fetch(`${url}/_advance`, {
        method: "POST",
        body: JSON.stringify({ trackingNumber: booked.trackingNumber, status: "in_transit" }),
      });
      expect(((await advanced.json()) as { status: number }).status).toBe(0); // the receiver is unreachable
      expect(await (await fetch(`${url}/_stats`)).json()).toMatchObject({ created: 1, webhooksSent: 1, webhooksRefused: 1 });
    } finally {
      proc.kill();
      await proc.exited;
    }
  });
});
