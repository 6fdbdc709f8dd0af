/**
 * The one table from a refusal's domain code to what a person reads. Both apps show every failed call
 * through `<ErrorNotice>`; nothing shows raw JSON. Unknown codes fall back to a plain sentence.
 */
import type { ReactNode } from "react";
import { Link } from "wouter";
import { domainCodeOf, TRPCClientError } from "./api.ts";
import { dateTime, type Lang, num, useLang, useT, won } from "./i18n.ts";

type Details = Record<string, unknown>;
type Message = { title: [string, string]; detail?: (d: Details, lang: Lang) => string; action?: (d: Details, lang: Lang) => ReactNode };

const n = (v: unknown) => (typeof v === "number" ? v : Number(v ?? 0));
const pick = (lang: Lang, ko: string, en: string) => (lang === "ko" ? ko : en);

export const messages: Record<string, Message> = {
  UNAUTHENTICATED: { title: ["로그인이 필요합니다", "Please log in"], action: (_d, lang) => <Link href="/login">{pick(lang, "로그인", "Log in")}</Link> },
  INVALID_CREDENTIALS: { title: ["이메일 또는 비밀번호가 맞지 않습니다", "Wrong email or password"] },
  ACCOUNT_DEACTIVATED: { title: ["비활성화된 계정입니다", "This account has been deactivated"] },
  FORBIDDEN: { title: ["권한이 없습니다", "You are not allowed to do this"] },
  EMAIL_TAKEN: { title: ["이미 가입된 이메일입니다", "An account with this email exists"] },
  USER_NOT_FOUND: { title: ["회원을 찾을 수 없습니다", "No such customer"] },
  PASSWORD_CHANGE_REQUIRED: {
    title: ["새 비밀번호를 먼저 정해 주세요", "Set a password of your own first"],
    action: (_d, lang) => <Link href="/account">{pick(lang, "내 정보", "My account")}</Link>,
  },
  ADDRESS_NOT_FOUND: { title: ["배송지를 찾을 수 없습니다", "No such saved address"] },
  ADDRESS_BOOK_FULL: { title: ["배송지는 20개까지 저장할 수 있습니다", "The address book holds at most 20 addresses"] },
  ACCOUNT_HAS_BALANCE: {
    title: ["지갑 잔액이 남아 있습니다", "The wallet still holds money"],
    detail: (d, lang) =>
      pick(
        lang,
        `잔액 ${n(d.balance).toLocaleString("ko-KR")}원을 먼저 사용하거나 정산해야 합니다.`,
        `Spend or settle the balance of ${n(d.balance)} won first.`,
      ),
  },
  ACCOUNT_HAS_OPEN_ORDERS: { title: ["진행 중인 주문이 있습니다", "An order is still under way"] },
  RATE_LIMITED: {
    title: ["시도가 너무 많습니다", "Too many attempts"],
    detail: (d, lang) => {
      const seconds = n(d.retryAfterSeconds);
      const minutes = Math.ceil(seconds / 60);
      return seconds >= 90
        ? pick(lang, `${minutes}분 후에 다시 시도해 주세요.`, `Try again in ${minutes} minutes.`)
        : pick(lang, `${seconds}초 후에 다시 시도해 주세요.`, `Try again in ${seconds} seconds.`);
    },
  },
  PRODUCT_NOT_FOUND: { title: ["판매 중인 상품이 아닙니다", "This product is not on sale"] },
  INSUFFICIENT_STOCK: {
    title: ["재고가 부족합니다", "Not enough stock"],
    detail: (d, lang) => {
      const items = (d.insufficientItems as Array<{ productName: string; requestedQuantity: number; availableStock: number }> | undefined) ?? [];
      return items
        .map((item) =>
          pick(
            lang,
            `${item.productName}: ${num(item.requestedQuantity)}개 요청, ${num(item.availableStock)}개 남음`,
            `${item.productName}: ${num(item.requestedQuantity)} requested, ${num(item.availableStock)} left`,
          ),
        )
        .join("\n");
    },
  },
  INVALID_STOCK_CHANGE: {
    title: ["재고가 0 아래로 내려갈 수 없습니다", "Stock cannot go below zero"],
    detail: (d, lang) => pick(lang, `현재 재고 ${num(n(d.availableStock))}개`, `${num(n(d.availableStock))} in stock`),
  },
  PRODUCT_IN_STOCK: { title: ["재고가 있는 상품입니다", "This product is in stock"] },
  ALREADY_SUBSCRIBED: { title: ["이미 재입고 알림을 신청했습니다", "You are already signed up for a restock alert"] },
  PAYMENT_DECLINED: {
    title: ["카드 결제가 거절되었습니다", "The card payment was declined"],
    detail: (d, lang) => pick(lang, `사유: ${String(d.reason ?? "알 수 없음")}`, `Reason: ${String(d.reason ?? "unknown")}`),
  },
  PAYMENT_GATEWAY_UNAVAILABLE: { title: ["결제사가 응답하지 않습니다. 잠시 후 다시 시도해 주세요", "The payment gateway did not answer; please retry"] },
  CHARGE_AMOUNT_OUT_OF_RANGE: {
    title: ["충전할 수 없는 금액입니다", "That amount cannot be charged"],
    detail: (d, lang) =>
      pick(lang, `${won(n(d.minAmount))} ~ ${won(n(d.maxAmount))} 사이로 충전해 주세요.`, `Charge between ${won(n(d.minAmount))} and ${won(n(d.maxAmount))}.`),
  },
  BALANCE_LIMIT_EXCEEDED: {
    title: ["잔액 한도를 넘습니다", "That would pass the balance limit"],
    detail: (d, lang) => pick(lang, `최대 ${won(n(d.chargeableAmount))}까지 충전할 수 있습니다.`, `You can charge up to ${won(n(d.chargeableAmount))}.`),
  },
  INSUFFICIENT_BALANCE: {
    title: ["잔액이 부족합니다", "Not enough balance"],
    detail: (d, lang) =>
      pick(
        lang,
        `결제 금액 ${won(n(d.requiredAmount))}, 잔액 ${won(n(d.currentBalance))} — ${won(n(d.shortfall))} 부족`,
        `To pay ${won(n(d.requiredAmount))}, balance ${won(n(d.currentBalance))} — ${won(n(d.shortfall))} short`,
      ),
    action: (d, lang) => (
      <Link className="btn" href={`/wallet?charge=${n(d.shortfall)}`}>
        {pick(lang, `${won(n(d.shortfall))} 충전하기`, `Charge ${won(n(d.shortfall))}`)}
      </Link>
    ),
  },
  CART_ITEM_NOT_FOUND: { title: ["장바구니에 없는 상품입니다", "That product is not in your cart"] },
  CART_FULL: { title: ["장바구니가 가득 찼습니다 (최대 50개 상품)", "Your cart is full (50 lines at most)"] },
  CART_EMPTY: { title: ["장바구니가 비어 있습니다", "Your cart is empty"] },
  CART_LINE_LIMIT: { title: ["한 상품은 99개까지 담을 수 있습니다", "At most 99 of one product"] },
  COUPON_NOT_FOUND: { title: ["쿠폰을 찾을 수 없습니다", "No such coupon"] },
  COUPON_SOLD_OUT: { title: ["쿠폰이 모두 소진되었습니다", "This coupon is sold out"] },
  COUPON_NOT_OPEN: {
    title: ["아직 발급 기간이 아닙니다", "This coupon is not open yet"],
    detail: (d, lang) => pick(lang, `발급 시작: ${dateTime(d.issueStartsAt as Date, lang)}`, `Opens ${dateTime(d.issueStartsAt as Date, lang)}`),
  },
  COUPON_CLOSED: { title: ["발급 기간이 끝났습니다", "This coupon's issue window has ended"] },
  ALREADY_ISSUED: { title: ["이미 발급받은 쿠폰입니다", "You already have this coupon"] },
  COUPON_NOT_OWNED: { title: ["보유한 쿠폰이 아닙니다", "That coupon is not yours"] },
  COUPON_ALREADY_USED: { title: ["이미 사용한 쿠폰입니다", "This coupon was already used"] },
  COUPON_EXPIRED: { title: ["유효기간이 지난 쿠폰입니다", "This coupon has expired"] },
  COUPON_MIN_ORDER_NOT_MET: {
    title: ["최소 주문 금액에 미달합니다", "Below the coupon's minimum order"],
    detail: (d, lang) => pick(lang, `최소 ${won(n(d.minOrderAmount))} 이상 주문해야 합니다.`, `The order must be at least ${won(n(d.minOrderAmount))}.`),
  },
  ORDER_NOT_FOUND: { title: ["주문을 찾을 수 없습니다", "No such order"] },
  INVALID_ORDER_STATE: {
    title: ["지금 상태에서는 할 수 없습니다", "Not possible in the order's current state"],
    detail: (d, lang) => (d.status ? pick(lang, `현재 상태: ${String(d.status)}`, `Current status: ${String(d.status)}`) : ""),
  },
  ORDER_PAYMENT_EXPIRED: { title: ["결제 기한이 지났습니다", "The payment window has passed"] },
  PAYMENT_SPLIT_INVALID: {
    title: ["지갑 결제 금액이 주문 금액보다 큽니다", "The wallet part is more than the order's total"],
    detail: (d, lang) =>
      pick(lang, `최대 ${won(n(d.finalAmount))}까지 지갑으로 결제할 수 있습니다.`, `At most ${won(n(d.finalAmount))} can come from the wallet.`),
  },
  IDEMPOTENCY_KEY_REUSED: { title: ["같은 요청 키가 다른 내용으로 쓰였습니다", "The request key was used for something else"] },
  IDEMPOTENCY_IN_PROGRESS: { title: ["처리 중입니다. 잠시 후 다시 시도해 주세요", "Still being processed; retry shortly"] },
  SHIPMENT_NOT_FOUND: { title: ["아직 배송 정보가 없습니다", "No shipment yet"] },
  SHIPMENT_INVALID_STATE: { title: ["취소된 배송입니다", "The shipment was cancelled"] },
  TRACKING_NUMBER_TAKEN: { title: ["다른 배송에 쓰인 송장번호입니다", "Another shipment has this tracking number"] },
  OUTBOX_EVENT_NOT_FOUND: { title: ["이벤트를 찾을 수 없습니다", "No such event"] },
  OUTBOX_EVENT_NOT_RETRYABLE: { title: ["재시도할 수 없는 이벤트입니다 (이미 전송되었거나 전송 중)", "Not retryable (sent, or being sent)"] },
  WEBHOOK_ENDPOINT_NOT_FOUND: { title: ["웹훅 엔드포인트를 찾을 수 없습니다", "No such webhook endpoint"] },
  WEBHOOK_TARGET_NOT_ALLOWED: { title: ["이 주소로는 웹훅을 보낼 수 없습니다 (내부·사설 주소)", "Webhooks cannot go to this address (internal or private)"] },
  INVALID_PERIOD: { title: ["기간이 올바르지 않습니다", "That period is not valid"] },
  SERVICE_UNAVAILABLE: { title: ["일시적으로 서비스를 이용할 수 없습니다. 잠시 후 다시 시도해 주세요", "Temporarily unavailable; please retry"] },
  VALIDATION_FAILED: {
    title: ["입력값을 확인해 주세요", "Please check the form"],
    detail: () => "",
  },
};

export interface DescribedError {
  code: string | null;
  title: string;
  detail: string;
  fields: Record<string, string[]>;
  action: ReactNode;
}

export function describeError(error: unknown, lang: Lang): DescribedError {
  const code = domainCodeOf(error);
  const data = error instanceof TRPCClientError ? (error.data as { details?: Details; fieldErrors?: Record<string, string[]> } | undefined) : undefined;
  const details = data?.details ?? {};
  const entry = code ? messages[code] : undefined;
  if (entry) {
    return {
      code,
      title: entry.title[lang === "ko" ? 0 : 1],
      detail: entry.detail?.(details, lang) ?? "",
      fields: data?.fieldErrors ?? {},
      action: entry.action?.(details, lang) ?? null,
    };
  }
  const offline = error instanceof TypeError || (error instanceof TRPCClientError && !data);
  return {
    code,
    title: offline ? pick(lang, "서버에 연결할 수 없습니다", "Cannot reach the server") : pick(lang, "요청을 처리하지 못했습니다", "Something went wrong"),
    detail: pick(lang, "잠시 후 다시 시도해 주세요.", "Please try again in a moment."),
    fields: {},
    action: null,
  };
}

/** A failed call, in words, with its action (e.g. charge the shortfall). */
export function ErrorNotice({ error }: { error: unknown }) {
  const lang = useLang();
  const t = useT();
  if (!error) return null;
  const described = describeError(error, lang);
  const fieldLines = Object.entries(described.fields);
  return (
    <div className="notice error" role="alert" data-code={described.code ?? "UNKNOWN"}>
      <strong>{described.title}</strong>
      {described.detail ? <div style={{ whiteSpace: "pre-line" }}>{described.detail}</div> : null}
      {fieldLines.length > 0 ? (
        <ul>
          {fieldLines.map(([field, list]) => (
            <li key={field}>
              {field}: {list.join(", ")}
            </li>
          ))}
        </ul>
      ) : null}
      {described.action ? <div style={{ marginTop: ".5rem" }}>{described.action}</div> : null}
      {described.code === "UNAUTHENTICATED" ? <span className="sr-only">{t("로그인", "Log in")}</span> : null}
    </div>
  );
}
