/**
 * The one way Agora's HTTP adapters (payment gateway, carrier, data platform) talk to the outside:
 * a JSON POST carrying an Idempotency-Key, with one timeout over the whole exchange (it also
 * aborts a body that never finishes). Each adapter maps the outcome to its own errors.
 */
export interface JsonEndpoint {
  /** e.g. http://127.0.0.1:4010 (no trailing slash needed). */
  baseUrl: string;
  timeoutMs: number;
  /** Sent as `Authorization: Bearer …` when set. */
  apiKey?: string;
  /** Injected for tests; defaults to the global fetch. */
  fetch?: typeof fetch;
}

/** The request never got an answer: it timed out or could not reach the other side. */
export class HttpTransportError extends Error {
  override name = "HttpTransportError";
  constructor(
    readonly kind: "timeout" | "network",
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export interface JsonAnswer {
  status: number;
  /** Parsed JSON, or null when the body was empty or not JSON. */
  body: unknown;
  text: string;
}

export function checkEndpoint(endpoint: JsonEndpoint, name: string): void {
  if (!Number.isInteger(endpoint.timeoutMs) || endpoint.timeoutMs <= 0) throw new Error(`${name}: timeoutMs must be a positive integer`);
}

export async function postJson(endpoint: JsonEndpoint, path: string, idempotencyKey: string, payload: unknown): Promise<JsonAnswer> {
  const headers: Record<string, string> = { "Content-Type": "application/json", "Idempotency-Key": idempotencyKey };
  if (endpoint.apiKey) headers.Authorization = `Bearer ${endpoint.apiKey}`;
  const url = `${endpoint.baseUrl.replace(/\/+$/, "")}${path}`;
  try {
    const signal = AbortSignal.timeout(endpoint.timeoutMs);
    const response = await (endpoint.fetch ?? fetch)(url, { method: "POST", headers, body: JSON.stringify(payload), signal });
    const text = await response.text();
    let body: unknown = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = null;
    }
    return { status: response.status, body, text };
  } catch (error) {
    const timedOut = error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError");
    if (timedOut) throw new HttpTransportError("timeout", `no answer within ${endpoint.timeoutMs} ms`, { cause: error });
    throw new HttpTransportError("network", `unreachable: ${String(error)}`, { cause: error });
  }
}
