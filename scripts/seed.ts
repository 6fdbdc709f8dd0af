/**
 * `bun run seed`: demo data for trying Agora — the configured admin (ADMIN_EMAIL/ADMIN_PASSWORD),
 * SEED_CUSTOMERS (20) demo customers and SEED_PRODUCTS (300) products over 8 categories, the first few of them
 * keyboards (README's quick-start searches for them).
 *
 * Everything goes through the typed API as the admin, so the same code seeds in both places:
 * - a running server: when one answers at --url / AGORA_URL, at the URL recorded in the embedded
 *   data folder's lock, or at http://HOST:PORT — the server does the writes, nothing else opens
 *   its database (PGlite is one process's folder);
 * - no server: the database (DATABASE_URL, or PGlite in DATA_DIR) is opened here, migrated, and an
 *   in-process app answers the same calls.
 * Safe to run again: existing accounts are kept, products are only created when the catalog is empty.
 */
import { type AgoraClient, createAgoraClient, domainCodeOf } from "../apps/client/index.ts";
import { createAgora } from "../apps/server/compose.ts";
import { loadConfig } from "../apps/server/config.ts";
import { dataFolderOwner } from "../db/index.ts";
import { openAndMigrate, StartupError } from "../db/startup.ts";
import { createLogger, createMemoryInfra, systemClock } from "../modules/kernel/index.ts";
import type { DataPlatform } from "../modules/outbox/index.ts";
import { type CardGateway, CardGatewayUnavailableError } from "../modules/payments/index.ts";
import type { Carrier } from "../modules/shipping/index.ts";
import { type PaymentGateway, PaymentGatewayUnavailableError } from "../modules/wallet/index.ts";

const DEMO_PASSWORD = "agora-demo-password";
const CUSTOMER_COUNT = 20;

// ── demo catalog ─────────────────────────────────────────────────────────

interface CategorySpec {
  items: string[];
  variants: string[];
  /** Price range in won. */
  price: [number, number];
}

const brands = ["한빛", "누리", "Aurora", "서울상회", "Northwind", "바다소리", "Maple & Co", "초록마을", "Lumen", "다온"];

const categories: Record<string, CategorySpec> = {
  electronics: {
    items: [
      "무선 이어폰",
      "블루투스 스피커",
      "USB-C 충전기",
      "Mechanical Keyboard",
      "기계식 키보드",
      "Wireless Mouse",
      "보조배터리",
      "4K 모니터",
      "Smart Watch",
      "노이즈캔슬링 헤드폰",
      "Webcam",
    ],
    variants: ["블랙", "화이트", "Pro", "Mini", "2세대", "Lite"],
    price: [9_900, 500_000],
  },
  fashion: {
    items: ["오버핏 후드티", "Linen Shirt", "데님 자켓", "Wool Coat", "슬랙스", "Canvas Sneakers", "니트 가디건", "Leather Belt", "에코백", "Baseball Cap"],
    variants: ["S", "M", "L", "XL", "네이비", "베이지"],
    price: [12_000, 350_000],
  },
  beauty: {
    items: ["수분 크림", "Vitamin C Serum", "선크림 SPF50+", "클렌징 폼", "Lip Balm", "시트 마스크 10매", "Hand Cream", "토너 패드", "Hair Oil", "쿠션 팩트"],
    variants: ["50ml", "100ml", "대용량", "Travel Size", "무향", "Sensitive"],
    price: [4_900, 89_000],
  },
  food: {
    items: [
      "제주 감귤",
      "Jeju Green Tea",
      "햇반 세트",
      "Single-Origin Coffee Beans",
      "김치 3kg",
      "Honey Jar",
      "유기농 현미",
      "Dark Chocolate",
      "참기름",
      "Granola",
    ],
    variants: ["500g", "1kg", "선물세트", "Family Pack", "6개입", "12개입"],
    price: [3_000, 120_000],
  },
  home: {
    items: [
      "극세사 이불",
      "Ceramic Mug",
      "원목 도마",
      "Scented Candle",
      "수납 바구니",
      "Linen Curtain",
      "스테인리스 냄비",
      "Desk Lamp",
      "규조토 발매트",
      "Glass Storage Set",
    ],
    variants: ["싱글", "퀸", "킹", "Small", "Large", "2P 세트"],
    price: [5_900, 280_000],
  },
  sports: {
    items: ["요가 매트", "Running Shoes", "덤벨 세트", "Resistance Band", "등산 스틱", "Cycling Gloves", "폼롤러", "Swim Goggles", "캠핑 의자", "Jump Rope"],
    variants: ["6mm", "10mm", "Pro", "Kids", "블루", "그레이"],
    price: [6_000, 450_000],
  },
  books: {
    items: [
      "한국사 이야기",
      "Clean Code",
      "채식주의자",
      "Designing Data-Intensive Applications",
      "어린 왕자",
      "The Pragmatic Programmer",
      "코스모스",
      "Atomic Habits",
      "데미안",
      "Thinking, Fast and Slow",
    ],
    variants: ["양장본", "Paperback", "개정판", "특별판", "e-Book 쿠폰 포함", "2nd Edition"],
    price: [9_000, 65_000],
  },
  kids: {
    items: [
      "원목 블록",
      "Picture Book Set",
      "유아 식판",
      "Plush Bear",
      "킥보드",
      "Crayon Set",
      "물놀이 장난감",
      "Puzzle 100pcs",
      "아기 물티슈",
      "Building Bricks",
    ],
    variants: ["3세+", "5세+", "핑크", "Blue", "대형", "Starter Set"],
    price: [3_500, 180_000],
  },
};

/** Small seeded PRNG (mulberry32): the same demo catalog on every run. */
function random(seed: number) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let x = Math.imul(state ^ (state >>> 15), state | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** Always first and always in stock: README's quick-start searches for these words. */
const featured = [
  { name: "한빛 기계식 키보드 블랙", price: 89_000 },
  { name: "Aurora Mechanical Keyboard Pro", price: 129_000 },
  { name: "누리 무선 키보드 Mini", price: 39_000 },
].map((p) => ({
  ...p,
  category: "electronics",
  description: `${p.name}: Agora 데모 상품입니다. (demo product)`,
  initialStock: 500,
  lowStockThreshold: 10,
  status: "active" as "active" | "hidden",
}));

export function demoProducts(count: number) {
  const next = random(20261121);
  const pick = <T>(list: T[]): T => list[Math.floor(next() * list.length)] as T;
  const names = Object.entries(categories);
  const products = featured.slice(0, count);
  const seen = new Set<string>(products.map((p) => p.name));
  for (let i = 0; products.length < count; i++) {
    const [category, spec] = names[i % names.length] as [string, CategorySpec];
    const name = `${pick(brands)} ${pick(spec.items)} ${pick(spec.variants)}`;
    if (seen.has(name)) continue;
    seen.add(name);

    const [low, high] = spec.price;
    // Skewed towards cheaper items, in whole hundreds of won.
    const price = Math.min(500_000, Math.max(1_000, Math.round((low + (high - low) * next() ** 2) / 100) * 100));
    const lowStockThreshold = pick([5, 10, 10, 20]);
    const roll = next();
    // About 8% sold out and 12% under their threshold, so low-stock and restock screens have something to show.
    const initialStock = roll < 0.08 ? 0 : roll < 0.2 ? 1 + Math.floor(next() * (lowStockThreshold - 1)) : 20 + Math.floor(next() * 480);
    products.push({
      name,
      category,
      price,
      description: `${name}: Agora 데모 상품입니다. (demo product)`,
      initialStock,
      lowStockThreshold,
      // A few hidden ones, to show what only admins see.
      status: next() < 0.03 ? ("hidden" as const) : ("active" as const),
    });
  }
  return products;
}

/** Seeding charges nobody: any call to the gateway is a mistake, so it refuses. */
const noPaymentGateway: PaymentGateway = {
  charge: () => Promise.reject(new PaymentGatewayUnavailableError("network", "the seed script has no payment gateway")),
  voidCharge: () => Promise.reject(new PaymentGatewayUnavailableError("network", "the seed script has no payment gateway")),
  lookup: () => Promise.reject(new PaymentGatewayUnavailableError("network", "the seed script has no payment gateway")),
};

const noCardGateway: CardGateway = {
  authorize: () => Promise.reject(new CardGatewayUnavailableError("network", "the seed script has no payment gateway")),
  capture: () => Promise.reject(new CardGatewayUnavailableError("network", "the seed script has no payment gateway")),
  voidAuthorization: () => Promise.reject(new CardGatewayUnavailableError("network", "the seed script has no payment gateway")),
  refund: () => Promise.reject(new CardGatewayUnavailableError("network", "the seed script has no payment gateway")),
  lookup: () => Promise.reject(new CardGatewayUnavailableError("network", "the seed script has no payment gateway")),
};

/** Nothing is sent anywhere while seeding (no poller runs either). */
const noDataPlatform: DataPlatform = {
  publish: () => Promise.reject(new Error("the seed script sends no events")),
};

/** Nothing is booked with a carrier while seeding. */
const noCarrier: Carrier = {
  createShipment: () => Promise.reject(new Error("the seed script books no shipments")),
  cancelShipment: () => Promise.reject(new Error("the seed script books no shipments")),
};

// ── progress ─────────────────────────────────────────────────────────────

/** A bar redrawn in place on a terminal; counted lines (every 10 %) in a log or a pipe. */
export function progress(label: string, total: number, out: NodeJS.WriteStream = process.stdout) {
  const width = 30;
  let lastTenth = -1;
  return (done: number) => {
    if (out.isTTY) {
      const filled = Math.round((done / total) * width);
      out.write(`\r${label} [${"#".repeat(filled)}${"-".repeat(width - filled)}] ${done}/${total}${done === total ? "\n" : ""}`);
      return;
    }
    const tenth = Math.floor((done / total) * 10);
    if (tenth !== lastTenth || done === total) {
      lastTenth = tenth;
      out.write(`${label}: ${done}/${total}\n`);
    }
  };
}

// ── the seed, through the API ────────────────────────────────────────────

export interface SeedOptions {
  products: number;
  customers: number;
  log(line: string): void;
}

/** Seeds through the typed client: `admin` is signed in as an admin, `anonymous` signs customers up. */
export async function seedThroughApi(admin: AgoraClient, anonymous: AgoraClient, options: SeedOptions): Promise<void> {
  let created = 0;
  const customersDone = progress("customers", options.customers);
  for (let n = 1; n <= options.customers; n++) {
    try {
      await anonymous.identity.signUp.mutate({ email: `customer${n}@agora.local`, password: DEMO_PASSWORD, name: `Demo Customer ${n}` });
      created += 1;
    } catch (error) {
      if (domainCodeOf(error) !== "EMAIL_TAKEN") throw error;
    }
    customersDone(n);
  }
  options.log(
    `customers: customer1@agora.local … customer${options.customers}@agora.local, password "${DEMO_PASSWORD}" (${created} new, ${options.customers - created} already there)`,
  );

  const existing = await admin.catalog.admin.list.query({ limit: 1 });
  if (existing.items.length > 0) {
    options.log("products: the catalog already has products; skipping product creation");
    return;
  }
  const products = demoProducts(options.products);
  const productsDone = progress("products", products.length);
  // A few at a time: the client batches them into one request, the server still checks each.
  for (let i = 0; i < products.length; i += 10) {
    const wave = products.slice(i, i + 10);
    await Promise.all(wave.map((product) => admin.catalog.admin.create.mutate(product)));
    productsDone(i + wave.length);
  }
  const soldOut = products.filter((p) => p.initialStock === 0).length;
  const low = products.filter((p) => p.initialStock > 0 && p.initialStock < p.lowStockThreshold).length;
  const hidden = products.filter((p) => p.status === "hidden").length;
  options.log(`products: ${products.length} in ${Object.keys(categories).length} categories (${soldOut} sold out, ${low} low on stock, ${hidden} hidden)`);
}

// ── run ──────────────────────────────────────────────────────────────────

class SeedRefusal extends Error {}

async function answers(url: string): Promise<boolean> {
  return fetch(`${url}/health`, { signal: AbortSignal.timeout(2_000) }).then(
    (r) => r.ok,
    () => false,
  );
}

/** Where a running server is, if one is: --url / AGORA_URL, the data folder's owner, or HOST:PORT. */
async function runningServer(config: ReturnType<typeof loadConfig>, explicitUrl: string | undefined): Promise<string | null> {
  if (explicitUrl) {
    if (!(await answers(explicitUrl))) throw new SeedRefusal(`no Agora server answers at ${explicitUrl}`);
    return explicitUrl;
  }
  if (!config.databaseUrl) {
    const owner = dataFolderOwner(config.dataDir);
    if (owner) {
      // The folder belongs to a running process: only it may write, so ask it (it may still be starting).
      for (let i = 0; owner.url && i < 240; i++) {
        if (await answers(owner.url)) return owner.url;
        if (i === 0) console.log(`waiting for the server at ${owner.url} (process ${owner.pid}) to answer…`);
        await Bun.sleep(500);
      }
      throw new SeedRefusal(
        `the data folder ${config.dataDir} is in use by process ${owner.pid} (${owner.command}), which does not answer HTTP; stop it and run the seed again`,
      );
    }
  }
  const local = `http://${config.host === "0.0.0.0" ? "127.0.0.1" : config.host}:${config.port}`;
  return (await answers(local)) ? local : null;
}

async function signIn(url: string, admin: { email: string; password: string }, fetchFn?: typeof fetch) {
  const anonymous = createAgoraClient({ url, fetch: fetchFn });
  try {
    const { token } = await anonymous.identity.login.mutate({ email: admin.email, password: admin.password });
    return { anonymous, admin: createAgoraClient({ url, token, fetch: fetchFn }) };
  } catch (error) {
    throw new SeedRefusal(
      `could not sign in as ${admin.email} at ${url} (${domainCodeOf(error) ?? String(error)}): use the server's ADMIN_EMAIL and ADMIN_PASSWORD`,
    );
  }
}

async function main(argv: string[]): Promise<void> {
  const urlFlag = argv.indexOf("--url");
  const explicitUrl = urlFlag >= 0 ? argv[urlFlag + 1] : process.env.AGORA_URL;
  const started = performance.now();
  const config = loadConfig();
  if (!config.admin) {
    throw new SeedRefusal(
      "set ADMIN_EMAIL and ADMIN_PASSWORD to the server's admin (the seed works as it), e.g. `ADMIN_EMAIL=admin@example.com ADMIN_PASSWORD=change-me-please bun run seed`",
    );
  }
  const options: SeedOptions = {
    products: Number(process.env.SEED_PRODUCTS ?? 300),
    customers: Number(process.env.SEED_CUSTOMERS ?? CUSTOMER_COUNT),
    log: (line) => console.log(line),
  };

  const serverUrl = await runningServer(config, explicitUrl);
  if (serverUrl) {
    console.log(`seeding the running server at ${serverUrl} (as ${config.admin.email})`);
    const clients = await signIn(serverUrl, config.admin);
    await seedThroughApi(clients.admin, clients.anonymous, options);
  } else {
    console.log(`no server running: seeding ${config.databaseUrl ? "PostgreSQL (DATABASE_URL)" : `the embedded PGlite in ${config.dataDir}`} directly`);
    const { database, applied } = await openAndMigrate({ url: config.databaseUrl, dataDir: config.dataDir, poolSize: 4 });
    const infra = createMemoryInfra(systemClock);
    try {
      if (applied.length) console.log(`migrations applied: ${applied.join(", ")}`);
      const agora = createAgora({
        database,
        infra,
        clock: systemClock,
        logger: createLogger("silent"),
        metrics: null,
        config,
        ports: { paymentGateway: noPaymentGateway, cardGateway: noCardGateway, dataPlatform: noDataPlatform, carrier: noCarrier },
      });
      await agora.services.identity.ensureAdmin(config.admin);
      const inProcess = ((input: string | URL | Request, init?: RequestInit) =>
        agora.app.fetch(input instanceof Request ? new Request(input, init) : new Request(String(input), init))) as typeof fetch;
      const clients = await signIn("http://agora.seed", config.admin, inProcess);
      await seedThroughApi(clients.admin, clients.anonymous, options);
    } finally {
      await infra.close();
      await database.close();
    }
  }
  console.log(`admin: ${config.admin.email} (password from ADMIN_PASSWORD)`);
  console.log(`done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

if (import.meta.main) {
  await main(process.argv.slice(2)).catch((error: unknown) => {
    if (error instanceof SeedRefusal || error instanceof StartupError) {
      console.error(`seed: ${error.message}`);
      process.exit(1);
    }
    throw error;
  });
}
