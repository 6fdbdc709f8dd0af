/**
 * Authorization, enumerated from the router: every procedure called by customer A with customer B's
 * ids (orders, issued coupons, coupons, products in B's cart and restock sign-ups, B's user id, the
 * outbox events of B's orders) must return nothing of B's and change nothing of B's; every admin
 * procedure (by path, `.admin.`, and by what its middleware answers) refuses a customer (FORBIDDEN)
 * and an anonymous caller (UNAUTHENTICATED), whatever the input. A new procedure is covered as soon
 * as it is in the router: the ids go into whichever input keys it names.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sql } from "kysely";
import superjson from "superjson";
import { type Customer, startTestAgora, type TestAgora } from "../support/agora.ts";
import { fieldsOf, type ProcedureInfo, plausible, proceduresOf } from "../support/procedures.ts";

let t: TestAgora;
let a: Customer;
let b: Customer;
const bOwns = {
  userId: 0,
  orderIds: [] as number[],
  userCouponId: 0,
  couponId: 0,
  productIds: [] as number[],
  eventIds: [] as string[],
  shipmentIds: [] as number[],
  addressIds: [] as number[],
  secrets: [] as string[],
};

const ADDRESS = "B's secret address, 12 Hidden Lane, Seoul";

beforeAll(async () => {
  t = await startTestAgora();
  const admin = await t.admin();
  [a, b] = (await t.signUpCustomers(2, "authz")) as [Customer, Customer];
  await b.client.identity.updateProfile.mutate({ phone: "010-9999-8888" });
  const product = await t.createProduct({ stock: 50, price: 5_000 });
  const soldOut = await t.createProduct({ stock: 0 });
  await t.fund(b, 100_000);
  await t.fund(a, 10_000);
  const coupon = await admin.client.coupons.admin.create.mutate({
    name: "Authz coupon",
    discountType: "fixed",
    discountValue: 1_000,
    totalQuantity: 10,
    issueStartsAt: new Date(t.clock.now().getTime() - 60_000),
    issueEndsAt: new Date(t.clock.now().getTime() + 86_400_000),
    validDays: 7,
  });
  const issued = await b.client.coupons.issue.mutate({ couponId: coupon.couponId });
  const paid = await b.client.orders.place.mutate({ items: [{ productId: product.id, quantity: 2 }], shippingAddress: ADDRESS });
  const pending = await b.client.orders.create.mutate({ items: [{ productId: product.id, quantity: 1 }], userCouponId: issued.userCouponId });
  await b.client.cart.addItem.mutate({ productId: product.id, quantity: 3 });
  await b.client.catalog.signUpForRestock.mutate({ productId: soldOut.id });
  const bookEntry = await b.client.addresses.add.mutate({ label: "B home", recipient: "B Recipient", address: "B's address book entry, 3 Hidden Lane" });
  for (let i = 0; i < 3; i++) await t.agora.outboxPoller.runOnce(); // books B's shipment
  const shipment = await admin.client.shipping.admin.get.query({ orderId: paid.orderId });

  bOwns.userId = b.id;
  bOwns.orderIds = [paid.orderId, pending.orderId];
  bOwns.userCouponId = issued.userCouponId;
  bOwns.couponId = coupon.couponId;
  bOwns.productIds = [product.id, soldOut.id];
  bOwns.shipmentIds = [shipment.shipmentId];
  bOwns.addressIds = [bookEntry.addressId];
  bOwns.eventIds = (await t.db.selectFrom("outbox_events").select("id").where("aggregate_id", "in", bOwns.orderIds.map(String)).execute()).map((r) => r.id);
  bOwns.secrets = [b.email, ADDRESS, "010-9999-8888", "B Recipient", "3 Hidden Lane", ...(shipment.trackingNumber ? [shipment.trackingNumber] : [])];
  expect(bOwns.eventIds.length).toBeGreaterThan(0);
});

afterAll(async () => {
  await t?.close();
});

/** B's values for each id-like input key. */
function idsFor(key: string): unknown[] {
  switch (key) {
    case "orderId":
      return bOwns.orderIds;
    case "userCouponId":
      return [bOwns.userCouponId];
    case "couponId":
      return [bOwns.couponId];
    case "productId":
      return bOwns.productIds;
    case "userId":
      return [bOwns.userId];
    case "eventId":
    case "sourceEventId":
      return bOwns.eventIds.slice(0, 2);
    case "shipmentId":
      return bOwns.shipmentIds;
    case "addressId":
      return bOwns.addressIds;
    default:
      return [];
  }
}

/** One input per B id the procedure's input can name (each id key in turn), or the plausible input when it names none. */
function inputsNamingB(procedure: ProcedureInfo): Array<{ label: string; input: unknown }> {
  const baseline = procedure.input ? plausible(procedure.input) : undefined;
  const fields = fieldsOf(procedure.input) ?? {};
  const out: Array<{ label: string; input: unknown }> = [];
  for (const key of Object.keys(fields)) {
    for (const id of idsFor(key)) out.push({ label: `${key}=${String(id)}`, input: { ...(baseline as object), [key]: id } });
  }
  return out.length > 0 ? out : [{ label: "no id", input: baseline }];
}

/** The caller's own logout last: it ends the token every other call uses. */
function logoutLast(procedures: ProcedureInfo[]): ProcedureInfo[] {
  return [...procedures.filter((p) => p.path !== "identity.logout"), ...procedures.filter((p) => p.path === "identity.logout")];
}

interface Answer {
  status: number;
  body: unknown;
}

async function call(procedure: ProcedureInfo, token: string | null, input: unknown): Promise<Answer> {
  const wire = input === undefined ? undefined : JSON.stringify(superjson.serialize(input));
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const request =
    procedure.type === "query"
      ? new Request(`http://agora.test/trpc/${procedure.path}${wire ? `?input=${encodeURIComponent(wire)}` : ""}`, { headers })
      : new Request(`http://agora.test/trpc/${procedure.path}`, {
          method: "POST",
          headers: { ...headers, "content-type": "application/json" },
          body: wire ?? "",
        });
  const response = await t.agora.app.fetch(request);
  return { status: response.status, body: await response.json() };
}

const domainCodeOf = (answer: Answer) => (answer.body as { error?: { json?: { data?: { domainCode?: string } } } }).error?.json?.data?.domainCode ?? null;

/** Where in an answer something of B's shows: B's user id, orders, issued coupon, shipment, or a secret string. */
function leaksOfB(value: unknown, path = "$"): string[] {
  if (typeof value === "string") return bOwns.secrets.some((secret) => value.includes(secret)) ? [`${path}: "${value.slice(0, 60)}"`] : [];
  if (typeof value !== "object" || value === null) return [];
  const leaks: string[] = [];
  for (const [key, inner] of Object.entries(value)) {
    if (key === "userId" && inner === bOwns.userId) leaks.push(`${path}.userId`);
    if (key === "orderId" && bOwns.orderIds.includes(inner as number)) leaks.push(`${path}.orderId`);
    if (key === "userCouponId" && inner === bOwns.userCouponId) leaks.push(`${path}.userCouponId`);
    if (key === "shipmentId" && bOwns.shipmentIds.includes(inner as number)) leaks.push(`${path}.shipmentId`);
    leaks.push(...leaksOfB(inner, `${path}.${key}`));
  }
  return leaks;
}

/** A fingerprint of every row that is B's: B's user row, rows with B's user_id, rows of B's orders and shipment. */
async function rowsOfB(): Promise<Record<string, string>> {
  const columns = await sql<{ table: string; column: string }>`
    SELECT table_name AS table, column_name AS column FROM information_schema.columns
    WHERE table_schema = 'public' AND column_name IN ('user_id', 'order_id', 'shipment_id')
    ORDER BY table_name, column_name`.execute(t.db);
  const out: Record<string, string> = {};
  const fingerprint = async (label: string, query: ReturnType<typeof sql<{ n: string; sum: string | null }>>) => {
    const row = (await query.execute(t.db)).rows[0];
    out[label] = `${row?.n} rows, ${row?.sum ?? "empty"}`;
  };
  await fingerprint("identity_users", sql`SELECT count(*)::text AS n, md5(string_agg(u::text, '|')) AS sum FROM identity_users u WHERE u.id = ${bOwns.userId}`);
  for (const { table, column } of columns.rows) {
    const ids = column === "user_id" ? [bOwns.userId] : column === "order_id" ? bOwns.orderIds : bOwns.shipmentIds;
    await fingerprint(
      `${table}.${column}`,
      sql`SELECT count(*)::text AS n, md5(string_agg(r::text, '|' ORDER BY r::text)) AS sum FROM ${sql.table(table)} r WHERE r.${sql.ref(column)} = ANY(${ids}::bigint[])`,
    );
  }
  return out;
}

describe("authorization, enumerated from the router", () => {
  test("customer A naming B's ids gets nothing of B's and changes nothing of B's", async () => {
    const procedures = proceduresOf(t.agora.router);
    const before = await rowsOfB();
    const problems: string[] = [];
    let calls = 0;
    let idCalls = 0;
    for (const procedure of logoutLast(procedures)) {
      for (const { label, input } of inputsNamingB(procedure)) {
        const answer = await call(procedure, a.token, input);
        calls++;
        if (label !== "no id") idCalls++;
        if (answer.status >= 500) problems.push(`${procedure.path} (${label}): ${answer.status}`);
        // A refusal may echo the id A sent (ORDER_NOT_FOUND { orderId }); only B's own strings would be a leak there.
        const leaks = "error" in (answer.body as object) ? leaksOfB(JSON.stringify(answer.body)) : leaksOfB(answer.body);
        if (leaks.length > 0) problems.push(`${procedure.path} (${label}) shows B's ${leaks.slice(0, 3).join(", ")}`);
      }
    }
    expect(problems).toEqual([]);
    expect(await rowsOfB()).toEqual(before);
    console.info(
      `authz: ${procedures.length} procedures, ${calls} calls as customer A (${idCalls} naming B's ids): nothing of B's shown, nothing of B's changed`,
    );
  });

  test("the check can fail: an admin naming B's order sees B's data, and the detector says so", async () => {
    const admin = await t.admin();
    const procedure = proceduresOf(t.agora.router).find((p) => p.path === "orders.admin.get") as ProcedureInfo;
    const answer = await call(procedure, admin.token, { orderId: bOwns.orderIds[0] });
    expect(answer.status).toBe(200);
    expect(leaksOfB(answer.body).length).toBeGreaterThan(0);
  });

  test("every admin procedure refuses a customer and an anonymous caller, whatever the input", async () => {
    const procedures = proceduresOf(t.agora.router);
    const customer = await t.signUpCustomer("not-admin");
    const before = await rowsOfB();
    const problems: string[] = [];
    const adminOnly: string[] = [];
    for (const procedure of logoutLast(procedures)) {
      const inputs = [...inputsNamingB(procedure), { label: "nothing", input: undefined }];
      const asCustomer = await Promise.all(inputs.map(({ input }) => call(procedure, customer.token, input)));
      const named = procedure.path.includes(".admin.");
      // Admin-only by its middleware: FORBIDDEN to a customer whatever the input.
      const forbidden = asCustomer.every((answer) => answer.status === 403 && domainCodeOf(answer) === "FORBIDDEN");
      if (named && !forbidden) problems.push(`${procedure.path}: a customer got ${asCustomer.map((x) => `${x.status} ${domainCodeOf(x)}`).join(", ")}`);
      if (!forbidden) continue;
      adminOnly.push(procedure.path);
      for (const { label, input } of inputs) {
        const anonymous = await call(procedure, null, input);
        if (anonymous.status !== 401 || domainCodeOf(anonymous) !== "UNAUTHENTICATED")
          problems.push(`${procedure.path} (${label}) anonymous: ${anonymous.status}`);
      }
    }
    expect(problems).toEqual([]);
    expect(adminOnly.length).toBeGreaterThan(25);
    expect(adminOnly.filter((path) => !path.includes(".admin."))).toEqual([]); // admin-only procedures are named so
    expect(await rowsOfB()).toEqual(before);
    console.info(`authz: ${adminOnly.length} admin procedures refuse customers (FORBIDDEN) and anonymous callers (UNAUTHENTICATED)`);
  });
});
