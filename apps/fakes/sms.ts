/**
 * A fake SMS provider that speaks the HTTP contract of modules/notifications/sender.ts
 * (HttpSmsSender) over a real socket, for tests and demos.
 *
 *   POST /v1/messages   Idempotency-Key header, body { to, from?, text }
 *     202 { status: "accepted", messageId }      (a repeated key answers the same, sends nothing again)
 *     400 { status: "error", code: "BAD_REQUEST" } (no key, no recipient, empty text, or longer than maxBytes)
 *     503 { status: "error", code: "UNAVAILABLE" } (failNext / failAlways)
 *   GET  /_stats, POST /_control { failNext?, failAlways?, reset? }, GET /health
 *
 * Run standalone: `bun apps/fakes/sms.ts` (PORT, default 4040).
 */
import { Hono } from "hono";

export interface FakeSmsMessage {
  messageId: string;
  idempotencyKey: string;
  to: string;
  from: string | null;
  text: string;
}

export interface FakeSmsStats {
  received: number;
  accepted: number;
  duplicates: number;
  failed: number;
  rejected: number;
}

export interface FakeSmsProvider {
  url: string;
  control: { failNext(n: number): void; failAlways(on: boolean): void; reset(): void };
  stats(): FakeSmsStats;
  /** Messages accepted, oldest first (each once, whatever the retries). */
  messages(): FakeSmsMessage[];
  stop(): Promise<void>;
}

/** `maxBytes`: the longest text one message may carry (Korean carriers count 2 bytes per Hangul character, 90 in all). */
export function startFakeSmsProvider(options: { port?: number; hostname?: string; apiKey?: string; maxBytes?: number } = {}): FakeSmsProvider {
  const maxBytes = options.maxBytes ?? 90;
  let stats: FakeSmsStats = { received: 0, accepted: 0, duplicates: 0, failed: 0, rejected: 0 };
  let failNext = 0;
  let failAlways = false;
  let accepted = new Map<string, FakeSmsMessage>();
  let sequence = 0;

  const app = new Hono();
  app.post("/v1/messages", async (c) => {
    stats.received++;
    if (options.apiKey && c.req.header("authorization") !== `Bearer ${options.apiKey}`) {
      stats.rejected++;
      return c.json({ status: "error", code: "UNAUTHORIZED" }, 401);
    }
    const key = c.req.header("idempotency-key")?.trim();
    const body = (await c.req.json().catch(() => null)) as { to?: unknown; from?: unknown; text?: unknown } | null;
    const to = typeof body?.to === "string" ? body.to : "";
    const text = typeof body?.text === "string" ? body.text : "";
    if (!key || !to || !text || smsBytes(text) > maxBytes) {
      stats.rejected++;
      return c.json({ status: "error", code: "BAD_REQUEST", reason: `Idempotency-Key, to and a text of at most ${maxBytes} bytes are required` }, 400);
    }
    const seen = accepted.get(key);
    if (seen) {
      stats.duplicates++;
      return c.json({ status: "accepted", messageId: seen.messageId }, 202);
    }
    if (failAlways || failNext > 0) {
      if (failNext > 0) failNext--;
      stats.failed++;
      return c.json({ status: "error", code: "UNAVAILABLE" }, 503);
    }
    const message: FakeSmsMessage = { messageId: `sms_${++sequence}`, idempotencyKey: key, to, from: typeof body?.from === "string" ? body.from : null, text };
    accepted.set(key, message);
    stats.accepted++;
    return c.json({ status: "accepted", messageId: message.messageId }, 202);
  });
  app.get("/_stats", (c) => c.json(stats));
  app.get("/health", (c) => c.json({ status: "ok" }));
  app.post("/_control", async (c) => {
    const body = (await c.req.json().catch(() => ({}))) as { failNext?: number; failAlways?: boolean; reset?: boolean };
    if (body.reset) control.reset();
    if (body.failNext) control.failNext(body.failNext);
    if (body.failAlways !== undefined) control.failAlways(body.failAlways);
    return c.json({ stats, failNext, failAlways });
  });

  const control = {
    failNext(n: number) {
      failNext += n;
    },
    failAlways(on: boolean) {
      failAlways = on;
    },
    reset() {
      stats = { received: 0, accepted: 0, duplicates: 0, failed: 0, rejected: 0 };
      failNext = 0;
      failAlways = false;
      accepted = new Map();
    },
  };

  const hostname = options.hostname ?? "127.0.0.1";
  const server = Bun.serve({ port: options.port ?? 0, hostname, fetch: app.fetch });
  return {
    url: `http://${hostname}:${server.port}`,
    control,
    stats: () => ({ ...stats }),
    messages: () => [...accepted.values()],
    stop: () => server.stop(true),
  };
}

/** Bytes as Korean carriers count them: ASCII 1, anything else 2. */
function smsBytes(text: string): number {
  let bytes = 0;
  for (const char of text) bytes += char.charCodeAt(0) < 0x80 ? 1 : 2;
  return bytes;
}

if (import.meta.main) {
  const provider = startFakeSmsProvider({ port: Number(process.env.PORT ?? 4040), apiKey: process.env.FAKE_SMS_API_KEY || undefined });
  console.log(`fake SMS provider listening on ${provider.url} (POST /_control to script it, GET /_stats)`);
  const stop = () => void provider.stop().then(() => process.exit(0));
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}
