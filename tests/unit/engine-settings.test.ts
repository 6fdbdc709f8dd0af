/**
 * The JavaScript engine's settings (SERVER_ENGINE_ENV) reach every launch of the server: the start
 * script README gives, and the child processes of the benchmark, the chaos runs and the tests.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { SERVER_ENGINE_ENV, withServerEngineEnv } from "../../apps/server/config.ts";

const packageJson = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { scripts: Record<string, string> };

describe("server engine settings", () => {
  test("the optimizing compiler tier is off by default", () => {
    expect(SERVER_ENGINE_ENV).toEqual({ BUN_JSC_useFTLJIT: "0" });
  });

  test("`bun run start` sets each one, unless the environment already does", () => {
    const start = packageJson.scripts.start ?? "";
    expect(start).toEndWith("bun apps/server/main.ts");
    for (const [name, value] of Object.entries(SERVER_ENGINE_ENV)) expect(start).toContain(`${name}=\${${name}:-${value}} `);
  });

  test("a child's environment gets them where it does not set them itself", () => {
    expect(withServerEngineEnv({ PORT: "1" })).toEqual({ BUN_JSC_useFTLJIT: "0", PORT: "1" });
    expect(withServerEngineEnv({ BUN_JSC_useFTLJIT: "1" })).toEqual({ BUN_JSC_useFTLJIT: "1" });
  });
});
