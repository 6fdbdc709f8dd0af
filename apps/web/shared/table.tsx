/**
 * The list scaffolding both apps repeat: a table from column definitions, and a paged (infinite) list
 * with its loading / error / empty states and the "load more" button. Pages keep only what is theirs:
 * the columns and the cells.
 */
import type { ReactNode } from "react";
import { ErrorNotice } from "./errors.tsx";
import { Empty, Loading, LoadMore } from "./ui.tsx";

export interface Column<T> {
  header: ReactNode;
  cell: (row: T) => ReactNode;
  /** Right-aligned number column (header and cells). */
  num?: boolean;
  /** Extra class on the cells only (e.g. "small"). */
  className?: string;
}

function cellClass(column: Column<unknown>): string | undefined {
  return [column.num ? "num" : "", column.className ?? ""].filter(Boolean).join(" ") || undefined;
}

/** A table in its scrolling wrapper; `rowTestId` keeps the rows findable by the browser tests. */
export function DataTable<T>({
  columns,
  rows,
  rowKey,
  rowTestId,
  footer,
  testId,
  bare,
}: {
  columns: Array<Column<T>>;
  rows: readonly T[];
  rowKey: (row: T) => string | number;
  rowTestId?: string;
  footer?: ReactNode;
  testId?: string;
  /** Without the bordered scrolling wrapper (a small table inside a card). */
  bare?: boolean;
}) {
  const table = (
    <table data-testid={testId}>
      <thead>
        <tr>
          {columns.map((column, index) => (
            // biome-ignore lint/suspicious/noArrayIndexKey: columns are a fixed list per table
            <th key={index} className={column.num ? "num" : undefined}>
              {column.header}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {rows.map((row) => (
          <tr key={rowKey(row)} data-testid={rowTestId}>
            {columns.map((column, index) => (
              // biome-ignore lint/suspicious/noArrayIndexKey: columns are a fixed list per table
              <td key={index} className={cellClass(column as Column<unknown>)}>
                {column.cell(row)}
              </td>
            ))}
          </tr>
        ))}
      </tbody>
      {footer ? <tfoot>{footer}</tfoot> : null}
    </table>
  );
  return bare ? table : <div className="table-wrap">{table}</div>;
}

/** What PagedList needs of a `useInfiniteQuery` result whose pages carry `items`. */
interface PagedQuery<T> {
  isPending: boolean;
  isError: boolean;
  error: unknown;
  data?: { pages: Array<{ items: T[] }> } | undefined;
  hasNextPage: boolean;
  isFetchingNextPage: boolean;
  fetchNextPage: () => unknown;
}

/** A paged list's states (loading, error, empty, the items) and its "load more" button. */
export function PagedList<T>({ query, empty, children }: { query: PagedQuery<T>; empty: ReactNode; children: (items: T[]) => ReactNode }) {
  const items = query.data?.pages.flatMap((page) => page.items) ?? [];
  return (
    <>
      {query.isPending ? <Loading /> : query.isError ? <ErrorNotice error={query.error} /> : items.length === 0 ? <Empty>{empty}</Empty> : children(items)}
      <LoadMore pages={query} />
    </>
  );
}
