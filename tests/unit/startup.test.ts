/** What a configuration may not start with: production on fakes or on the public development keys. */
import { describe, expect, test } from "bun:test";
import { builtInFakes, loadConfig, startupRefusal } from "../../apps/server/config.ts";

const real = {
  NODE_ENV: "production",
  CARRIER_WEBHOOK_SECRET: "s",
  PAYMENT_GATEWAY_URL: "https://pay.example",
  DATA_PLATFORM_URL: "https://data.example",
  CARRIER_URL: "https://carrier.example",
  SMTP_URL: "smtps://mail.example",
  SMS_URL: "https://sms.example",
  PII_KEYS: `k1:${Buffer.alloc(32, 1).toString("base64")}`,
  PII_INDEX_KEY: Buffer.alloc(32, 2).toString("base64"),
};

describe("startupRefusal", () => {
  test("development starts on the built-in fakes and the development keys", () => {
    expect(startupRefusal(loadConfig({}))).toBeNull();
    expect(builtInFakes(loadConfig({}))).toEqual(["PAYMENT_GATEWAY_URL", "DATA_PLATFORM_URL", "CARRIER_URL", "SMTP_URL", "SMS_URL"]);
  });

  test("production with every real integration and its own keys starts", () => {
    expect(startupRefusal(loadConfig(real))).toBeNull();
  });

  test("production names every missing integration, then the missing keys; AGORA_DEMO=true allows both", () => {
    const { PAYMENT_GATEWAY_URL: _, CARRIER_URL: __, ...noGateway } = real;
    expect(startupRefusal(loadConfig(noGateway))).toContain("set PAYMENT_GATEWAY_URL, CARRIER_URL to the real services");
    const { PII_KEYS: ___, PII_INDEX_KEY: ____, ...noKeys } = real;
    expect(startupRefusal(loadConfig(noKeys))).toContain("PII_KEYS and PII_INDEX_KEY must be set in production");
    expect(startupRefusal(loadConfig({ NODE_ENV: "production", CARRIER_WEBHOOK_SECRET: "s", AGORA_DEMO: "true" }))).toBeNull();
  });

  test("a charge lease no longer than the gateway timeout is refused anywhere", () => {
    expect(startupRefusal(loadConfig({ PAYMENT_GATEWAY_TIMEOUT_MS: "5000", WALLET_CHARGE_LEASE_MS: "5000" }))).toContain("WALLET_CHARGE_LEASE_MS");
  });

  test("PII keys: an index key is required, the current id defaults to the last listed", () => {
    expect(() => loadConfig({ PII_KEYS: real.PII_KEYS })).toThrow("PII_INDEX_KEY");
    const two = loadConfig({ PII_KEYS: `${real.PII_KEYS},k2:${Buffer.alloc(32, 3).toString("base64")}`, PII_INDEX_KEY: real.PII_INDEX_KEY });
    expect(two.piiKeys?.currentKeyId).toBe("k2");
  });
});

describe("the environment schema", () => {
  test("refuses impossible values in one message naming every variable", () => {
    let message = "";
    try {
      loadConfig({ DB_POOL_SIZE: "0", OUTBOX_MAX_ATTEMPTS: "0", PORT: "abc", TRUST_PROXY: "yes", OUTBOX_BACKOFF_SECONDS: "300,-1" });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(
      message
        .split("\n")
        .slice(1)
        .map((line) => line.trim().split(" ")[0]),
    ).toEqual(["PORT", "DB_POOL_SIZE", "TRUST_PROXY", "OUTBOX_BACKOFF_SECONDS", "OUTBOX_MAX_ATTEMPTS"]);
    expect(message).toContain('DB_POOL_SIZE must be at least 1 (got "0")');
  });

  test("empty values count as unset; defaults and derived defaults apply", () => {
    const config = loadConfig({ PORT: "", PAYMENT_GATEWAY_TIMEOUT_MS: "2000", CORS_ORIGINS: "https://a.example, https://b.example" });
    expect([config.port, config.walletChargeLeaseMs, config.corsOrigins, config.outboxBackoffSeconds]).toEqual([
      3000,
      12_000,
      ["https://a.example", "https://b.example"],
      [300, 900],
    ]);
    expect(() => loadConfig({ ADMIN_EMAIL: "a@b.c" })).toThrow("ADMIN_PASSWORD must be set");
  });

  test("DATABASE_LISTEN_URL: unset follows DATABASE_URL, a direct URL, or off (poll only); anything else is refused", () => {
    expect(loadConfig({}).databaseListenUrl).toBeUndefined();
    expect(loadConfig({ DATABASE_LISTEN_URL: "postgres://db.internal:5432/agora" }).databaseListenUrl).toBe("postgres://db.internal:5432/agora");
    expect(loadConfig({ DATABASE_LISTEN_URL: "off" }).databaseListenUrl).toBeNull();
    expect(() => loadConfig({ DATABASE_LISTEN_URL: "db.internal:5432" })).toThrow('DATABASE_LISTEN_URL must be a postgres:// URL or "off"');
  });
});
