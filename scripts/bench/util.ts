/** Small helpers the benchmark harness shares: progress lines, concurrency, statistics, formatting. */

const started = performance.now();

/** One progress line: elapsed time since the harness started, the phase, the message. */
export function progress(phase: string, message: string): void {
  const seconds = ((performance.now() - started) / 1000).toFixed(1).padStart(6);
  process.stdout.write(`[bench ${seconds}s] ${phase.padEnd(18)} ${message}\n`);
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function randomId(length = 8): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  const bytes = crypto.getRandomValues(new Uint8Array(length));
  return Array.from(bytes, (b) => alphabet[b % alphabet.length]).join("");
}

/**
 * Runs `fn` over `count` indexes with at most `concurrency` in flight; reports progress about
 * every `every` completions. Fails fast on the first error.
 */
export async function forEachConcurrent(
  count: number,
  concurrency: number,
  fn: (index: number) => Promise<void>,
  onProgress?: (done: number) => void,
  every = 1000,
): Promise<void> {
  let next = 0;
  let done = 0;
  let failed: unknown = null;
  const worker = async () => {
    while (failed === null && next < count) {
      const index = next++;
      try {
        await fn(index);
      } catch (error) {
        failed ??= error;
        return;
      }
      done++;
      if (onProgress && (done % every === 0 || done === count)) onProgress(done);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  if (failed !== null) throw failed;
}

export interface Percentiles {
  count: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentiles of a sample (sorted in place). */
export function percentiles(values: number[] | Float64Array): Percentiles {
  const sorted = Float64Array.from(values).sort();
  const n = sorted.length;
  if (n === 0) return { count: 0, mean: 0, p50: 0, p90: 0, p99: 0, max: 0 };
  const at = (p: number) => sorted[Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1))] ?? 0;
  let sum = 0;
  for (const v of sorted) sum += v;
  return { count: n, mean: sum / n, p50: at(50), p90: at(90), p99: at(99), max: sorted[n - 1] ?? 0 };
}

/** A growable array of doubles (latencies of a few hundred thousand requests). */
export class Samples {
  #data = new Float64Array(1024);
  #length = 0;
  push(value: number): void {
    if (this.#length === this.#data.length) {
      const bigger = new Float64Array(this.#data.length * 2);
      bigger.set(this.#data);
      this.#data = bigger;
    }
    this.#data[this.#length++] = value;
  }
  get length(): number {
    return this.#length;
  }
  values(): Float64Array {
    return this.#data.subarray(0, this.#length);
  }
}

export function fmtInt(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

export function fmtMs(ms: number): string {
  return ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2);
}

export function fmtRatio(r: number | null | undefined): string {
  return r === null || r === undefined || !Number.isFinite(r) ? "–" : `${r.toFixed(2)}×`;
}

/** Pads cells into an aligned plain-text table. */
export function textTable(header: string[], rows: string[][], alignRight: boolean[] = []): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => cells.map((c, i) => (alignRight[i] ? (c ?? "").padStart(widths[i] ?? 0) : (c ?? "").padEnd(widths[i] ?? 0))).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

export function markdownTable(header: string[], rows: string[][], alignRight: boolean[] = []): string {
  const sep = header.map((_, i) => (alignRight[i] ? "---:" : "---"));
  const esc = (c: string) => c.replaceAll("|", "\\|");
  return [header, sep, ...rows].map((r) => `| ${r.map((c) => esc(c ?? "")).join(" | ")} |`).join("\n");
}
