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
