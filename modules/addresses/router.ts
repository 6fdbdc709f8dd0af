import { authedProcedure, router } from "../kernel/index.ts";
import { addAddressInput, addressIdInput, listAddressesInput, updateAddressInput } from "./schema.ts";
import type { AddressesService } from "./service.ts";

/** The caller's own address book: every procedure acts on the session's customer only. */
export function createAddressesRouter(addresses: AddressesService) {
  return router({
    list: authedProcedure.input(listAddressesInput).query(({ input, ctx }) => addresses.list(ctx.session.userId, input)),
    get: authedProcedure.input(addressIdInput).query(({ input, ctx }) => addresses.get(ctx.session.userId, input.addressId)),
    add: authedProcedure.input(addAddressInput).mutation(({ input, ctx }) => addresses.add(ctx.session.userId, input)),
    update: authedProcedure
      .input(updateAddressInput)
      .mutation(({ input: { addressId, ...patch }, ctx }) => addresses.update(ctx.session.userId, addressId, patch)),
    setDefault: authedProcedure.input(addressIdInput).mutation(({ input, ctx }) => addresses.setDefault(ctx.session.userId, input.addressId)),
    remove: authedProcedure.input(addressIdInput).mutation(({ input, ctx }) => addresses.remove(ctx.session.userId, input.addressId)),
  });
}
