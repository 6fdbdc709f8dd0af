/** The server's public surface for clients: the router's type, nothing else. */
export type { AppRouter } from "./router.ts";
