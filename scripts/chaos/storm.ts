/**
 * The mixed storm: a few hundred customers, each running a short shopping script over plain HTTP
 * (tRPC's wire format, one call per request) and retrying every step like a real client until it
 * gets a definite answer:
 *
 *   1. wallet.charge with its own idempotency key
 *   2. coupons.issue on the one first-come-first-served coupon (fewer units than customers)
 *   3. orders.place of the hot product (less stock than customers), with the coupon when it got one,
 *      with an idempotency key
 *   4. half of them: orders.place of an ordinary product, with a key
 *   5. a third of them: orders.cancel of one of their orders
 *   6. a third of them: a second wallet.charge, with a new key
 *
 * A definite answer is a 2xx or a 4xx other than IDEMPOTENCY_IN_PROGRESS and TOO_MANY_REQUESTS;
 * a transport error (refused, reset, timeout), a 5xx and those two 4xx are retried with the same
 * input (same key) after an exponential backoff with jitter (0.2 s doubling up to 8 s), until the step's deadline. Every attempt is recorded with
 * its start and end time, so 5xx answers can be held against the fault windows.
 *
 * Customers start spread over `spreadMs` and pause `thinkMs` between steps, so faults land mid-storm.
 * Bounded: at most customers × 6 steps, each given up after `stepDeadlineMs`.
 */
import { sleep } from "../bench/util.ts";

export interface StormPlan {
  url: string;
  customers: Array<{ id: number; token: string }>;
  couponId: number;
  hotProductId: number;
  plainProductIds: number[];
  spreadMs: number;
  thinkMs: [number, number];
  stepDeadlineMs: number;
  requestTimeoutMs: number;
  /** Milliseconds since the storm's clock started. */
  clock: () => number;
}

export type Step = "charge" | "issue" | "place-hot" | "place-plain" | "cancel" | "charge-again" | "lookup";

export interface Attempt {
  step: Step;
  startMs: number;
  endMs: number;
  /** HTTP status, or 0 for a transport error (refused, reset, timed out). */
  status: number;
  /** "ok", the domain code, the tRPC code, or TRANSPORT:<reason>. */
  code: string;
}

export interface StepOutcome {
  step: Step;
  customerId: number;
  /** The definite answer's code, or null when the step was given up. */
  code: string | null;
  attempts: number;
  /** Whether any attempt of it ended without an answer (transport error or 5xx): the customer cannot know what happened. */
  hadUnknown: boolean;
}

export interface AcknowledgedOrder {
  customerId: number;
  orderId: number;
  finalAmount: number;
  /** What the customer was told about its cancellation: acknowledged (ok), refused/unknown, or never asked. */
  cancel: "acknowledged" | "unknown" | "none";
}

export interface StormRecord {
  attempts: Attempt[];
  steps: StepOutcome[];
  orders: AcknowledgedOrder[];
  /** Charges answered ok: (customer, key, amount). */
  charges: Array<{ customerId: number; key: string; amount: number }>;
  /** Customers told they hold the coupon (ok, or ALREADY_ISSUED on a retry). */
  couponHolders: number[];
  /** Customers told COUPON_SOLD_OUT. */
  soldOutAnswers: number;
  startedAtMs: number;
  endedAtMs: number;
}

const RETRYABLE_4XX = new Set(["IDEMPOTENCY_IN_PROGRESS", "TOO_MANY_REQUESTS"]);

interface Answer {
  status: number;
  code: string;
  data: unknown;
}

async function call(
  plan: StormPlan,
  step: Step,
  record: StormRecord,
  path: string,
  input: unknown,
  token: string,
  kind: "mutation" | "query",
): Promise<Answer> {
  const startMs = plan.clock();
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  let response: Response;
  let text: string;
  try {
    if (kind === "mutation") {
      headers["content-type"] = "application/json";
      response = await fetch(`${plan.url}/trpc/${path}`, {
        method: "POST",
        headers,
        body: JSON.stringify({ json: input }),
        signal: AbortSignal.timeout(plan.requestTimeoutMs),
      });
    } else {
      const query = input === undefined ? "" : `?input=${encodeURIComponent(JSON.stringify({ json: input }))}`;
      response = await fetch(`${plan.url}/trpc/${path}${query}`, { headers, signal: AbortSignal.timeout(plan.requestTimeoutMs) });
    }
    text = await response.text();
  } catch (error) {
    const reason = error instanceof Error ? ((error as { code?: string }).code ?? error.name) : "error";
    const answer = { status: 0, code: `TRANSPORT:${reason}`, data: null };
    record.attempts.push({ step, startMs, endMs: plan.clock(), status: 0, code: answer.code });
    return answer;
  }
  let code = `HTTP_${response.status}`;
  let data: unknown = null;
  try {
    const parsed = JSON.parse(text) as {
      result?: { data?: { json?: unknown } };
      error?: { json?: { data?: { domainCode?: string | null; code?: string } } };
    };
    if (response.ok) {
      code = "ok";
      data = parsed.result?.data?.json ?? null;
    } else {
      const d = parsed.error?.json?.data;
      code = d?.domainCode ?? d?.code ?? code;
    }
  } catch {
    // not JSON: keep HTTP_<status>
  }
  record.attempts.push({ step, startMs, endMs: plan.clock(), status: response.status, code });
  return { status: response.status, code, data };
}

/** Calls until a definite answer or the step's deadline; the same input every time (same idempotency key). */
async function untilDefinite(
  plan: StormPlan,
  step: Step,
  record: StormRecord,
  customer: { id: number; token: string },
  path: string,
  input: unknown,
  kind: "mutation" | "query" = "mutation",
): Promise<{ answer: Answer | null; hadUnknown: boolean }> {
  const deadline = plan.clock() + plan.stepDeadlineMs;
  let attempts = 0;
  let hadUnknown = false;
  for (;;) {
    attempts++;
    const answer = await call(plan, step, record, path, input, customer.token, kind);
    const definite = (answer.status >= 200 && answer.status < 300) || (answer.status >= 400 && answer.status < 500 && !RETRYABLE_4XX.has(answer.code));
    if (answer.status === 0 || answer.status >= 500) hadUnknown = true;
    if (definite) {
      if (step !== "lookup") record.steps.push({ step, customerId: customer.id, code: answer.code, attempts, hadUnknown });
      return { answer, hadUnknown };
    }
    if (plan.clock() >= deadline) {
      if (step !== "lookup") record.steps.push({ step, customerId: customer.id, code: null, attempts, hadUnknown });
      return { answer: null, hadUnknown };
    }
    // Exponential backoff with jitter, capped at 8 s: a crowd that lost its server does not come back all at once.
    await sleep(Math.min(8_000, 200 * 2 ** Math.min(attempts - 1, 6)) * (0.5 + Math.random() / 2));
  }
}

const think = (plan: StormPlan) => sleep(plan.thinkMs[0] + Math.random() * (plan.thinkMs[1] - plan.thinkMs[0]));

async function shop(plan: StormPlan, record: StormRecord, customer: { id: number; token: string }, index: number): Promise<void> {
  const charge = async (step: Step, amount: number) => {
    const key = crypto.randomUUID();
    const { answer } = await untilDefinite(plan, step, record, customer, "wallet.charge", { amount, idempotencyKey: key });
    if (answer?.code === "ok") record.charges.push({ customerId: customer.id, key, amount });
  };

  await charge("charge", 20_000 + (index % 5) * 1_000);
  await think(plan);

  let userCouponId: number | null = null;
  const issued = await untilDefinite(plan, "issue", record, customer, "coupons.issue", { couponId: plan.couponId });
  if (issued.answer?.code === "ok") userCouponId = (issued.answer.data as { userCouponId?: number } | null)?.userCouponId ?? null;
  if (issued.answer?.code === "ok" || issued.answer?.code === "ALREADY_ISSUED") record.couponHolders.push(customer.id);
  if (issued.answer?.code === "COUPON_SOLD_OUT") record.soldOutAnswers++;
  if (issued.answer?.code === "ALREADY_ISSUED") {
    // Its first answer was lost: find the coupon the way a client would.
    const mine = await untilDefinite(plan, "lookup", record, customer, "coupons.mine", { status: "available" }, "query");
    // A plain list today; a page ({ items }) if coupons.mine becomes paged.
    const data = mine.answer?.data as
      | Array<{ couponId?: number; userCouponId?: number }>
      | { items?: Array<{ couponId?: number; userCouponId?: number }> }
      | null;
    const list = Array.isArray(data) ? data : (data?.items ?? []);
    userCouponId = list.find((c) => c.couponId === plan.couponId)?.userCouponId ?? null;
  }
  await think(plan);

  const placed: AcknowledgedOrder[] = [];
  const place = async (step: Step, items: Array<{ productId: number; quantity: number }>, coupon: number | null) => {
    const input = {
      items,
      shippingAddress: `${customer.id} Chaos-ro, Seoul`,
      idempotencyKey: crypto.randomUUID(),
      ...(coupon ? { userCouponId: coupon } : {}),
    };
    const { answer } = await untilDefinite(plan, step, record, customer, "orders.place", input);
    if (answer?.code === "ok") {
      const data = answer.data as { orderId: number; finalAmount: number };
      const order: AcknowledgedOrder = { customerId: customer.id, orderId: data.orderId, finalAmount: data.finalAmount, cancel: "none" };
      placed.push(order);
      record.orders.push(order);
    }
  };
  await place("place-hot", [{ productId: plan.hotProductId, quantity: 1 }], userCouponId);
  await think(plan);
  if (index % 2 === 0) {
    await place("place-plain", [{ productId: plan.plainProductIds[index % plan.plainProductIds.length] as number, quantity: 1 + (index % 2) }], null);
    await think(plan);
  }
  const toCancel = placed[index % Math.max(1, placed.length)];
  if (index % 3 === 0 && toCancel) {
    const { answer } = await untilDefinite(plan, "cancel", record, customer, "orders.cancel", { orderId: toCancel.orderId });
    toCancel.cancel = answer?.code === "ok" ? "acknowledged" : "unknown";
    await think(plan);
  }
  if (index % 3 === 1) await charge("charge-again", 5_000);
}

export async function runStorm(plan: StormPlan): Promise<StormRecord> {
  const record: StormRecord = {
    attempts: [],
    steps: [],
    orders: [],
    charges: [],
    couponHolders: [],
    soldOutAnswers: 0,
    startedAtMs: plan.clock(),
    endedAtMs: 0,
  };
  const n = plan.customers.length;
  await Promise.all(
    plan.customers.map(async (customer, index) => {
      await sleep((plan.spreadMs * index) / n + Math.random() * (plan.spreadMs / n));
      await shop(plan, record, customer, index);
    }),
  );
  record.endedAtMs = plan.clock();
  return record;
}
