/**
 * Forms check their input with the procedure's own zod schema (imported from the module's schema.ts:
 * the very object the server validates with) before calling it, and show each problem at its field.
 * The server still checks everything; this only spares a round trip and says what is wrong where.
 * Forms using this set `noValidate`, so the schema, not the browser, is the one judge of the input.
 */
import { cloneElement, type ReactElement, type ReactNode, useId, useState } from "react";
import { z } from "zod";
import en from "zod/v4/locales/en.js";
import ko from "zod/v4/locales/ko.js";
import { ErrorNotice } from "./errors.tsx";
import { type Lang, useLang } from "./i18n.ts";

/** First message per top-level field; `""` holds the problems of the input as a whole (a refine). */
export type FieldErrors = Record<string, string>;

export function fieldErrorsOf(schema: z.ZodType, input: unknown, lang: Lang): FieldErrors | null {
  z.config(lang === "ko" ? ko() : en());
  const result = schema.safeParse(input);
  if (result.success) return null;
  const errors: FieldErrors = {};
  for (const issue of result.error.issues) {
    const key = issue.path.length > 0 ? String(issue.path[0]) : "";
    errors[key] ??= issue.message;
  }
  return errors;
}

/** A form's check: `passes(schema, input, form)` is true when the schema accepts the input, else shows the errors and focuses the first bad field in `form`. */
export function useSchemaCheck() {
  const lang = useLang();
  const [errors, setErrors] = useState<FieldErrors>({});
  function passes<S extends z.ZodType>(schema: S, input: z.input<S>, form?: HTMLElement | null): boolean {
    const found = fieldErrorsOf(schema, input, lang);
    setErrors(found ?? {});
    if (found && form) requestAnimationFrame(() => form.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus());
    return found === null;
  }
  return { errors, passes, clear: () => setErrors({}) };
}

/**
 * A labelled control and its error: the control is marked aria-invalid and described by the message.
 * The message sits inside the label for layout but is hidden from the label's name (it is the description).
 */
export function Field({
  label,
  error,
  className,
  children,
}: {
  label: ReactNode;
  error?: string | undefined;
  className?: string;
  children: ReactElement<Record<string, unknown>>;
}) {
  const id = useId();
  const errorId = `${id}-error`;
  const controlId = (children.props.id as string | undefined) ?? `${id}-control`;
  return (
    <label className={className} htmlFor={controlId}>
      {label}
      {cloneElement(children, { id: controlId, ...(error ? { "aria-invalid": true, "aria-describedby": errorId } : {}) })}
      {error ? (
        <span className="field-error" id={errorId} aria-hidden="true" data-testid="field-error">
          {error}
        </span>
      ) : null}
    </label>
  );
}

/** A problem of the input as a whole (e.g. "nothing to update"). */
export function FormError({ errors }: { errors: FieldErrors }) {
  const message = errors[""];
  return message ? (
    <div className="notice error" role="alert" data-code="VALIDATION_FAILED">
      {message}
    </div>
  ) : null;
}

/** A number field's value: empty is "not given" (undefined), anything else its number (NaN for non-numbers, which the schema refuses). */
export function numberField(value: string | undefined): number | undefined {
  return value === undefined || value.trim() === "" ? undefined : Number(value);
}

/** A form's last block: the error of its mutation (if any), then its submit button. */
export function SubmitRow({ error, disabled, className, children }: { error: unknown; disabled: boolean; className?: string; children: ReactNode }) {
  return (
    <>
      <ErrorNotice error={error} />
      <div>
        <button type="submit" className={className} disabled={disabled}>
          {children}
        </button>
      </div>
    </>
  );
}
