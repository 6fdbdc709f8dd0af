/** identity: accounts, sessions, roles. Other modules resolve sessions and contacts through this surface. */
export { identityErrors } from "./errors.ts";
export { createIdentityRouter } from "./router.ts";
export type { UserProfile } from "./schema.ts";
export type { Contact, IdentityConfig, IdentityDeps, IdentityService, IssuedSession, RegisteredCustomer } from "./service.ts";
export { createIdentityService, defaultIdentityConfig } from "./service.ts";
