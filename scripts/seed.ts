/**
 * `bun run seed`: demo data for trying Agora. Loads into DATABASE_URL, or the embedded PGlite in
 * DATA_DIR (./data) when unset. Everything goes through the services, like the server would.
 *
 * Creates an admin (ADMIN_EMAIL/ADMIN_PASSWORD, or admin@agora.local), 20 demo customers and
 * SEED_PRODUCTS (300) products over 8 categories. Safe to run again: existing accounts are kept,
 * and products are only created when the catalog is empty.
 */
import { createAgora } from "../apps/server/compose.ts";
import { loadConfig } from "../apps/server/config.ts";
import { createDatabase, migrateToLatest } from "../db/index.ts";
import { createLogger, createMemoryInfra, isDomainError, systemClock } from "../modules/kernel/index.ts";
import type { DataPlatform } from "../modules/outbox/index.ts";
import type { Carrier } from "../modules/shipping/index.ts";
import { type PaymentGateway, PaymentGatewayUnavailableError } from "../modules/wallet/index.ts";

const DEMO_PASSWORD = "agora-demo-password";
const CUSTOMER_COUNT = 20;
const PRODUCT_COUNT = Number(process.env.SEED_PRODUCTS ?? 300);

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

function demoProducts(count: number) {
  const next = random(20261121);
  const pick = <T>(list: T[]): T => list[Math.floor(next() * list.length)] as T;
  const names = Object.entries(categories);
  const seen = new Set<string>();
  const products = [];
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

/** Nothing is sent anywhere while seeding (no poller runs either). */
const noDataPlatform: DataPlatform = {
  publish: () => Promise.reject(new Error("the seed script sends no events")),
};

/** Nothing is booked with a carrier while seeding. */
const noCarrier: Carrier = {
  createShipment: () => Promise.reject(new Error("the seed script books no shipments")),
  cancelShipment: () => Promise.reject(new Error("the seed script books no shipments")),
};

// ── run ──────────────────────────────────────────────────────────────────

const started = performance.now();
const config = loadConfig();
const database = await createDatabase({ url: config.databaseUrl, dataDir: config.dataDir, poolSize: 4 });
const infra = createMemoryInfra(systemClock);
console.log(`seeding ${database.kind === "postgres" ? "PostgreSQL (DATABASE_URL)" : `embedded PGlite in ${config.dataDir}`}`);

try {
  const applied = await migrateToLatest(database.db);
  console.log(applied.length ? `migrations applied: ${applied.join(", ")}` : "schema is up to date");

  const { services } = createAgora({
    database,
    infra,
    clock: systemClock,
    logger: createLogger("silent"),
    metrics: null,
    config,
    ports: { paymentGateway: noPaymentGateway, dataPlatform: noDataPlatform, carrier: noCarrier },
  });

  const adminAccount = config.admin ?? { email: "admin@agora.local", password: "agora-admin-password", name: "Administrator" };
  const admin = await services.identity.ensureAdmin(adminAccount);
  console.log(`admin: ${admin.email} (password: ${config.admin ? "from ADMIN_PASSWORD" : adminAccount.password})`);

  let created = 0;
  for (let n = 1; n <= CUSTOMER_COUNT; n++) {
    try {
      await services.identity.signUp({ email: `customer${n}@agora.local`, password: DEMO_PASSWORD, name: `Demo Customer ${n}` }, null);
      created += 1;
    } catch (error) {
      if (!isDomainError(error, "EMAIL_TAKEN")) throw error;
    }
  }
  console.log(
    `customers: customer1@agora.local … customer${CUSTOMER_COUNT}@agora.local, password "${DEMO_PASSWORD}" (${created} new, ${CUSTOMER_COUNT - created} already there)`,
  );

  const existing = await services.catalog.browse({ sort: "newest", limit: 1 }, "admin");
  if (existing.items.length > 0) {
    console.log("products: the catalog already has products; skipping product creation");
  } else {
    const products = demoProducts(PRODUCT_COUNT);
    for (const [i, product] of products.entries()) {
      await services.catalog.create(product, admin.id);
      if ((i + 1) % 50 === 0 || i + 1 === products.length) console.log(`products: ${i + 1}/${products.length}`);
    }
    const soldOut = products.filter((p) => p.initialStock === 0).length;
    const low = products.filter((p) => p.initialStock > 0 && p.initialStock < p.lowStockThreshold).length;
    const hidden = products.filter((p) => p.status === "hidden").length;
    console.log(`products: ${products.length} in ${Object.keys(categories).length} categories (${soldOut} sold out, ${low} low on stock, ${hidden} hidden)`);
  }
  console.log(`done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
} finally {
  await infra.close();
  await database.close();
}
