import { adminProcedure, authedProcedure, noInput, publicProcedure, router } from "../kernel/index.ts";
import {
  changePasswordInput,
  listCustomersInput,
  loginInput,
  registerCustomerInput,
  signUpInput,
  updateCustomerInput,
  updateProfileInput,
  userIdInput,
} from "./schema.ts";
import type { IdentityService } from "./service.ts";

export function createIdentityRouter(identity: IdentityService) {
  return router({
    signUp: publicProcedure
      .meta({ cost: "signUp" })
      .input(signUpInput)
      .mutation(({ input, ctx }) => identity.signUp(input, ctx.ip)),
    login: publicProcedure.input(loginInput).mutation(({ input, ctx }) => identity.login(input, ctx.ip)),
    logout: authedProcedure.input(noInput).mutation(async ({ ctx }) => {
      await identity.logout(ctx.session);
      return { loggedOut: true as const };
    }),
    me: authedProcedure.input(noInput).query(({ ctx }) => identity.me(ctx.session.userId)),
    updateProfile: authedProcedure.input(updateProfileInput).mutation(({ input, ctx }) => identity.updateProfile(ctx.session.userId, input)),
    changePassword: authedProcedure.input(changePasswordInput).mutation(async ({ input, ctx }) => {
      await identity.changePassword(ctx.session, input.currentPassword, input.newPassword);
      return { changed: true as const };
    }),
    admin: router({
      listCustomers: adminProcedure.input(listCustomersInput).query(({ input }) => identity.listCustomers(input)),
      registerCustomer: adminProcedure.input(registerCustomerInput).mutation(({ input }) => identity.registerCustomer(input)),
      updateCustomer: adminProcedure.input(updateCustomerInput).mutation(({ input: { userId, ...patch } }) => identity.updateCustomer(userId, patch)),
      getCustomer: adminProcedure.input(userIdInput).query(({ input }) => identity.getCustomer(input.userId)),
      deactivate: adminProcedure.input(userIdInput).mutation(({ input, ctx }) => identity.deactivate(input.userId, ctx.session.userId)),
      reactivate: adminProcedure.input(userIdInput).mutation(({ input }) => identity.reactivate(input.userId)),
      /** Another operator (`bun run agora admin create`): a new admin account, or an existing one promoted. */
      createAdmin: adminProcedure.input(signUpInput).mutation(({ input }) => identity.ensureAdmin(input)),
    }),
  });
}
