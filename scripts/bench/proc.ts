/**
 * What the kernel says about processes and the machine (Linux /proc): CPU time of a process,
 * its peak resident memory, the whole machine's busy time, and PostgreSQL's CPU time.
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";

let ticksPerSecond = 100;
try {
  const out = Bun.spawnSync(["getconf", "CLK_TCK"]).stdout.toString().trim();
  if (Number(out) > 0) ticksPerSecond = Number(out);
} catch {
  // getconf missing: 100 is the Linux default
}

export interface CpuTime {
  /** Seconds in user mode. */
  user: number;
  /** Seconds in kernel mode. */
  sys: number;
}

/**
 * utime and stime of a process (fields 14 and 15 of /proc/<pid>/stat), in seconds; null if it is
 * gone. With `mainThreadOnly`, of its main thread alone (/proc/<pid>/task/<pid>/stat): for Bun,
 * the JavaScript thread, which a single server process cannot spread over more than one core.
 */
export function processCpu(pid: number, mainThreadOnly = false): CpuTime | null {
  try {
    const stat = readFileSync(mainThreadOnly ? `/proc/${pid}/task/${pid}/stat` : `/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may hold spaces and parentheses: fields are counted after the last ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { user: Number(fields[11]) / ticksPerSecond, sys: Number(fields[12]) / ticksPerSecond };
  } catch {
    return null;
  }
}

export function cpuDelta(before: CpuTime | null, after: CpuTime | null): CpuTime {
  if (!before || !after) return { user: 0, sys: 0 };
  return { user: after.user - before.user, sys: after.sys - before.sys };
}

function statusField(pid: number, field: string): number | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status);
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** Peak resident set size (VmHWM) in bytes since start or since the last resetPeakRss. */
export const peakRss = (pid: number) => statusField(pid, "VmHWM");
export const currentRss = (pid: number) => statusField(pid, "VmRSS");

/** Resets VmHWM to the current RSS (writing 5 to clear_refs), so a peak can be measured per scenario. */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

export interface MachineCpu {
  busy: number;
  total: number;
}

/** Busy and total CPU seconds of the whole machine, all cores (/proc/stat "cpu" line). */
export function machineCpu(): MachineCpu {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = v;
  const busy = user + nice + system + irq + softirq + steal;
  return { busy: busy / ticksPerSecond, total: (busy + idle + iowait) / ticksPerSecond };
}

/** Summed CPU seconds of every process whose name starts with `prefix` (e.g. all PostgreSQL backends). */
export function cpuOfProcessesNamed(prefix: string): number {
  let total = 0;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      if (!name.startsWith(prefix)) continue;
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      // utime + stime + cutime + cstime: backends that exited during the run are counted by their parent.
      total += (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) / ticksPerSecond;
    } catch {
      // the process ended while we looked
    }
  }
  return total;
}

export function loadAverage(): [number, number, number] {
  try {
    const [a = 0, b = 0, c = 0] = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).map(Number);
    return [a, b, c];
  } catch {
    return [0, 0, 0];
  }
}
