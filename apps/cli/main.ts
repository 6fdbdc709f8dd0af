/**
 * `bun run agora <command>`: the command line for operators and scripts, through the typed client
 * (@agora/client) against a running server. citty (a kept library) parses arguments and prints
 * `--help` for every command.
 *
 * Server: --url, AGORA_URL, the saved login's URL, or http://127.0.0.1:3000.
 * Token:  --token, AGORA_TOKEN, or the one `agora login --save` wrote (AGORA_CONFIG, default ~/.config/agora/login.json).
 * Output: readable text, or `--json` for scripts. Exit codes: 0 done, 1 refused by the server (the
 * domain code is printed, e.g. `agora: refused: INSUFFICIENT_STOCK (P002) Not enough stock`),
 * 2 bad usage or input file, 3 the server could not be reached.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { type AgoraClient, createAgoraClient, TRPCClientError } from "@agora/client";
import { type ArgsDef, defineCommand, runMain } from "citty";
import { parse as parseCsv } from "csv-parse/sync";

class UsageError extends Error {}

const common = {
  url: { type: "string", description: "Server base URL (default: AGORA_URL, the saved login, or http://127.0.0.1:3000)" },
  token: { type: "string", description: "Bearer token (default: AGORA_TOKEN or the saved login)" },
  json: { type: "boolean", description: "Print JSON for scripts", default: false },
} as const satisfies ArgsDef;

type CommonArgs = { url?: string; token?: string; json?: boolean };

function configPath(): string {
  return process.env.AGORA_CONFIG ?? join(homedir(), ".config", "agora", "login.json");
}

function savedLogin(): { url?: string; token?: string } {
  try {
    return JSON.parse(readFileSync(configPath(), "utf8")) as { url?: string; token?: string };
  } catch {
    return {};
  }
}

function serverUrl(args: CommonArgs): string {
  return args.url ?? process.env.AGORA_URL ?? savedLogin().url ?? "http://127.0.0.1:3000";
}

function client(args: CommonArgs, needsToken = true): AgoraClient {
  const token = args.token ?? process.env.AGORA_TOKEN ?? savedLogin().token;
  if (needsToken && !token) throw new UsageError("no token: run `agora login --save`, or pass --token / set AGORA_TOKEN");
  return createAgoraClient({ url: serverUrl(args), token, batch: false });
}

function print(args: CommonArgs, value: unknown, text?: (value: never) => string | undefined) {
  if (args.json) {
    console.log(JSON.stringify(value, null, 2));
    return;
  }
  const shown = text?.(value as never);
  if (shown !== undefined) console.log(shown);
  else if (Array.isArray(value)) console.table(value);
  else console.log(value);
}

function integer(name: string, value: string | undefined): number {
  const n = Number(value);
  if (value === undefined || value === "" || !Number.isInteger(n)) throw new UsageError(`--${name} must be a whole number (got ${value ?? "nothing"})`);
  return n;
}

function oneOf<const T extends readonly string[]>(name: string, value: string, options: T): T[number] {
  if (!options.includes(value)) throw new UsageError(`--${name} must be one of ${options.join(", ")} (got ${value})`);
  return value as T[number];
}

function optionalInteger(name: string, value: string | undefined): number | undefined {
  return value === undefined ? undefined : integer(name, value);
}

/** Runs a command's work with the CLI's error contract: refusals print the domain code and exit 1. */
async function act(work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`agora: ${error.message}`);
      process.exit(2);
    }
    if (error instanceof TRPCClientError) {
      const data = (error.data ?? {}) as {
        domainCode?: string | null;
        ref?: string | null;
        code?: string;
        details?: unknown;
        fieldErrors?: Record<string, string[]> | null;
      };
      if (data.domainCode || data.code) {
        const code = data.domainCode ?? data.code;
        const fields = data.fieldErrors
          ? ` ${Object.entries(data.fieldErrors)
              .map(([field, problems]) => `${field}: ${problems.join(", ")}`)
              .join("; ")}`
          : "";
        console.error(`agora: refused: ${code}${data.ref ? ` (${data.ref})` : ""} ${error.message}${fields}`);
        if (data.details) console.error(JSON.stringify(data.details));
        process.exit(1);
      }
      console.error(`agora: could not reach the server: ${error.message}`);
      process.exit(3);
    }
    throw error;
  }
}

// ── commands ─────────────────────────────────────────────────────────────

const login = defineCommand({
  meta: { name: "login", description: "Sign in; prints the token (or saves it with --save)" },
  args: {
    ...common,
    email: { type: "string", description: "Account email", required: true },
    password: { type: "string", description: "Password (default: AGORA_PASSWORD)" },
    save: { type: "boolean", description: "Save URL and token for later commands (AGORA_CONFIG, default ~/.config/agora/login.json)", default: false },
    "print-token": { type: "boolean", description: "Print only the token (for `token=$(agora login ...)`)", default: false },
  },
  run: ({ args }) =>
    act(async () => {
      const password = args.password ?? process.env.AGORA_PASSWORD;
      if (!password) throw new UsageError("--password (or AGORA_PASSWORD) is required");
      const session = await client(args, false).identity.login.mutate({ email: args.email, password });
      if (args.save) {
        mkdirSync(dirname(configPath()), { recursive: true });
        writeFileSync(configPath(), JSON.stringify({ url: serverUrl(args), token: session.token }), { mode: 0o600 });
      }
      if (args["print-token"]) return console.log(session.token);
      print(args, session, (s: typeof session) => `token: ${s.token}\nuser: ${s.user.email} (${s.user.role})${args.save ? `\nsaved to ${configPath()}` : ""}`);
    }),
});

const admin = defineCommand({
  meta: { name: "admin", description: "Operator accounts" },
  subCommands: {
    create: defineCommand({
      meta: { name: "create", description: "Create an admin (or promote the account with that email)" },
      args: {
        ...common,
        email: { type: "string", required: true, description: "Email" },
        password: { type: "string", required: true, description: "Password (at least 8 characters)" },
        name: { type: "string", required: true, description: "Display name" },
      },
      run: ({ args }) =>
        act(async () => {
          const profile = await client(args).identity.admin.createAdmin.mutate({ email: args.email, password: args.password, name: args.name });
          print(args, profile, (p: typeof profile) => `admin #${p.id} ${p.email} (${p.role})`);
        }),
    }),
  },
});

const products = defineCommand({
  meta: { name: "products", description: "Products" },
  subCommands: {
    import: defineCommand({
      meta: {
        name: "import",
        description: "Create products from a CSV file with a header: name,category,price[,initialStock,lowStockThreshold,description,status]",
      },
      args: { ...common, file: { type: "positional", required: true, description: "CSV file" } },
      run: ({ args }) =>
        act(async () => {
          if (!existsSync(args.file)) throw new UsageError(`no such file: ${args.file}`);
          let rows: Record<string, string>[];
          try {
            rows = parseCsv(readFileSync(args.file), { columns: true, skip_empty_lines: true, trim: true, bom: true });
          } catch (error) {
            throw new UsageError(`${args.file} is not valid CSV: ${(error as Error).message}`);
          }
          const agora = client(args);
          const created: { line: number; id: number; name: string }[] = [];
          for (const [i, row] of rows.entries()) {
            const line = i + 2; // the header is line 1
            const num = (field: string) => (row[field] === undefined || row[field] === "" ? undefined : integer(`${field} (line ${line})`, row[field]));
            const product = await agora.catalog.admin.create.mutate({
              name: row.name ?? "",
              category: row.category ?? "",
              price: num("price") ?? Number.NaN,
              initialStock: num("initialStock"),
              lowStockThreshold: num("lowStockThreshold"),
              description: row.description || undefined,
              status: (row.status || undefined) as "active" | "hidden" | undefined,
            });
            created.push({ line, id: product.id, name: product.name });
            if (!args.json) console.log(`line ${line}: product #${product.id} ${product.name}`);
          }
          if (args.json) print(args, { created });
          else console.log(`${created.length} product(s) created`);
        }),
    }),
  },
});

const stock = defineCommand({
  meta: { name: "stock", description: "Stock movements" },
  subCommands: {
    inbound: defineCommand({
      meta: { name: "inbound", description: "Goods arrived: add to a product's stock" },
      args: {
        ...common,
        product: { type: "string", required: true, description: "Product id" },
        quantity: { type: "string", required: true, description: "How many arrived" },
        reason: { type: "string", description: "Note for the movement log" },
      },
      run: ({ args }) =>
        act(async () => {
          const result = await client(args).catalog.admin.inbound.mutate({
            productId: integer("product", args.product),
            quantity: integer("quantity", args.quantity),
            reason: args.reason,
          });
          print(args, result, (r: { productId: number; stock: number }) => `product #${r.productId}: stock ${r.stock}`);
        }),
    }),
    adjust: defineCommand({
      meta: { name: "adjust", description: "Correct a product's stock after a count (signed change)" },
      args: {
        ...common,
        product: { type: "string", required: true, description: "Product id" },
        change: { type: "string", required: true, description: "Signed change, e.g. -3" },
        reason: { type: "string", required: true, description: "Why (kept in the movement log)" },
      },
      run: ({ args }) =>
        act(async () => {
          const result = await client(args).catalog.admin.adjust.mutate({
            productId: integer("product", args.product),
            change: integer("change", args.change),
            reason: args.reason,
          });
          print(args, result, (r: { productId: number; stock: number }) => `product #${r.productId}: stock ${r.stock}`);
        }),
    }),
  },
});

const coupons = defineCommand({
  meta: { name: "coupons", description: "Coupons" },
  subCommands: {
    create: defineCommand({
      meta: { name: "create", description: "Create a first-come-first-served coupon" },
      args: {
        ...common,
        name: { type: "string", required: true, description: "Coupon name" },
        type: { type: "string", required: true, description: "Discount type: fixed or percent" },
        value: { type: "string", required: true, description: "Won (fixed) or percent (1..100)" },
        total: { type: "string", required: true, description: "How many can be issued" },
        "valid-days": { type: "string", default: "30", description: "Days an issued coupon stays usable" },
        "min-order": { type: "string", description: "Smallest order amount it applies to (won)" },
        "max-discount": { type: "string", description: "Cap of a percent discount (won)" },
        starts: { type: "string", description: "Issue window start, ISO 8601 (default: now)" },
        ends: { type: "string", description: "Issue window end, ISO 8601 (default: in 7 days)" },
      },
      run: ({ args }) =>
        act(async () => {
          const starts = args.starts ? new Date(args.starts) : new Date();
          const ends = args.ends ? new Date(args.ends) : new Date(starts.getTime() + 7 * 86_400_000);
          if (Number.isNaN(starts.getTime()) || Number.isNaN(ends.getTime())) throw new UsageError("--starts and --ends take ISO 8601 dates");
          const coupon = await client(args).coupons.admin.create.mutate({
            name: args.name,
            discountType: oneOf("type", args.type, ["fixed", "percent"] as const),
            discountValue: integer("value", args.value),
            totalQuantity: integer("total", args.total),
            validDays: integer("valid-days", args["valid-days"]),
            minOrderAmount: optionalInteger("min-order", args["min-order"]),
            maxDiscountAmount: optionalInteger("max-discount", args["max-discount"]),
            issueStartsAt: starts,
            issueEndsAt: ends,
          });
          print(args, coupon, (c: typeof coupon) => `coupon #${c.couponId} ${c.name}: ${c.totalQuantity} to issue`);
        }),
    }),
  },
});

const orderStatuses = ["pending_payment", "paid", "preparing", "shipped", "delivered", "cancelled", "refunded", "expired"] as const;

const orders = defineCommand({
  meta: { name: "orders", description: "Orders" },
  subCommands: {
    list: defineCommand({
      meta: { name: "list", description: "List orders, newest first" },
      args: {
        ...common,
        status: { type: "string", description: `Only this status: ${orderStatuses.join(", ")}` },
        user: { type: "string", description: "Only this customer's (user id)" },
        limit: { type: "string", default: "20", description: "How many (1..100)" },
        cursor: { type: "string", description: "The previous page's nextCursor" },
      },
      run: ({ args }) =>
        act(async () => {
          const page = await client(args).orders.admin.list.query({
            status: args.status === undefined ? undefined : oneOf("status", args.status, orderStatuses),
            userId: optionalInteger("user", args.user),
            limit: integer("limit", args.limit),
            cursor: args.cursor,
          });
          print(args, page, (p: typeof page) =>
            [
              ...p.items.map((o) => `#${o.orderId}  ${o.status.padEnd(15)} user ${o.userId}  ${o.finalAmount} won  ${o.createdAt.toISOString()}`),
              p.items.length === 0 ? "no orders" : "",
              p.nextCursor ? `more: --cursor ${p.nextCursor}` : "",
            ]
              .filter(Boolean)
              .join("\n"),
          );
        }),
    }),
    cancel: defineCommand({
      meta: { name: "cancel", description: "Cancel an order (stock, coupon and money go back)" },
      args: {
        ...common,
        order: { type: "positional", required: true, description: "Order id" },
        reason: { type: "string", required: true, description: "Why (shown to the customer)" },
      },
      run: ({ args }) =>
        act(async () => {
          const result = await client(args).orders.admin.cancel.mutate({ orderId: integer("order", args.order), reason: args.reason });
          print(args, result, (r: { orderId: number; status: string }) => `order #${r.orderId}: ${r.status}`);
        }),
    }),
  },
});

const outbox = defineCommand({
  meta: { name: "outbox", description: "Events to the data platform, shipping and notifications" },
  subCommands: {
    list: defineCommand({
      meta: { name: "list", description: "List outbox events" },
      args: {
        ...common,
        status: { type: "string", description: "Only this status: pending, sent or dead" },
        destination: { type: "string", description: "data-platform, shipping, notifications, webhooks (fan-out) or webhook (one endpoint)" },
        limit: { type: "string", default: "20", description: "How many (1..100)" },
        cursor: { type: "string", description: "The previous page's nextCursor" },
      },
      run: ({ args }) =>
        act(async () => {
          const page = await client(args).outbox.admin.list.query({
            status: args.status === undefined ? undefined : oneOf("status", args.status, ["pending", "sent", "dead"] as const),
            destination: args.destination,
            limit: integer("limit", args.limit),
            cursor: args.cursor,
          });
          print(args, page, (p: typeof page) =>
            [
              ...p.items.map(
                (e) => `${e.id}  ${e.status.padEnd(7)} ${e.destination.padEnd(13)} ${e.type}  attempts ${e.attempts}${e.lastError ? `  (${e.lastError})` : ""}`,
              ),
              p.items.length === 0 ? "no events" : "",
              p.nextCursor ? `more: --cursor ${p.nextCursor}` : "",
            ]
              .filter(Boolean)
              .join("\n"),
          );
        }),
    }),
    retry: defineCommand({
      meta: { name: "retry", description: "Send a pending or dead event at the next poll" },
      args: { ...common, event: { type: "positional", required: true, description: "Event id (UUID)" } },
      run: ({ args }) =>
        act(async () => {
          const result = await client(args).outbox.admin.retry.mutate({ eventId: args.event });
          print(args, result, (r: typeof result) => `event ${r.eventId}: retry at ${r.retryAt.toISOString()}`);
        }),
    }),
  },
});

const periodArgs = {
  ...common,
  days: { type: "string", description: "The last N UTC days, today included (default 7)" },
  from: { type: "string", description: "Range start, ISO 8601 (with --to)" },
  to: { type: "string", description: "Range end (exclusive), ISO 8601" },
} as const satisfies ArgsDef;

function period(args: { days?: string; from?: string; to?: string }) {
  return { days: optionalInteger("days", args.days), from: args.from ? new Date(args.from) : undefined, to: args.to ? new Date(args.to) : undefined };
}

const reports = defineCommand({
  meta: { name: "reports", description: "Figures for operators" },
  subCommands: {
    sales: defineCommand({
      meta: { name: "sales", description: "Sales by day and top products" },
      args: periodArgs,
      run: ({ args }) => act(async () => print(args, await client(args).reports.admin.sales.query(period(args)))),
    }),
    inventory: defineCommand({
      meta: { name: "inventory", description: "Stock value, low and sold-out products" },
      args: common,
      run: ({ args }) => act(async () => print(args, await client(args).reports.admin.inventory.query())),
    }),
    overview: defineCommand({
      meta: { name: "overview", description: "Orders, revenue, wallets and stock at a glance" },
      args: periodArgs,
      run: ({ args }) => act(async () => print(args, await client(args).reports.admin.overview.query(period(args)))),
    }),
  },
});

export const agora = defineCommand({
  meta: { name: "agora", description: "Agora's command line for operators and scripts (through the typed API)" },
  subCommands: { login, admin, products, stock, coupons, orders, outbox, reports },
});

if (import.meta.main) await runMain(agora);
