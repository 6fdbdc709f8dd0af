/** Runs once per `bun test` process: quiet, production-like error shapes, and the template database ready. */
import { ensureTemplate } from "./postgres.ts";

process.env.NODE_ENV = "test";
await ensureTemplate();
