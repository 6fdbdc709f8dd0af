/**
 * What one chaos scenario stands up and takes down again: a scratch database and Redis prefix
 * (scripts/bench/services.ts, removed at the end), the fake card gateway, data platform and carrier
 * as child processes, and the Agora server as a child process in production mode on one fixed
 * loopback port, so it can be killed with SIGKILL and started again where the clients expect it.
 *
 * Every exit of a server process is recorded; one the scenario did not ask for is an "unplanned exit".
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { withServerEngineEnv } from "../../apps/server/config.ts";
import {
  type Child,
  createScratchDatabase,
  createScratchRedis,
  freePort,
  REDIS_URL,
  repoRoot,
  type ScratchDatabase,
  type ScratchRedis,
  spawnChild,
} from "../bench/services.ts";
import { randomId } from "../bench/util.ts";

/**
 * Agora's own settings are not inherited from the caller's shell: the server gets exactly ours.
 * Their names are read from apps/server/config.ts, so a setting added there is covered too.
 */
const AGORA_SETTINGS = new Set([
  "NODE_ENV",
  ...[...readFileSync(join(repoRoot, "apps/server/config.ts"), "utf8").matchAll(/env(?:\.|\[")([A-Z][A-Z0-9_]+)|int\(env, "([A-Z][A-Z0-9_]+)"/g)].map(
    (m) => (m[1] ?? m[2]) as string,
  ),
]);

export function childEnv(overrides: Record<string, string>): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(process.env)) if (!AGORA_SETTINGS.has(k) && !k.startsWith("FAKE_")) env[k] = v;
  return { ...env, ...overrides };
}

/** Short timeouts so a run shows recovery within seconds; each keeps the product's ordering rules (lease > gateway timeout). */
export const CHAOS_SERVER_SETTINGS: Record<string, string> = {
  PAYMENT_GATEWAY_TIMEOUT_MS: "2000",
  WALLET_CHARGE_LEASE_MS: "4000",
  WALLET_CHARGE_RECOVERY_INTERVAL_MS: "500",
  OUTBOX_POLL_INTERVAL_MS: "200",
  OUTBOX_BACKOFF_SECONDS: "0.5,1",
  OUTBOX_MAX_ATTEMPTS: "40",
  OUTBOX_LEASE_MS: "15000",
};

export interface ServerExit {
  pid: number;
  code: number | null;
  signal: string | null;
  planned: boolean;
  atMs: number;
}

export interface ChaosEnvironment {
  database: ScratchDatabase;
  redis: ScratchRedis;
  gateway: Child;
  dataPlatform: Child;
  carrier: Child;
  url: string;
  port: number;
  admin: { email: string; password: string };
  /** The server process now running (changes after a restart). */
  server(): Child;
  /** SIGKILL the server (a planned exit) and wait until it is gone. */
  kill9(): Promise<void>;
  /** Starts the server again on the same port and waits for GET /ready. */
  restart(): Promise<void>;
  exits: ServerExit[];
  unplannedExits(): ServerExit[];
  /** Stops the server (SIGTERM, planned) and everything else; the scratch data is dropped by cleanupAll. */
  stop(): Promise<void>;
}

export interface EnvironmentOptions {
  label: string;
  logDir: string;
  /** Extra server settings for this scenario. */
  serverEnv?: Record<string, string>;
  /** Milliseconds since the storm's clock started, for the exit records. */
  clock: () => number;
}

export async function startEnvironment(options: EnvironmentOptions): Promise<ChaosEnvironment> {
  const { logDir } = options;
  const database = await createScratchDatabase(`chaos_${options.label.replace(/[^a-z0-9]/g, "_")}`);
  const redis = await createScratchRedis();

  const gatewayPort = await freePort();
  const gateway = await spawnChild({
    name: "fake-payment-gateway",
    args: ["apps/fakes/payment-gateway.ts"],
    env: childEnv({ PORT: String(gatewayPort), HOST: "127.0.0.1", FAKE_GATEWAY_LATENCY_MS: "20" }),
    port: gatewayPort,
    readyPath: "/health",
    logDir,
  });
  const dataPlatformPort = await freePort();
  const dataPlatform = await spawnChild({
    name: "fake-data-platform",
    args: ["apps/fakes/data-platform.ts"],
    env: childEnv({ PORT: String(dataPlatformPort) }),
    port: dataPlatformPort,
    readyPath: "/_stats",
    logDir,
  });
  const port = await freePort();
  const webhookSecret = `chaos-${randomId(24)}`;
  const carrierPort = await freePort();
  const carrier = await spawnChild({
    name: "fake-carrier",
    args: ["apps/fakes/carrier.ts"],
    env: childEnv({
      PORT: String(carrierPort),
      HOST: "127.0.0.1",
      FAKE_CARRIER_LATENCY_MS: "20",
      FAKE_CARRIER_WEBHOOK_URL: `http://127.0.0.1:${port}/webhooks/carrier`,
      FAKE_CARRIER_WEBHOOK_SECRET: webhookSecret,
    }),
    port: carrierPort,
    readyPath: "/health",
    logDir,
  });

  const admin = { email: `admin-${randomId(6)}@chaos.agora.test`, password: `chaos-admin-${randomId(12)}` };
  const env = childEnv({
    NODE_ENV: "production",
    // The outside systems are fakes (child processes) and email is only recorded: a demo, said explicitly.
    AGORA_DEMO: "true",
    LOG_LEVEL: "warn",
    HOST: "127.0.0.1",
    PORT: String(port),
    DATABASE_URL: database.url,
    REDIS_URL,
    REDIS_PREFIX: redis.prefix,
    PASSWORD_MEMORY_COST: "256",
    PASSWORD_TIME_COST: "1",
    PAYMENT_GATEWAY_URL: gateway.url,
    DATA_PLATFORM_URL: dataPlatform.url,
    CARRIER_URL: carrier.url,
    CARRIER_WEBHOOK_SECRET: webhookSecret,
    ADMIN_EMAIL: admin.email,
    ADMIN_PASSWORD: admin.password,
    // The storm's customers all come from one loopback address: per-address limits raised on purpose
    // (as the benchmark does; docs/reliability.md says so). They are still counted on every call.
    SIGNUPS_PER_HOUR_PER_ADDRESS: "10000000",
    WRITES_PER_MINUTE_PER_ADDRESS: "10000000",
    WRITES_PER_MINUTE_PER_CALLER: "10000000",
    SEARCHES_PER_MINUTE_PER_ADDRESS: "10000000",
    ...CHAOS_SERVER_SETTINGS,
    ...options.serverEnv,
  });

  const exits: ServerExit[] = [];
  let planned = false;
  let current: Child;
  const launch = async () => {
    planned = false;
    const child = await spawnChild({
      name: "server",
      args: ["apps/server/main.ts"],
      env: withServerEngineEnv(env),
      port,
      readyPath: "/ready",
      logDir,
      readyTimeoutMs: 60_000,
    });
    void child.process.exited.then(() => {
      exits.push({
        pid: child.pid,
        code: child.process.exitCode,
        signal: child.process.signalCode === null ? null : String(child.process.signalCode),
        planned,
        atMs: options.clock(),
      });
    });
    current = child;
  };
  await launch();

  return {
    database,
    redis,
    gateway,
    dataPlatform,
    carrier,
    url: `http://127.0.0.1:${port}`,
    port,
    admin,
    server: () => current,
    async kill9() {
      planned = true;
      current.process.kill("SIGKILL");
      await current.process.exited;
      // Let the exit record land before anything reads it.
      await Bun.sleep(0);
    },
    async restart() {
      await launch();
    },
    exits,
    unplannedExits: () => exits.filter((e) => !e.planned),
    async stop() {
      planned = true;
      await current.stop();
      await carrier.stop();
      await dataPlatform.stop();
      await gateway.stop();
      await database.drop();
    },
  };
}

export async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  if (!response.ok) throw new Error(`GET ${url}: HTTP ${response.status}`);
  return (await response.json()) as T;
}

export async function postJson<T>(url: string, body: unknown): Promise<T> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  if (!response.ok) throw new Error(`POST ${url}: HTTP ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}
