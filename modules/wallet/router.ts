import { adminProcedure, authedProcedure, noInput, router } from "../kernel/index.ts";
import { adminLedgerInput, balanceInput, chargeInput, historyInput } from "./schema.ts";
import type { WalletService } from "./service.ts";

/** Customer procedures act on the caller's own wallet (ctx.session); only admin procedures name a user. */
export function createWalletRouter(wallet: WalletService) {
  return router({
    balance: authedProcedure.input(balanceInput).query(({ ctx }) => wallet.getBalance(ctx.session.userId)),
    charge: authedProcedure.input(chargeInput).mutation(({ input, ctx }) => wallet.charge(ctx.session.userId, input.amount, input.idempotencyKey)),
    history: authedProcedure.input(historyInput).query(({ input, ctx }) => wallet.history(ctx.session.userId, input.cursor, input.limit)),

    admin: router({
      ledger: adminProcedure.input(adminLedgerInput).query(({ input }) => wallet.ledgerFor(input.userId, input.cursor, input.limit)),
      verifyBooks: adminProcedure.input(noInput).query(() => wallet.verifyBooks()),
    }),
  });
}
