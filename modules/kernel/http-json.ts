/**
 * The one way Agora's HTTP adapters (payment gateway, carrier, data platform, SMS provider) talk to
 * the outside: a JSON POST carrying an Idempotency-Key (or a GET for a lookup), with one timeout over
 * the whole exchange (it also aborts a body that never finishes). `jsonClient` checks the endpoint
 * once and turns a transport failure into the adapter's own error; each adapter maps the answer.
 * No retries here: a retry of a call to the outside is durable (the outbox, the charge recovery),
 * with the same idempotency key, not a loop in the request.
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

function checkEndpoint(endpoint: JsonEndpoint, name: string): void {
  if (!Number.isInteger(endpoint.timeoutMs) || endpoint.timeoutMs <= 0) throw new Error(`${name}: timeoutMs must be a positive integer`);
}

function postJson(endpoint: JsonEndpoint, path: string, idempotencyKey: string, payload: unknown): Promise<JsonAnswer> {
  return exchange(endpoint, path, {
    method: "POST",
    headers: { "Content-Type": "application/json", "Idempotency-Key": idempotencyKey },
    body: JSON.stringify(payload),
  });
}

/** A read (a lookup): no body, no idempotency key; the same timeout and errors as postJson. */
function getJson(endpoint: JsonEndpoint, path: string): Promise<JsonAnswer> {
  return exchange(endpoint, path, { method: "GET", headers: {} });
}

async function exchange(endpoint: JsonEndpoint, path: string, init: { method: string; headers: Record<string, string>; body?: string }): Promise<JsonAnswer> {
  const headers = { ...init.headers };
  if (endpoint.apiKey) headers.Authorization = `Bearer ${endpoint.apiKey}`;
  const url = `${endpoint.baseUrl.replace(/\/+$/, "")}${path}`;
  try {
    const signal = AbortSignal.timeout(endpoint.timeoutMs);
    const response = await (endpoint.fetch ?? fetch)(url, { method: init.method, headers, body: init.body, signal });
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

export interface JsonClient {
  /** A JSON POST with an Idempotency-Key: the other side answers the same key with the same answer. */
  post(path: string, idempotencyKey: string, payload: unknown): Promise<JsonAnswer>;
  /** A read (a lookup): no body, no idempotency key. */
  get(path: string): Promise<JsonAnswer>;
}

/**
 * An adapter's connection to `endpoint` (checked now; `name` says whose it is in the error). A
 * timeout or network failure comes out as `onTransportFailure(error)`, the adapter's own error;
 * every answer, whatever its status, is returned for the adapter to map.
 */
export function jsonClient(endpoint: JsonEndpoint, name: string, onTransportFailure: (error: HttpTransportError) => Error): JsonClient {
  checkEndpoint(endpoint, name);
  const call = async (exchange: () => Promise<JsonAnswer>): Promise<JsonAnswer> => {
    try {
      return await exchange();
    } catch (error) {
      if (error instanceof HttpTransportError) throw onTransportFailure(error);
      throw error;
    }
  };
  return {
    post: (path, idempotencyKey, payload) => call(() => postJson(endpoint, path, idempotencyKey, payload)),
    get: (path) => call(() => getJson(endpoint, path)),
  };
}

/** A refusal that retrying will not change: a 4xx other than 408 (timeout) and 429 (throttled). */
export function refusedForGood(status: number): boolean {
  return status >= 400 && status < 500 && status !== 408 && status !== 429;
}
