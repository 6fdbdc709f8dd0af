import { adminProcedure, authedProcedure, noInput, publicProcedure, router } from "../kernel/index.ts";
import {
  adjustInput,
  adminListProductsInput,
  createProductInput,
  inboundInput,
  listProductsInput,
  lowStockInput,
  movementsInput,
  outboundInput,
  productIdInput,
  restockSignupInput,
  searchProductsInput,
  setProductStatusInput,
  setThresholdInput,
  updateProductInput,
} from "./schema.ts";
import type { CatalogService } from "./service.ts";

export function createCatalogRouter(catalog: CatalogService) {
  return router({
    list: publicProcedure.input(listProductsInput).query(({ input }) => catalog.browse(input, "public")),
    search: publicProcedure
      .meta({ cost: "search" })
      .input(searchProductsInput)
      .query(({ input }) => catalog.browse(input, "public")),
    get: publicProcedure.input(productIdInput).query(({ input }) => catalog.get(input.productId, "public")),
    stock: publicProcedure.input(productIdInput).query(({ input }) => catalog.stock(input.productId)),
    categories: publicProcedure.input(noInput).query(() => catalog.categories()),
    signUpForRestock: authedProcedure
      .input(restockSignupInput)
      .mutation(({ input, ctx }) => catalog.signUpForRestock(ctx.session.userId, input.productId, input.channel)),

    admin: router({
      list: adminProcedure
        .meta({ cost: "search" })
        .input(adminListProductsInput)
        .query(({ input }) => catalog.browse(input, "admin")),
      get: adminProcedure.input(productIdInput).query(({ input }) => catalog.get(input.productId, "admin")),
      create: adminProcedure.input(createProductInput).mutation(({ input, ctx }) => catalog.create(input, ctx.session.userId)),
      update: adminProcedure.input(updateProductInput).mutation(({ input: { productId, ...patch } }) => catalog.update(productId, patch)),
      setStatus: adminProcedure.input(setProductStatusInput).mutation(async ({ input }) => {
        await catalog.setStatus(input.productId, input.status);
        return catalog.get(input.productId, "admin");
      }),
      delete: adminProcedure.input(productIdInput).mutation(async ({ input }) => {
        await catalog.setStatus(input.productId, "deleted");
        return { deleted: true as const, productId: input.productId };
      }),
      inbound: adminProcedure
        .input(inboundInput)
        .mutation(({ input, ctx }) => catalog.inbound(input.productId, input.quantity, input.reason, ctx.session.userId)),
      outbound: adminProcedure
        .input(outboundInput)
        .mutation(({ input, ctx }) => catalog.outbound(input.productId, input.quantity, input.reason, ctx.session.userId)),
      adjust: adminProcedure.input(adjustInput).mutation(({ input, ctx }) => catalog.adjust(input.productId, input.change, input.reason, ctx.session.userId)),
      setLowStockThreshold: adminProcedure.input(setThresholdInput).mutation(({ input }) => catalog.setLowStockThreshold(input.productId, input.threshold)),
      movements: adminProcedure.input(movementsInput).query(({ input }) => catalog.movements(input.productId, input.cursor, input.limit)),
      lowStock: adminProcedure.input(lowStockInput).query(({ input }) => catalog.lowStock(input.limit)),
    }),
  });
}
