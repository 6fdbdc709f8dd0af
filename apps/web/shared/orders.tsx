/** Pieces of an order both apps show the same way. */
import type { ReactNode } from "react";
import { Link } from "wouter";
import { useT, won } from "./i18n.ts";
import { DataTable } from "./table.tsx";

interface OrderLine {
  productId: number;
  productName: string;
  unitPrice: number;
  quantity: number;
  lineAmount: number;
}

/** A summary row under the lines: label and amount (discounts shown negative). */
export function TotalRow({ label, children, price, testId }: { label: ReactNode; children: ReactNode; price?: boolean; testId?: string }) {
  return (
    <tr>
      <th colSpan={3}>{label}</th>
      <td className={price ? "num price" : "num"} data-testid={testId}>
        {children}
      </td>
    </tr>
  );
}

/** An order's lines (product, unit price, quantity, amount) with the given summary rows; `productHref` links each product. */
export function OrderLinesTable({
  lines,
  productHref,
  totals,
}: {
  lines: readonly OrderLine[];
  productHref?: (productId: number) => string;
  totals: ReactNode;
}) {
  const t = useT();
  return (
    <DataTable
      rows={lines}
      rowKey={(line) => line.productId}
      footer={totals}
      columns={[
        {
          header: t("상품", "Product"),
          cell: (line) => (productHref ? <Link href={productHref(line.productId)}>{line.productName}</Link> : line.productName),
        },
        { header: t("단가", "Price"), num: true, cell: (line) => won(line.unitPrice) },
        { header: t("수량", "Qty"), num: true, cell: (line) => line.quantity },
        { header: t("금액", "Amount"), num: true, cell: (line) => won(line.lineAmount) },
      ]}
    />
  );
}
