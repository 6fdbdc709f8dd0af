/** notifications: outbox events become emails and SMS to customers and operators, each sent once; dead events alert the operators. */
export { createNotificationsRouter } from "./router.ts";
export type { ListMessagesFilter, NotificationMessage } from "./schema.ts";
export type { Channel, HttpSmsSenderOptions, NotificationSender, NotificationSenderConfig, OutgoingMessage, SmtpSenderOptions } from "./sender.ts";
export { ChannelSender, createNotificationSender, HttpSmsSender, RecordingSender, SmtpSender } from "./sender.ts";
export type { ContactBook, NotificationDeps, NotificationService, ProductNames } from "./service.ts";
export { createNotificationService, notificationsSubscription, resealNotificationLog } from "./service.ts";
export type { DeadEventFacts, Rendered, TemplateName } from "./templates.ts";
export { deadEventAlert } from "./templates.ts";
