/**
 * `bun run chaos <scenario…> | all`: a mixed storm against a production-mode Agora server while
 * something fails — the server killed with SIGKILL, database backends terminated, Redis keys and
 * connections dropped, the data platform failing half its calls, the gateway approving and the
 * server dying — then the books checked. See docs/reliability.md.
 *
 *   bun run chaos all                  every scenario; rewrites docs/reliability.md's results
 *   bun run chaos kill9 redis
 *   bun run chaos list
 *
 * Options: --customers N (default 300), --spread S (seconds over which customers arrive, default 30),
 * --docs / --no-docs (default: docs only for `all`).
 *
 * Each scenario gets its own scratch database (agora_bench_chaos_…), Redis prefix (bench:<random>:),
 * fakes and server (child processes on loopback); all removed at the end, on failure and on Ctrl-C.
 * A failed check makes the exit code 1.
 */
import { join } from "node:path";
import { Redis } from "ioredis";
import pg from "pg";
import { cleanupAll, installSignalHandlers, interrupted, PG_SERVER_URL, REDIS_URL, repoRoot } from "../bench/services.ts";
import { defaultOptions, runScenario, type ScenarioResult } from "./chaos.ts";
import { consoleSummary, currentCommit, machineLine, writeDocs } from "./report.ts";
import { scenarios } from "./scenarios.ts";

const started = performance.now();
function log(phase: string, message: string): void {
  const seconds = ((performance.now() - started) / 1000).toFixed(1).padStart(6);
  process.stdout.write(`[chaos ${seconds}s] ${phase.padEnd(14)} ${message}\n`);
}

class UsageError extends Error {}

async function versions(): Promise<{ postgres: string; redis: string }> {
  const client = new pg.Client({ connectionString: PG_SERVER_URL, application_name: "agora-chaos" });
  await client.connect();
  const postgres = (await client.query<{ v: string }>("select current_setting('server_version') as v")).rows[0]?.v ?? "unknown";
  await client.end();
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  const version = /redis_version:(\S+)/.exec(await redis.info("server"))?.[1] ?? "unknown";
  redis.disconnect();
  return { postgres, redis: version };
}

async function main(): Promise<number> {
  installSignalHandlers();
  const argv = process.argv.slice(2);
  const names: string[] = [];
  let docs: boolean | null = null;
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const options = defaultOptions(join(repoRoot, "bench-results", "chaos", stamp), log);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const value = () => {
      const v = argv[++i];
      if (v === undefined || !(Number(v) > 0)) throw new UsageError(`${arg} needs a positive number`);
      return Number(v);
    };
    if (arg === "--customers") options.customers = Math.floor(value());
    else if (arg === "--spread") options.spreadMs = value() * 1000;
    else if (arg === "--docs") docs = true;
    else if (arg === "--no-docs") docs = false;
    else if (arg.startsWith("--")) throw new UsageError(`unknown option ${arg}`);
    else names.push(arg);
  }
  if (names.length === 0 || names.includes("list") || names.includes("help")) {
    process.stdout.write("usage: bun run chaos <scenario…> | all [--customers N] [--spread S] [--docs|--no-docs]\n\n");
    for (const s of scenarios) process.stdout.write(`  ${s.name.padEnd(14)} ${s.description}\n`);
    return names.length === 0 ? 2 : 0;
  }
  const unknown = names.filter((n) => n !== "all" && !scenarios.some((s) => s.name === n));
  if (unknown.length > 0) throw new UsageError(`unknown scenario(s): ${unknown.join(", ")} (try: bun run chaos list)`);
  const selected = names.includes("all") ? scenarios : scenarios.filter((s) => names.includes(s.name));
  const writeDocsFile = docs ?? names.includes("all");
  const commit = currentCommit();
  log("setup", `${selected.map((s) => s.name).join(", ")}; ${options.customers} customers over ${options.spreadMs / 1000} s; logs in ${options.logDir}`);

  const results: ScenarioResult[] = [];
  for (const scenario of selected) {
    const result = await runScenario(scenario, options);
    process.stdout.write(consoleSummary(result));
    results.push(result);
  }
  const passed = results.every((r) => r.passed);
  if (writeDocsFile) {
    const v = await versions();
    writeDocs({
      command: `bun run chaos ${argv.join(" ")}`,
      date: new Date().toISOString(),
      commit,
      machine: machineLine(v.postgres, v.redis),
      durationSeconds: (performance.now() - started) / 1000,
      results,
    });
    log("results", "written to docs/reliability.md");
  }
  log(
    "results",
    passed
      ? "every check passed"
      : `FAILED: ${results
          .filter((r) => !r.passed)
          .map((r) => r.scenario)
          .join(", ")}`,
  );
  return passed ? 0 : 1;
}

let code = 1;
try {
  code = await main();
} catch (error) {
  if (error instanceof UsageError) process.stderr.write(`chaos: ${error.message}\n`);
  else if (!interrupted()) process.stderr.write(`\nchaos failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  code = 1;
} finally {
  await cleanupAll();
}
process.exit(code);
