/**
 * The real server as a child process (`bun apps/server/main.ts`), for tests of what only a process
 * shows: that it stays up when its connections drop, that it refuses to start, that work cut off by
 * `kill -9` is recovered by the next process.
 */
import type { Subprocess } from "bun";
import { withServerEngineEnv } from "../../apps/server/config.ts";

const repoRoot = new URL("../..", import.meta.url).pathname;

export async function freePort(): Promise<number> {
  const probe = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") });
  const port = probe.port as number;
  await probe.stop(true);
  return port;
}

export interface ServerProcess {
  url: string;
  port: number;
  process: Subprocess<"ignore", "pipe", "pipe">;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** True while the process has not exited. */
  alive(): boolean;
  /** SIGKILL, and wait for the exit. */
  kill(): Promise<void>;
  /** SIGTERM, and wait for the exit (SIGKILL after 10 s). */
  stop(): Promise<void>;
}

export interface ServerProcessOptions {
  /** Added to a minimal environment (PATH, HOME): nothing else leaks in from the test's shell. */
  env: Record<string, string>;
  port?: number;
  /** Resolve as soon as the process has exited or answered /ready; default: wait for a 200 from /ready. */
  waitForReady?: boolean;
  readyTimeoutMs?: number;
}

/**
 * Starts the server; with `waitForReady` (default) resolves once GET /ready answers 200. A port this
 * function picked can be taken between the probe and the server's listen (by the server's own built-in
 * fakes, which listen on ports the system hands out): then it starts again on another one.
 */
export async function startServerProcess(options: ServerProcessOptions): Promise<ServerProcess> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options, options.port ?? (await freePort()));
    } catch (error) {
      if (options.port !== undefined || attempt >= 3 || !String(error).includes("EADDRINUSE")) throw error;
    }
  }
}

async function startOnce(options: ServerProcessOptions, port: number): Promise<ServerProcess> {
  const child = Bun.spawn([process.execPath, "apps/server/main.ts"], {
    cwd: repoRoot,
    env: withServerEngineEnv({
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "/root",
      HOST: "127.0.0.1",
      PORT: String(port),
      LOG_LEVEL: "info",
      ...options.env,
    }),
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  let output = "";
  const decoder = new TextDecoder();
  const drain = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) output += decoder.decode(chunk, { stream: true });
  };
  void drain(child.stdout);
  void drain(child.stderr);
  const url = `http://127.0.0.1:${port}`;
  const alive = () => child.exitCode === null && child.signalCode === null;
  const server: ServerProcess = {
    url,
    port,
    process: child,
    output: () => output,
    alive,
    async kill() {
      if (alive()) child.kill("SIGKILL");
      await child.exited;
    },
    async stop() {
      if (!alive()) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await child.exited;
      clearTimeout(timer);
    },
  };
  if (options.waitForReady === false) return server;
  const deadline = Date.now() + (options.readyTimeoutMs ?? 30_000);
  while (Date.now() < deadline) {
    if (!alive()) throw new Error(`server exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${output}`);
    const ready = await fetch(`${url}/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) return server;
    await Bun.sleep(100);
  }
  await server.kill();
  throw new Error(`server was not ready within ${options.readyTimeoutMs ?? 30_000} ms:\n${output}`);
}
