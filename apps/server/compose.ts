/**
 * The composition root: builds every module's service from the database, the Redis-or-memory
 * infra, the clock and the external ports, then the router and the Hono app.
 * Tests call `createAgora` with their own database, clock and fakes.
 */
import type { DatabaseHandle } from "../../db/index.ts";
import { type CatalogService, createCatalogService } from "../../modules/catalog/index.ts";
import { createIdentityService, defaultIdentityConfig, type IdentityConfig, type IdentityService } from "../../modules/identity/index.ts";
import type { Clock, Infra, Logger, Metrics } from "../../modules/kernel/index.ts";
import type { AgoraConfig } from "./config.ts";
import { createHttpApp } from "./http.ts";
import { type AppRouter, createAppRouter } from "./router.ts";

export interface Services {
  identity: IdentityService;
  catalog: CatalogService;
}

export interface AgoraDeps {
  database: DatabaseHandle;
  infra: Infra;
  clock: Clock;
  logger: Logger;
  metrics: Metrics | null;
  config: AgoraConfig;
}

export interface Agora {
  services: Services;
  router: AppRouter;
  app: ReturnType<typeof createHttpApp>;
  /** Starts background work (pollers, sweepers). */
  start(): void;
  /** Stops background work; connections are closed by whoever opened them. */
  stop(): Promise<void>;
}

export function identityConfigFrom(config: AgoraConfig): IdentityConfig {
  return {
    ...defaultIdentityConfig,
    sessionTtlMs: config.sessionTtlHours * 60 * 60 * 1000,
    passwordHashing: { memoryCost: config.passwordMemoryCost, timeCost: config.passwordTimeCost },
    loginLimitPerAccount: { ...defaultIdentityConfig.loginLimitPerAccount, points: config.loginAttemptsPerAccount },
    loginLimitPerAddress: { ...defaultIdentityConfig.loginLimitPerAddress, points: config.loginAttemptsPerAddress },
  };
}

export function createAgora(deps: AgoraDeps): Agora {
  const { database, infra, clock, config } = deps;
  const db = database.db;
  const services: Services = {
    identity: createIdentityService({ db, clock, infra, config: identityConfigFrom(config) }),
    catalog: createCatalogService({ db, clock }),
  };
  const router = createAppRouter(services);
  const app = createHttpApp({ ...deps, router, services });
  return {
    services,
    router,
    app,
    start() {},
    async stop() {},
  };
}
