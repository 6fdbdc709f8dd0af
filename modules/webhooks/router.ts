import { adminProcedure, router } from "../kernel/index.ts";
import { createEndpointInput, endpointIdInput, listDeliveriesInput, listEndpointsInput } from "./schema.ts";
import type { WebhookService } from "./service.ts";

/** Operators only: integrators receive webhooks, they do not call these. */
export function createWebhooksRouter(webhooks: WebhookService) {
  return router({
    admin: router({
      create: adminProcedure.input(createEndpointInput).mutation(({ input, ctx }) => webhooks.create(input, ctx.session.userId)),
      list: adminProcedure.input(listEndpointsInput).query(({ input }) => webhooks.list(input)),
      pause: adminProcedure.input(endpointIdInput).mutation(({ input }) => webhooks.pause(input.endpointId)),
      resume: adminProcedure.input(endpointIdInput).mutation(({ input }) => webhooks.resume(input.endpointId)),
      deliveries: adminProcedure.input(listDeliveriesInput).query(({ input }) => webhooks.deliveries(input)),
    }),
  });
}
