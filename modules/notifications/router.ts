import { adminProcedure, router } from "../kernel/index.ts";
import { listMessagesInput } from "./schema.ts";
import type { NotificationService } from "./service.ts";

/** Admins read what was sent (with the recording sender: what would have been sent). Customers have no procedure here. */
export function createNotificationsRouter(notifications: NotificationService) {
  return router({
    admin: router({
      list: adminProcedure.input(listMessagesInput).query(({ input }) => notifications.list(input)),
    }),
  });
}
