/**
 * Domain errors: one error type and the kinds of refusal. Nothing here knows the transport: each
 * module declares its own codes in its `errors.ts` with `defineErrors` and exports them from its
 * `index.ts`; the edge (kernel/trpc-errors.ts, used by the tRPC procedures and the REST views) turns a
 * kind into a tRPC code and HTTP status. `ref` is the code the design documents (seeds) use, where
 * they name one. To add codes, copy modules/orders/errors.ts.
 */

/** What kind of "no" a refusal is; the edge maps each kind to one tRPC code and HTTP status. */
export const errorKinds = [
  "invalid", // the request cannot be done as asked (400)
  "unauthenticated", // who is asking is unknown or not proven (401)
  "forbidden", // known, but not allowed (403)
  "not_found", // no such thing, or not visible to this caller (404)
  "conflict", // the thing's current state says no (409)
  "unprocessable", // the request contradicts an earlier one (422)
  "rate_limited", // too many calls; details say when to come back (429)
  "unavailable", // something Agora depends on did not answer; retry (503)
] as const;

export type ErrorKind = (typeof errorKinds)[number];

/** One code as a module declares it. `Details` types what `create` takes (set it with `refusal<Details>`). */
export interface ErrorSpec<Details extends object = Record<never, never>> {
  readonly kind: ErrorKind;
  readonly message: string;
  readonly ref?: string;
  /** Type only: never set at runtime. */
  readonly __details?: Details;
}

/** A code's spec, its details typed: `refusal<{ orderId: number }>({ kind: "not_found", message: "No such order" })`. */
export function refusal<Details extends object = Record<never, never>>(spec: { kind: ErrorKind; message: string; ref?: string }): ErrorSpec<Details> {
  return spec;
}

/** `create()` takes no details when the code has none, and an optional message that replaces the default. */
type CreateArgs<Details> = Record<never, never> extends Details ? [details?: Details, message?: string] : [details: Details, message?: string];

/** One declared code: throw `definition.create(details)`, test with `definition.is(error)`. */
export class ErrorDefinition<Code extends string = string, Details extends object = Record<string, unknown>> {
  readonly kind: ErrorKind;
  readonly message: string;
  readonly ref: string | undefined;

  constructor(
    readonly code: Code,
    spec: ErrorSpec<Details>,
  ) {
    this.kind = spec.kind;
    this.message = spec.message;
    this.ref = spec.ref;
  }

  create(...[details, message]: CreateArgs<Details>): DomainError<Details, Code> {
    return new DomainError(this, (details ?? {}) as Details, message);
  }

  is(error: unknown): error is DomainError<Details, Code> {
    return error instanceof DomainError && error.domainCode === this.code;
  }
}

type DetailsOf<Spec> = Spec extends ErrorSpec<infer Details> ? Details : never;

export type ErrorSet<Specs extends Record<string, ErrorSpec<object>>> = {
  readonly [Code in keyof Specs & string]: ErrorDefinition<Code, DetailsOf<Specs[Code]>>;
};

/** A module's codes: the keys are the stable codes clients see (`data.domainCode`); never rename one. */
export function defineErrors<const Specs extends Record<string, ErrorSpec<object>>>(specs: Specs): ErrorSet<Specs> {
  const set: Record<string, ErrorDefinition> = {};
  for (const [code, spec] of Object.entries(specs)) set[code] = new ErrorDefinition(code, spec as ErrorSpec<Record<string, unknown>>);
  return Object.freeze(set) as ErrorSet<Specs>;
}

/** True for a value `defineErrors` made (the API docs test collects every module's codes with it). */
export function isErrorSet(value: unknown): value is Record<string, ErrorDefinition> {
  if (typeof value !== "object" || value === null) return false;
  const entries = Object.values(value);
  return entries.length > 0 && entries.every((entry) => entry instanceof ErrorDefinition);
}

let refusalStacks = true;

/**
 * Whether a refusal records where it was thrown. A refusal is an answer, not a fault: on a production
 * server, where no one is shown its stack, a storm of them (COUPON_SOLD_OUT) skips walking the call
 * stack for each. On by default (tests, development); the composition root turns it off in production.
 */
export function recordRefusalStacks(on: boolean): void {
  refusalStacks = on;
}

/** Whether refusals record their stack (see `recordRefusalStacks`); the edge's own wrappers follow it. */
export function refusalStacksRecorded(): boolean {
  return refusalStacks;
}

/** A rule said no: a stable code, its kind, the seeds' ref, and details for the client. */
export class DomainError<Details extends object = Record<string, unknown>, Code extends string = string> extends Error {
  readonly domainCode: Code;
  readonly kind: ErrorKind;
  readonly ref: string | undefined;
  readonly details: Details;

  constructor(definition: ErrorDefinition<Code, Details>, details: Details, message?: string) {
    const stackFrames = Error.stackTraceLimit;
    if (!refusalStacks) Error.stackTraceLimit = 0;
    try {
      super(message ?? definition.message);
    } finally {
      Error.stackTraceLimit = stackFrames;
    }
    this.name = "DomainError";
    if (!refusalStacks) this.stack = `DomainError: ${this.message}`;
    this.domainCode = definition.code;
    this.kind = definition.kind;
    this.ref = definition.ref;
    this.details = details;
  }
}

/**
 * True for a domain error (of `code`, if given). Prefer `someErrors.CODE.is(error)`, which types the
 * details; this is for a code of a module the caller may not import.
 */
export function isDomainError(error: unknown, code?: string): error is DomainError {
  return error instanceof DomainError && (code === undefined || error.domainCode === code);
}

/** The domain error itself, or the one a transport error carries as its cause (what a server-side caller throws). */
export function domainErrorOf(error: unknown): DomainError | null {
  if (error instanceof DomainError) return error;
  const cause = error instanceof Error ? error.cause : undefined;
  return cause instanceof DomainError ? cause : null;
}

/**
 * Codes no one module owns: the kernel's base procedures throw them for any procedure (who is asking,
 * may they, too many calls, the database is down). Modules reuse them rather than declare look-alikes.
 */
export const kernelErrors = defineErrors({
  SERVICE_UNAVAILABLE: refusal<{ dependency: string; retryable: boolean }>({
    kind: "unavailable",
    message: "A service Agora depends on is unavailable; retry shortly",
  }),
  UNAUTHENTICATED: refusal({ kind: "unauthenticated", message: "Log in first" }),
  // authedProcedure refuses every procedure but a few until an operator-given password is replaced.
  PASSWORD_CHANGE_REQUIRED: refusal({ kind: "forbidden", message: "Set a password of your own first (identity.changePassword)" }),
  FORBIDDEN: refusal<{ userId?: number }>({ kind: "forbidden", message: "You may not do this" }),
  RATE_LIMITED: refusal<{ retryAfterSeconds: number }>({ kind: "rate_limited", message: "Too many attempts; try again later" }),
});
