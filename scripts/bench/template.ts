/** docs/benchmarks.md when it does not exist yet; runs only rewrite the part between the markers. */
export const DOCS_TEMPLATE = `# Benchmarks

\`bun run bench all\` runs every scenario against a real Agora server and checks the invariants
from the database after each one, beside in-run baselines and a pgbench floor for an order; it draws
the charts into docs/benchmarks/. See scripts/bench/run.ts for the options.

## Latest results

<!-- bench:results:start -->
<!-- bench:results:end -->

## What limits each scenario

(To be written from the measurements.)
`;
