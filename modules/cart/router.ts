import { authedProcedure, noInput, router } from "../kernel/index.ts";
import { addItemInput, removeItemInput, setQuantityInput } from "./schema.ts";
import type { CartService } from "./service.ts";

export function createCartRouter(cart: CartService) {
  return router({
    get: authedProcedure.input(noInput).query(({ ctx }) => cart.view(ctx.session.userId)),
    addItem: authedProcedure.input(addItemInput).mutation(({ input, ctx }) => cart.add(ctx.session.userId, input.productId, input.quantity)),
    setQuantity: authedProcedure.input(setQuantityInput).mutation(({ input, ctx }) => cart.setQuantity(ctx.session.userId, input.productId, input.quantity)),
    removeItem: authedProcedure.input(removeItemInput).mutation(({ input, ctx }) => cart.remove(ctx.session.userId, input.productId)),
    clear: authedProcedure.input(noInput).mutation(({ ctx }) => cart.clear(ctx.session.userId)),
  });
}
