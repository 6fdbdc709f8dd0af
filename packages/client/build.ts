/**
 * Builds @agora/client for projects outside this repository:
 * - dist/index.js: the client, bundled by Bun; @trpc/client and superjson stay dependencies.
 * - dist/index.d.ts: its declarations with the server's AppRouter type inlined by
 *   dts-bundle-generator, so a consumer needs no server source (only the @trpc/* and superjson types).
 */
import { rmSync } from "node:fs";
import { join } from "node:path";

const here = import.meta.dir;
const dist = join(here, "dist");
rmSync(dist, { recursive: true, force: true });

const built = await Bun.build({
  entrypoints: [join(here, "src/index.ts")],
  outdir: dist,
  target: "node",
  format: "esm",
  external: ["@trpc/client", "@trpc/server", "superjson"],
});
if (!built.success) {
  for (const log of built.logs) console.error(log);
  process.exit(1);
}

const dts = Bun.spawnSync(
  [
    process.execPath,
    join(here, "../../node_modules/dts-bundle-generator/dist/bin/dts-bundle-generator.js"),
    "--project",
    join(here, "tsconfig.build.json"),
    "--no-check",
    "--export-referenced-types=false",
    "-o",
    join(dist, "index.d.ts"),
    join(here, "src/index.ts"),
  ],
  { stdout: "inherit", stderr: "inherit" },
);
if (dts.exitCode !== 0) process.exit(dts.exitCode ?? 1);
console.log("built packages/client/dist (index.js, index.d.ts)");
