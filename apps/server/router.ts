/** The composed tRPC router. Clients import `type AppRouter` from here and nothing else. */
import { createCatalogRouter } from "../../modules/catalog/index.ts";
import { createIdentityRouter } from "../../modules/identity/index.ts";
import { publicProcedure, router } from "../../modules/kernel/index.ts";
import type { Services } from "./compose.ts";

export function createAppRouter(services: Services) {
  return router({
    /** No-op procedure: the tRPC baseline the benchmarks compare against. */
    ping: publicProcedure.query(() => ({ pong: true as const })),
    identity: createIdentityRouter(services.identity),
    catalog: createCatalogRouter(services.catalog),
  });
}

export type AppRouter = ReturnType<typeof createAppRouter>;
