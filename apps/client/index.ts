/** Kept for the repository's own imports: the client lives in the `@agora/client` package. */
export * from "../../packages/client/src/index.ts";
