/**
 * Budget: each app's first load is at most 300 KB of gzipped JavaScript. Builds both apps exactly as
 * `bun run start` does (minified, in memory) and measures what each page's <script> tags load.
 */
import { describe, expect, test } from "bun:test";
import { buildWeb } from "../../apps/web/build.ts";

const BUDGET_BYTES = 300 * 1024;

describe("web bundle budget", () => {
  test("storefront and console each load ≤ 300 KB of gzipped JavaScript first", async () => {
    const build = await buildWeb({ minify: true });
    console.log(
      `first-load JS, gzipped: storefront ${(build.gzippedJs.storefront / 1024).toFixed(1)} KB, console ${(build.gzippedJs.console / 1024).toFixed(1)} KB`,
    );
    expect(build.storefrontHtml).toContain("<script");
    expect(build.consoleHtml).toContain("<script");
    expect(build.gzippedJs.storefront).toBeGreaterThan(10_000); // measured something real
    expect(build.gzippedJs.storefront).toBeLessThanOrEqual(BUDGET_BYTES);
    expect(build.gzippedJs.console).toBeLessThanOrEqual(BUDGET_BYTES);
  }, 120_000);
});
