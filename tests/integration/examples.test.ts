/**
 * Every runnable TypeScript block in README.md and docs/api.md is a file in examples/ (the block
 * starts with `// examples/<name>.ts` and equals the file), so `tsc` checks it (tsconfig includes
 * examples/) and this test runs it against a seeded server. Blocks without that first line are
 * type declarations for reading, and must not call anything.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { runProcess, type SeededServer, startSeededServer } from "../support/seeded-server.ts";

const repoRoot = new URL("../..", import.meta.url).pathname;

function tsBlocks(file: string): string[] {
  const text = readFileSync(join(repoRoot, file), "utf8");
  return [...text.matchAll(/^( *)```ts\n([\s\S]*?)^\1```$/gm)].map((m) =>
    (m[2] as string)
      .split("\n")
      .map((line) => line.slice((m[1] as string).length))
      .join("\n"),
  );
}

describe("documented code is in examples/", () => {
  for (const doc of ["README.md", "docs/api.md"]) {
    test(`${doc}: runnable blocks are example files, verbatim`, () => {
      for (const block of tsBlocks(doc)) {
        const marker = /^\/\/ (examples\/[\w-]+\.ts)/.exec(block);
        if (!marker) {
          // A reading block: types and signatures only.
          expect({ doc, block, calls: /\bawait\b|createAgoraClient\(/.test(block) }).toMatchObject({ calls: false });
          continue;
        }
        expect(block).toBe(readFileSync(join(repoRoot, marker[1] as string), "utf8"));
      }
    });
  }

  test("every example is shown in a document", () => {
    const shown = [...tsBlocks("README.md"), ...tsBlocks("docs/api.md")].map((block) => /^\/\/ (examples\/[\w-]+\.ts)/.exec(block)?.[1]);
    for (const file of readdirSync(join(repoRoot, "examples"))) expect(shown).toContain(`examples/${file}`);
  });
});

describe("examples run against a seeded server", () => {
  let seeded: SeededServer;
  beforeAll(async () => {
    seeded = await startSeededServer();
  }, 240_000);
  afterAll(() => seeded?.close(), 60_000);

  test("quick-start: signs up, finds a keyboard, charges its price, places an order with an address", async () => {
    const run = await runProcess([process.execPath, "examples/quick-start.ts"], seeded.env);
    expect(run.stderr).toBe("");
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toMatch(/orderId: \d+/);
    expect(run.stdout).toContain('status: "paid"');
    expect(run.stdout).toContain("remainingBalance: 0");
  }, 60_000);

  test("transport: login, a query, and a refusal's domain code", async () => {
    const run = await runProcess([process.execPath, "examples/transport.ts"], seeded.env);
    expect(run.stderr).toBe("");
    expect(run.exitCode).toBe(0);
    expect(run.stdout.trim().split("\n")).toEqual(["0", "PRODUCT_NOT_FOUND"]);
  }, 60_000);
});
