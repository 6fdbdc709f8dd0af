/**
 * Fuzz: every procedure of the router (enumerated from the router, so a new one is fuzzed without
 * anyone remembering to), as an anonymous visitor, a customer and an admin, with fast-check-made
 * hostile inputs — wrong types, missing and extra keys, negative, zero, huge and non-finite numbers,
 * long and odd unicode, NUL, prototype keys, deep nesting — and the raw HTTP oddities (bad JSON,
 * wrong content type, huge bodies, oversized batches, invalid UTF-8), over real HTTP (Bun.serve in
 * front of the composed app).
 *
 * Every input the server's own policy refuses must answer a clean refusal: BAD_REQUEST with field or
 * form errors, or the access refusal of the role (UNAUTHENTICATED, FORBIDDEN), never a 5xx, and no
 * row of any table may change (row counts and a checksum of every table, before and after).
 * Inputs the policy accepts (hostile values that are still valid) are sent afterwards and must only
 * never answer a 5xx. Seeded (FUZZ_SEED) and bounded (FUZZ_RUNS inputs per procedure and role).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fc from "fast-check";
import superjson from "superjson";
import { MAX_INPUT_DEPTH } from "../../modules/kernel/index.ts";
import { type Customer, startTestAgora, type TestAgora } from "../support/agora.ts";
import { fieldsOf, isOptional, type ProcedureInfo, plausible, proceduresOf, serverAccepts, tableFingerprints } from "../support/procedures.ts";

const SEED = Number(process.env.FUZZ_SEED ?? 20261202);
const RUNS = Number(process.env.FUZZ_RUNS ?? 16);
/** ~35 s on a quiet two-core machine; the bound only keeps a busy one (or a bigger FUZZ_RUNS) from failing on time. */
const FUZZ_TIMEOUT_MS = 240_000;
const PROTOTYPE_KEYS = ["__proto__", "constructor", "prototype"] as const;

type Role = "anonymous" | "customer" | "admin";
const ROLES: Role[] = ["anonymous", "customer", "admin"];

let t: TestAgora;
let server: ReturnType<typeof Bun.serve>;
let base: string;
const tokens: Partial<Record<Role, string>> = {};

beforeAll(async () => {
  t = await startTestAgora();
  server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (request, bunServer) => t.agora.app.fetch(request, { server: bunServer }) });
  base = `http://127.0.0.1:${server.port}`;
  // Something to point at: a product in a cart, a funded wallet, an order, an issued coupon.
  const customer: Customer = await t.signUpCustomer("fuzzed");
  const admin = await t.admin();
  const product = await t.createProduct({ stock: 50 });
  await t.fund(customer, 50_000);
  await customer.client.cart.addItem.mutate({ productId: product.id, quantity: 1 });
  await customer.client.orders.place.mutate({ items: [{ productId: product.id, quantity: 1 }] });
  const coupon = await admin.client.coupons.admin.create.mutate({
    name: "Fuzz coupon",
    discountType: "fixed",
    discountValue: 1_000,
    totalQuantity: 10,
    issueStartsAt: new Date(t.clock.now().getTime() - 60_000),
    issueEndsAt: new Date(t.clock.now().getTime() + 86_400_000),
    validDays: 7,
  });
  await customer.client.coupons.issue.mutate({ couponId: coupon.couponId });
  tokens.customer = customer.token;
  tokens.admin = admin.token;
});

afterAll(async () => {
  server?.stop(true);
  await t?.close();
});

// ── hostile values ──────────────────────────────────────────────────────────

function nested(depth: number): unknown {
  let value: unknown = 1;
  for (let i = 0; i < depth; i++) value = i % 2 ? [value] : { a: value };
  return value;
}

const hostileString = fc.oneof(
  fc.constantFrom(
    "",
    " ",
    "a\u0000b",
    "\u0000",
    "line\nbreak",
    "\r\n\t",
    "\u0007\u001b[31m",
    "\u0085\u009f",
    "\uD800",
    "\uDFFFx",
    "\u202Egnp.exe",
    "e\u0301\u0301\u0301\u0301",
    "\uFEFF",
    "\u200B\u200D",
    "👩‍👩‍👧‍👦".repeat(40),
    "키보드",
    "' OR 1=1 --",
    "%00",
    "__proto__",
    "x".repeat(5_001),
    "9".repeat(400),
  ),
  fc.string({ unit: "binary", maxLength: 30 }),
  fc.string({ unit: "grapheme", maxLength: 30 }),
);

const hostileNumber = fc.oneof(
  fc.constantFrom(-1, 0, -0, 0.5, 1.5, -1e308, 1e308, 2 ** 53, 2 ** 53 + 2, -(2 ** 63), Number.MAX_VALUE, Number.MIN_VALUE, Number.NaN, Infinity, -Infinity),
  fc.double(),
  fc.integer({ min: -(2 ** 31), max: 2 ** 31 }),
);

const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(null),
  fc.constant(undefined),
  fc.boolean(),
  hostileNumber,
  hostileString,
  fc.constant([]),
  fc.constant({}),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.integer({ min: MAX_INPUT_DEPTH + 1, max: 60 }).map(nested),
  fc.constantFrom(new Date(Number.NaN), new Date(-8.64e15), new Date(8.64e15)),
  fc.bigInt(),
  fc.constantFrom(new Map([["a", 1]]), new Set([1])),
);

/** An input plus, optionally, a key superjson could not carry (prototype keys), put into the wire text. */
interface Hostile {
  label: string;
  value: unknown;
  inject?: { path: string[]; key: string; value: unknown };
}

function hostileFor(procedure: ProcedureInfo): fc.Arbitrary<Hostile> {
  const fields = fieldsOf(procedure.input) ?? {};
  const names = Object.keys(fields);
  const required = names.filter((name) => !isOptional(fields[name] as never));
  const baseline = () => (procedure.input ? (plausible(procedure.input) as Record<string, unknown>) : {});
  const asObject = (v: unknown): Record<string, unknown> => (v && typeof v === "object" && !Array.isArray(v) ? { ...(v as object) } : {});
  const choices: Array<fc.Arbitrary<Hostile>> = [
    hostileValue.map((value) => ({ label: "wrong type", value })),
    fc
      // (prototype keys have a case of their own below: superjson refuses to even serialize them)
      .tuple(
        fc.string({ maxLength: 12 }).filter((key) => !(PROTOTYPE_KEYS as readonly string[]).includes(key)),
        hostileValue,
      )
      .map(([key, value]) => ({ label: "extra key", value: { ...asObject(baseline()), [key || "extra"]: value } })),
    fc.tuple(fc.constantFrom(...PROTOTYPE_KEYS), fc.constantFrom<unknown>({ isAdmin: true }, 1, null, "x")).map(([key, value]) => ({
      label: "prototype key",
      value: baseline(),
      inject: { path: [], key, value },
    })),
    fc.constant({ label: "NUL in a key", value: { ...asObject(baseline()), "a\u0000b": 1 } }),
  ];
  if (names.length > 0) {
    choices.push(
      fc
        .tuple(fc.constantFrom(...names), hostileValue)
        .map(([name, value]) => ({ label: `${name}: hostile`, value: { ...asObject(baseline()), [name]: value } })),
      fc
        .tuple(fc.constantFrom(...names), hostileString)
        .map(([name, value]) => ({ label: `${name}: odd string`, value: { ...asObject(baseline()), [name]: value } })),
      fc
        .tuple(fc.constantFrom(...names), hostileNumber)
        .map(([name, value]) => ({ label: `${name}: odd number`, value: { ...asObject(baseline()), [name]: value } })),
      fc.array(hostileValue, { minLength: names.length, maxLength: names.length }).map((values) => ({
        label: "every field hostile",
        value: Object.fromEntries(names.map((name, i) => [name, values[i]])),
      })),
      fc.tuple(fc.constantFrom(...names), fc.constantFrom(...PROTOTYPE_KEYS)).map(([name, key]) => ({
        label: `prototype key in ${name}`,
        value: { ...asObject(baseline()), [name]: { a: 1 } },
        inject: { path: [name], key, value: { polluted: true } },
      })),
    );
  }
  if (required.length > 0) {
    choices.push(
      fc.constantFrom(...required).map((name) => {
        const value = asObject(baseline());
        delete value[name];
        return { label: `${name}: missing`, value };
      }),
    );
  }
  return fc.oneof(...choices);
}

/** The wire text the typed client would send, with any prototype key written in as a real JSON key. */
function wireOf(hostile: Hostile): string | undefined {
  if (hostile.value === undefined && !hostile.inject) return undefined;
  const envelope = superjson.serialize(hostile.value) as { json: unknown };
  if (hostile.inject) {
    let target = envelope.json as Record<string, unknown>;
    for (const key of hostile.inject.path) target = target[key] as Record<string, unknown>;
    Object.defineProperty(target, hostile.inject.key, { value: hostile.inject.value, enumerable: true, configurable: true, writable: true });
  }
  return JSON.stringify(envelope);
}

// ── HTTP ────────────────────────────────────────────────────────────────────

interface Answer {
  status: number;
  body: unknown;
}

async function send(path: string, type: ProcedureInfo["type"], role: Role, wire: string | undefined, init: RequestInit = {}): Promise<Answer> {
  const headers: Record<string, string> = { ...(tokens[role] ? { authorization: `Bearer ${tokens[role]}` } : {}) };
  const response =
    type === "query"
      ? await fetch(`${base}/trpc/${path}${wire === undefined ? "" : `?input=${encodeURIComponent(wire)}`}`, { headers, ...init })
      : await fetch(`${base}/trpc/${path}`, { method: "POST", headers: { ...headers, "content-type": "application/json" }, body: wire ?? "", ...init });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {}
  return { status: response.status, body };
}

interface ErrorData {
  code?: string;
  domainCode?: string | null;
  fieldErrors?: Record<string, string[]> | null;
  formErrors?: string[] | null;
}

function errorData(body: unknown): ErrorData | null {
  const one = Array.isArray(body) ? body[0] : body;
  return ((one as { error?: { json?: { data?: ErrorData } } })?.error?.json?.data as ErrorData | undefined) ?? null;
}

/** The refusal a refused input may get: validation with errors named, or the role's access refusal. */
function cleanRefusal(answer: Answer, role: Role): boolean {
  const data = errorData(answer.body);
  if (!data) return answer.status === 414 || answer.status === 431; // a URL too long for the HTTP server
  if (answer.status === 400 && data.code === "BAD_REQUEST" && data.domainCode === "VALIDATION_FAILED") {
    return Object.keys(data.fieldErrors ?? {}).length + (data.formErrors ?? []).length > 0;
  }
  if (answer.status === 401) return data.domainCode === "UNAUTHENTICATED" && role === "anonymous";
  if (answer.status === 403) return data.domainCode === "FORBIDDEN" && role !== "admin";
  return answer.status === 429 && data.domainCode === "RATE_LIMITED";
}

function hash(text: string): number {
  let h = 0;
  for (const char of text) h = (Math.imul(h, 31) + (char.codePointAt(0) ?? 0)) | 0;
  return h;
}

// ── the suite ───────────────────────────────────────────────────────────────

describe("fuzz: every procedure × role × hostile input", () => {
  test(
    "refused inputs answer a clean refusal, never a 5xx, and change no row; accepted ones never a 5xx",
    async () => {
      const procedures = proceduresOf(t.agora.router);
      expect(procedures.length).toBeGreaterThan(50);
      const before = await tableFingerprints(t.db);
      const problems: string[] = [];
      const accepted: Array<{ procedure: ProcedureInfo; role: Role; wire: string | undefined; label: string }> = [];
      let refused = 0;

      for (const procedure of procedures) {
        for (const role of ROLES) {
          const samples = fc.sample(hostileFor(procedure), { seed: SEED ^ hash(`${procedure.path}/${role}`), numRuns: RUNS });
          for (const hostile of samples) {
            const wire = wireOf(hostile);
            if (await serverAccepts(procedure, wire)) {
              accepted.push({ procedure, role, wire, label: hostile.label });
              continue;
            }
            const answer = await send(procedure.path, procedure.type, role, wire);
            refused++;
            if (!cleanRefusal(answer, role)) {
              problems.push(
                `${procedure.path} as ${role}, ${hostile.label} ${wire?.slice(0, 120)}: ${answer.status} ${JSON.stringify(answer.body).slice(0, 300)}`,
              );
            }
          }
        }
      }
      expect(problems.slice(0, 20)).toEqual([]);
      expect(await tableFingerprints(t.db)).toEqual(before);

      // Valid after all (a hostile value inside the bounds): it may run, but never answers a 5xx.
      // Admins last, so a customer's own logout or password change does not hide the admin's calls.
      const serverErrors: string[] = [];
      for (const call of accepted.sort((a, b) => ROLES.indexOf(a.role) - ROLES.indexOf(b.role))) {
        const answer = await send(call.procedure.path, call.procedure.type, call.role, call.wire);
        if (answer.status >= 500) serverErrors.push(`${call.procedure.path} as ${call.role}, ${call.label} ${call.wire?.slice(0, 120)}: ${answer.status}`);
      }
      expect(serverErrors).toEqual([]);

      console.info(
        `fuzz (seed ${SEED}): ${procedures.length} procedures × ${ROLES.length} roles × ${RUNS} inputs = ${procedures.length * ROLES.length * RUNS} calls; ` +
          `${refused} refused by the policy (0 5xx, 0 rows changed), ${accepted.length} valid after all (0 5xx)`,
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  test(
    "raw HTTP oddities answer 4xx, never a 5xx, and change no row",
    async () => {
      const procedures = proceduresOf(t.agora.router);
      const mutations = procedures.filter((p) => p.type === "mutation");
      const queries = procedures.filter((p) => p.type === "query");
      const before = await tableFingerprints(t.db);
      const json = { "content-type": "application/json" };
      const utf8 = new TextEncoder();
      const invalidUtf8 = new Uint8Array([...utf8.encode('{"json":{"name":"a'), 0xff, 0xfe, 0xc3, ...utf8.encode('"}}')]);
      const oddities: Array<[string, (p: ProcedureInfo) => RequestInit & { url?: string }]> = [
        ["bad JSON", () => ({ method: "POST", headers: json, body: '{"json":' })],
        ["JSON of the wrong kind", () => ({ method: "POST", headers: json, body: "[1,2,3]" })],
        ["a bare number", () => ({ method: "POST", headers: json, body: "42" })],
        ["wrong content type", () => ({ method: "POST", headers: { "content-type": "text/plain" }, body: '{"json":{}}' })],
        ["form content type", () => ({ method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: "a=1" })],
        ["huge body", () => ({ method: "POST", headers: json, body: `{"json":{"x":"${"x".repeat(t.agora ? 300_000 : 0)}"}}` })],
        ["invalid UTF-8 body", () => ({ method: "POST", headers: json, body: invalidUtf8 })],
        ["deeply nested body", () => ({ method: "POST", headers: json, body: `{"json":${"[".repeat(50_000)}${"]".repeat(50_000)}}` })],
        // (skipped where no input is a valid call: that is how a procedure taking nothing is called)
        ["empty body", () => ({ method: "POST", headers: json, body: "" })],
        ["GET to a mutation", (p) => ({ method: "GET", url: `${base}/trpc/${p.path}?input=${encodeURIComponent('{"json":{}}')}` })],
        ["oversized batch", (p) => ({ method: "POST", headers: json, url: `${base}/trpc/${Array(51).fill(p.path).join(",")}?batch=1`, body: "{}" })],
        ["batch input not an object", (p) => ({ method: "POST", headers: json, url: `${base}/trpc/${p.path},${p.path}?batch=1`, body: "5" })],
        ["mixed batch", (p) => ({ method: "POST", headers: json, url: `${base}/trpc/${p.path},catalog.categories?batch=1`, body: "{}" })],
        ["invalid UTF-8 in the query", (p) => ({ method: "POST", headers: json, url: `${base}/trpc/${p.path}?batch=%FF%FE`, body: "{}" })],
      ];
      const queryOddities: Array<[string, (p: ProcedureInfo) => string]> = [
        ["bad JSON in the query", (p) => `${base}/trpc/${p.path}?input=${encodeURIComponent('{"json":')}`],
        ["invalid UTF-8 in the query", (p) => `${base}/trpc/${p.path}?input=%7B%22json%22%3A%22%FF%22%7D`],
        ["oversized batch of queries", (p) => `${base}/trpc/${Array(51).fill(p.path).join(",")}?batch=1&input=%7B%7D`],
        ["POST to a query", (p) => `${base}/trpc/${p.path}#post`],
        ["unknown procedure", () => `${base}/trpc/no.such.procedure`],
      ];
      const problems: string[] = [];
      let tried = 0;
      for (const role of ROLES) {
        const auth: Record<string, string> = tokens[role] ? { authorization: `Bearer ${tokens[role]}` } : {};
        for (const procedure of mutations) {
          for (const [label, make] of oddities) {
            if (label === "empty body" && (await serverAccepts(procedure, undefined))) continue;
            const { url, ...init } = make(procedure);
            const response = await fetch(url ?? `${base}/trpc/${procedure.path}`, { ...init, headers: { ...(init.headers as object), ...auth } });
            tried++;
            if (response.status < 400 || response.status >= 500)
              problems.push(`${procedure.path} as ${role}, ${label}: ${response.status} ${(await response.text()).slice(0, 200)}`);
            else await response.arrayBuffer();
          }
        }
        for (const procedure of queries) {
          for (const [label, make] of queryOddities) {
            const url = make(procedure);
            const post = url.endsWith("#post");
            const response = await fetch(url.replace("#post", ""), post ? { method: "POST", headers: { ...auth, ...json }, body: "{}" } : { headers: auth });
            tried++;
            if (response.status < 400 || response.status >= 500)
              problems.push(`${procedure.path} as ${role}, ${label}: ${response.status} ${(await response.text()).slice(0, 200)}`);
            else await response.arrayBuffer();
          }
        }
      }
      expect(problems.slice(0, 20)).toEqual([]);
      expect(await tableFingerprints(t.db)).toEqual(before);
      console.info(
        `fuzz, raw HTTP: ${tried} odd requests over ${mutations.length} mutations and ${queries.length} queries × ${ROLES.length} roles; 0 5xx, 0 rows changed`,
      );
    },
    FUZZ_TIMEOUT_MS,
  );
});
