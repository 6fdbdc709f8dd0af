/**
 * Korean first (the shop's customers and operators), English switchable. Texts sit next to their use as
 * `t("한국어", "English")`: a page reads in one place in both languages. The choice is kept in localStorage.
 */
import { createContext, useContext } from "react";

export type Lang = "ko" | "en";

export function initialLang(): Lang {
  try {
    const saved = localStorage.getItem("agora.lang");
    if (saved === "ko" || saved === "en") return saved;
  } catch {
    // storage may be blocked; Korean it is
  }
  return "ko";
}

export function saveLang(lang: Lang) {
  try {
    localStorage.setItem("agora.lang", lang);
  } catch {
    // not fatal
  }
  document.documentElement.lang = lang;
}

export const LangContext = createContext<{ lang: Lang; setLang: (lang: Lang) => void }>({ lang: "ko", setLang: () => {} });

/** `t(ko, en)` in the current language. */
export function useT() {
  const { lang } = useContext(LangContext);
  return (ko: string, en: string) => (lang === "ko" ? ko : en);
}

export function useLang(): Lang {
  return useContext(LangContext).lang;
}

const wonFormat = new Intl.NumberFormat("ko-KR", { style: "currency", currency: "KRW" });
const numberFormat = new Intl.NumberFormat("ko-KR");

/** Won as money: ₩30,000 in both languages (the amounts are won either way). */
export function won(amount: number | null | undefined): string {
  return amount == null ? "—" : wonFormat.format(amount);
}

export function num(value: number): string {
  return numberFormat.format(value);
}

/** An instant in the viewer's own time zone. */
export function dateTime(value: Date | string | null | undefined, lang: Lang): string {
  if (!value) return "—";
  return new Intl.DateTimeFormat(lang === "ko" ? "ko-KR" : "en-GB", { dateStyle: "medium", timeStyle: "short" }).format(new Date(value));
}

export function dateOnly(value: Date | string | null | undefined, lang: Lang): string {
  if (!value) return "—";
  return new Intl.DateTimeFormat(lang === "ko" ? "ko-KR" : "en-GB", { dateStyle: "medium" }).format(new Date(value));
}

const orderStatusNames: Record<string, [string, string]> = {
  pending_payment: ["결제 대기", "Awaiting payment"],
  paid: ["결제 완료", "Paid"],
  preparing: ["배송 준비", "Preparing"],
  shipped: ["배송 중", "Shipped"],
  delivered: ["배송 완료", "Delivered"],
  cancelled: ["취소됨", "Cancelled"],
  refunded: ["환불됨", "Refunded"],
  expired: ["기한 만료", "Expired"],
  requested: ["접수", "Requested"],
  ready: ["출고 준비", "Ready"],
  in_transit: ["배송 중", "In transit"],
  out_for_delivery: ["배송 출발", "Out for delivery"],
  sent: ["전송됨", "Sent"],
  failed: ["실패", "Failed"],
  pending: ["대기", "Pending"],
  dead: ["실패(dead)", "Dead"],
  active: ["활성", "Active"],
  hidden: ["숨김", "Hidden"],
  deleted: ["삭제됨", "Deleted"],
  deactivated: ["비활성", "Deactivated"],
  open: ["발급 중", "Open"],
  upcoming: ["예정", "Upcoming"],
  sold_out: ["소진", "Sold out"],
  ended: ["종료", "Ended"],
  available: ["사용 가능", "Available"],
  used: ["사용함", "Used"],
  paused: ["일시 중지", "Paused"],
  skipped: ["건너뜀", "Skipped"],
};

export function statusName(status: string, lang: Lang): string {
  const names = orderStatusNames[status];
  return names ? names[lang === "ko" ? 0 : 1] : status;
}

export function statusTone(status: string): "ok" | "warn" | "bad" | "" {
  if (["paid", "delivered", "sent", "available", "active", "open"].includes(status)) return "ok";
  if (["pending_payment", "preparing", "pending", "requested", "ready", "upcoming", "hidden", "paused", "skipped"].includes(status)) return "warn";
  if (["cancelled", "refunded", "expired", "dead", "failed", "deactivated", "sold_out", "ended", "used"].includes(status)) return "bad";
  return "";
}
