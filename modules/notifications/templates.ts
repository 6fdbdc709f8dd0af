/**
 * Every text Agora sends, as pure functions of the facts they report: Korean first, short, with
 * the numbers a customer checks (order id, amounts in won, tracking number). The template name is
 * part of a message's identity (see repository.ts), so renaming one re-sends nothing but must stay
 * stable across a deploy while events are in flight.
 */

const templateNames = [
  "order.paid",
  "order.cancelled",
  "order.refunded",
  "shipment.shipped",
  "shipment.delivered",
  "inventory.back_in_stock",
  "inventory.low_stock",
  "operator.alert",
] as const;
export type TemplateName = (typeof templateNames)[number];

export interface Rendered {
  subject: string;
  body: string;
}

const BRAND = "[Agora]";
const OPS = "[Agora 운영]";

/** 1234567 → "1,234,567" without Intl, so the text is the same on every runtime and locale. */
export function thousands(value: number): string {
  const sign = value < 0 ? "-" : "";
  return sign + String(Math.abs(Math.trunc(value))).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

export function won(amount: number): string {
  return `${thousands(amount)}원`;
}

/** Joins the lines that apply; `false`/`null` lines are left out. */
function lines(...parts: Array<string | false | null | undefined>): string {
  return parts.filter((part): part is string => typeof part === "string").join("\n");
}

// ── customers: orders ─────────────────────────────────────────────────────

export interface OrderPaidFacts {
  name: string;
  orderId: number;
  items: Array<{ productName: string; unitPrice: number; quantity: number }>;
  subtotalAmount: number;
  discountAmount: number;
  finalAmount: number;
  /** What each method paid; absent: the wallet paid it all. */
  payments?: Array<{ method: "wallet" | "card"; amount: number }>;
}

export interface RefundedBySource {
  wallet: number;
  card: number;
}

/** "지갑 결제", "카드 결제", or both with their amounts. */
function paidBy(payments: OrderPaidFacts["payments"]): string {
  const card = payments?.find((p) => p.method === "card")?.amount ?? 0;
  const wallet = payments?.find((p) => p.method === "wallet")?.amount ?? 0;
  if (card === 0) return "지갑 결제";
  return wallet === 0 ? "카드 결제" : `지갑 ${won(wallet)} + 카드 ${won(card)}`;
}

/** Where the money went back: the wallet (also for events before card payments), the card, or both. */
function refundedTo(refunded: RefundedBySource | undefined): string {
  if (!refunded || refunded.card === 0) return "지갑으로 환불되었습니다";
  return refunded.wallet === 0 ? "카드로 환불되었습니다" : `지갑 ${won(refunded.wallet)}, 카드 ${won(refunded.card)}으로 환불되었습니다`;
}

export function orderPaidEmail(f: OrderPaidFacts): Rendered {
  return {
    subject: `${BRAND} 주문 완료 · 주문번호 ${f.orderId}`,
    body: lines(
      `${f.name}님, 주문이 완료되었습니다.`,
      "",
      `주문번호: ${f.orderId}`,
      ...f.items.map((item) => `- ${item.productName} × ${thousands(item.quantity)}: ${won(item.unitPrice * item.quantity)}`),
      "",
      `상품 금액: ${won(f.subtotalAmount)}`,
      f.discountAmount > 0 && `할인: -${won(f.discountAmount)}`,
      `결제 금액: ${won(f.finalAmount)} (${paidBy(f.payments)})`,
    ),
  };
}

export interface OrderCancelledFacts {
  name: string;
  orderId: number;
  refundedAmount: number;
  refunded?: RefundedBySource;
  couponRestored: boolean;
  reason: string;
}

export function orderCancelledEmail(f: OrderCancelledFacts): Rendered {
  return {
    subject: `${BRAND} 주문 취소 · 주문번호 ${f.orderId}`,
    body: lines(
      `${f.name}님, 주문이 취소되었습니다.`,
      "",
      `주문번호: ${f.orderId}`,
      `취소 사유: ${f.reason}`,
      // A pending order is cancelled before any money moved: nothing to give back.
      f.refundedAmount > 0 ? `환불 금액: ${won(f.refundedAmount)} (${refundedTo(f.refunded)})` : "결제 전 주문이라 환불할 금액이 없습니다.",
      f.couponRestored && "사용하신 쿠폰이 복원되었습니다.",
    ),
  };
}

export interface OrderRefundedFacts {
  name: string;
  orderId: number;
  refundedAmount: number;
  refunded?: RefundedBySource;
  reason: string;
}

export function orderRefundedEmail(f: OrderRefundedFacts): Rendered {
  return {
    subject: `${BRAND} 환불 완료 · 주문번호 ${f.orderId}`,
    body: lines(
      `${f.name}님, 반품 환불이 완료되었습니다.`,
      "",
      `주문번호: ${f.orderId}`,
      `환불 사유: ${f.reason}`,
      `환불 금액: ${won(f.refundedAmount)} (${refundedTo(f.refunded)})`,
    ),
  };
}

// ── customers: shipments (email and, with a phone, SMS) ──────────────────

export interface ShipmentFacts {
  name: string;
  orderId: number;
  carrier: string | null;
  trackingNumber: string | null;
}

function trackingLines(f: ShipmentFacts): string[] {
  return [f.carrier ? `택배사: ${f.carrier}` : null, f.trackingNumber ? `운송장 번호: ${f.trackingNumber}` : null].filter((l): l is string => l !== null);
}

export function shipmentShippedEmail(f: ShipmentFacts): Rendered {
  return {
    subject: `${BRAND} 상품 발송 · 주문번호 ${f.orderId}`,
    body: lines(`${f.name}님, 주문하신 상품이 발송되었습니다.`, "", `주문번호: ${f.orderId}`, ...trackingLines(f)),
  };
}

/** One short SMS: 90 bytes as Korean carriers count them (ASCII 1, anything else 2); past that it is an LMS. */
export const SMS_MAX_BYTES = 90;

export function smsBytes(text: string): number {
  let bytes = 0;
  for (const char of text) bytes += char.charCodeAt(0) < 0x80 ? 1 : 2;
  return bytes;
}

/** Shortens the variable part (a product name, a tracking number) so the whole text fits one SMS. */
function fitSms(build: (variable: string) => string, variable: string): string {
  let part = variable;
  while (smsBytes(build(part)) > SMS_MAX_BYTES && part.length > 0) part = part.length > 1 ? `${[...part].slice(0, -2).join("")}…` : "";
  return build(part);
}

/** SMS: one line, no greeting, within one message; an SMS has no subject, the stored one is for the admin list. */
export function shipmentShippedSms(f: ShipmentFacts): Rendered {
  const tracking = [f.carrier, f.trackingNumber].filter(Boolean).join(" ");
  return {
    subject: `${BRAND} 상품 발송 · 주문번호 ${f.orderId}`,
    body: fitSms((t) => `${BRAND} 주문 ${f.orderId} 상품이 발송되었습니다.${t ? ` ${t}` : ""}`, tracking),
  };
}

export function shipmentDeliveredEmail(f: ShipmentFacts): Rendered {
  return {
    subject: `${BRAND} 배송 완료 · 주문번호 ${f.orderId}`,
    body: lines(`${f.name}님, 주문하신 상품의 배송이 완료되었습니다.`, "", `주문번호: ${f.orderId}`, ...trackingLines(f)),
  };
}

export function shipmentDeliveredSms(f: ShipmentFacts): Rendered {
  return {
    subject: `${BRAND} 배송 완료 · 주문번호 ${f.orderId}`,
    body: `${BRAND} 주문 ${f.orderId} 배송이 완료되었습니다.`,
  };
}

// ── customers: restock sign-ups ──────────────────────────────────────────

export interface BackInStockFacts {
  name: string;
  productId: number;
  productName: string;
}

export function backInStockEmail(f: BackInStockFacts): Rendered {
  return {
    subject: `${BRAND} 재입고 알림 · ${f.productName}`,
    body: lines(
      `${f.name}님, 기다리시던 상품이 다시 입고되었습니다.`,
      "",
      `상품: ${f.productName} (상품번호 ${f.productId})`,
      "재고가 한정되어 있으니 서둘러 주세요.",
    ),
  };
}

export function backInStockSms(f: BackInStockFacts): Rendered {
  return {
    subject: `${BRAND} 재입고 알림 · ${f.productName}`,
    body: fitSms((name) => `${BRAND} 재입고 알림: ${name} (상품번호 ${f.productId}) 지금 구매하실 수 있습니다.`, f.productName),
  };
}

// ── operators ─────────────────────────────────────────────────────────────

export interface LowStockFacts {
  productId: number;
  productName: string;
  quantity: number;
  threshold: number;
}

export function lowStockEmail(f: LowStockFacts): Rendered {
  return {
    subject: `${OPS} 재고 부족 · ${f.productName} (남은 재고 ${thousands(f.quantity)}개)`,
    body: lines(
      "재고가 알림 기준 아래로 내려갔습니다.",
      "",
      `상품: ${f.productName} (상품번호 ${f.productId})`,
      `현재 재고: ${thousands(f.quantity)}개`,
      `알림 기준: ${thousands(f.threshold)}개`,
    ),
  };
}

export interface DeadEventFacts {
  id: string;
  type: string;
  destination: string;
  aggregateType: string;
  aggregateId: string;
  /** Attempts made before the one that failed for good. */
  attempts: number;
}

/**
 * The operator alert for an outbox event that will not be retried any more: what the poller's
 * `onDead` passes to `alertOperators`. Linked to the event, so one death alerts each operator once.
 */
export function deadEventAlert(event: DeadEventFacts, error: string): { subject: string; body: string; sourceEventId: string } {
  return {
    subject: `${OPS} 이벤트 전달 실패 · ${event.type} → ${event.destination}`,
    body: lines(
      "아웃박스 이벤트가 재시도 끝에 전달되지 못했습니다(dead). 원인을 해결한 뒤 outbox.admin.retry로 다시 보낼 수 있습니다.",
      "",
      `이벤트: ${event.id}`,
      `종류: ${event.type}`,
      `대상: ${event.destination}`,
      `대상 집계: ${event.aggregateType} ${event.aggregateId}`,
      `시도 횟수: ${event.attempts + 1}`,
      `마지막 오류: ${error.slice(0, 500)}`,
    ),
    sourceEventId: event.id,
  };
}
