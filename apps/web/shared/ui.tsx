/** Small pieces both apps share: loading / empty / error states, status badges, the language switch. */
import type { UseQueryResult } from "@tanstack/react-query";
import { type ReactNode, useContext } from "react";
import { ErrorNotice } from "./errors.tsx";
import { LangContext, statusName, statusTone, useLang, useT } from "./i18n.ts";

export function Loading() {
  const t = useT();
  return (
    <div className="skeleton" role="status" aria-live="polite">
      {t("불러오는 중…", "Loading…")}
    </div>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <div className="empty">{children}</div>;
}

/** Renders a query's loading, error and (optionally) empty states, else `children(data)`. */
export function QueryView<T>({
  query,
  empty,
  isEmpty,
  children,
}: {
  query: UseQueryResult<T>;
  empty?: ReactNode;
  isEmpty?: (data: T) => boolean;
  children: (data: T) => ReactNode;
}) {
  if (query.isPending) return <Loading />;
  if (query.isError) return <ErrorNotice error={query.error} />;
  if (empty && isEmpty?.(query.data)) return <Empty>{empty}</Empty>;
  return <>{children(query.data)}</>;
}

/** The "load more" button under a paged list; nothing once the last page is in. */
export function LoadMore({ pages }: { pages: { hasNextPage: boolean; isFetchingNextPage: boolean; fetchNextPage: () => unknown } }) {
  const t = useT();
  if (!pages.hasNextPage) return null;
  return (
    <button type="button" className="secondary" onClick={() => pages.fetchNextPage()} disabled={pages.isFetchingNextPage}>
      {t("더 보기", "Load more")}
    </button>
  );
}

export function StatusBadge({ status }: { status: string }) {
  const lang = useLang();
  return <span className={`badge ${statusTone(status)}`}>{statusName(status, lang)}</span>;
}

export function LangSwitch() {
  const { lang, setLang } = useContext(LangContext);
  return (
    <label className="inline lang">
      <span className="sr-only">Language / 언어</span>
      <select value={lang} onChange={(event) => setLang(event.target.value as "ko" | "en")} aria-label="Language / 언어">
        <option value="ko">한국어</option>
        <option value="en">English</option>
      </select>
    </label>
  );
}

export function Success({ children }: { children: ReactNode }) {
  return (
    <div className="notice success" role="status">
      {children}
    </div>
  );
}

/** Reads a form's fields as strings. */
export function formValues(form: HTMLFormElement): Record<string, string> {
  return Object.fromEntries([...new FormData(form).entries()].map(([key, value]) => [key, String(value)]));
}
