import { describe, expect, test } from "bun:test";
import {
  backInStockEmail,
  backInStockSms,
  deadEventAlert,
  lowStockEmail,
  orderCancelledEmail,
  orderPaidEmail,
  orderRefundedEmail,
  SMS_MAX_BYTES,
  shipmentDeliveredEmail,
  shipmentDeliveredSms,
  shipmentShippedEmail,
  shipmentShippedSms,
  smsBytes,
  thousands,
  won,
} from "./templates.ts";

describe("numbers", () => {
  test("thousands separators, without locale", () => {
    expect(thousands(0)).toBe("0");
    expect(thousands(999)).toBe("999");
    expect(thousands(1_000)).toBe("1,000");
    expect(thousands(34_500)).toBe("34,500");
    expect(thousands(1_234_567)).toBe("1,234,567");
    expect(thousands(-3_000)).toBe("-3,000");
    expect(won(10_000_000)).toBe("10,000,000원");
  });
});

describe("order texts", () => {
  const paid = {
    name: "김민지",
    orderId: 1042,
    items: [
      { productName: "무선 키보드", unitPrice: 12_000, quantity: 2 },
      { productName: "마우스 패드", unitPrice: 3_500, quantity: 3 },
    ],
    subtotalAmount: 34_500,
    discountAmount: 3_000,
    finalAmount: 31_500,
  };

  test("paid: every line, the discount and the amount paid", () => {
    expect(orderPaidEmail(paid)).toEqual({
      subject: "[Agora] 주문 완료 · 주문번호 1042",
      body: [
        "김민지님, 주문이 완료되었습니다.",
        "",
        "주문번호: 1042",
        "- 무선 키보드 × 2: 24,000원",
        "- 마우스 패드 × 3: 10,500원",
        "",
        "상품 금액: 34,500원",
        "할인: -3,000원",
        "결제 금액: 31,500원 (지갑 결제)",
      ].join("\n"),
    });
  });

  test("paid without a discount has no discount line", () => {
    const body = orderPaidEmail({ ...paid, discountAmount: 0, finalAmount: 34_500 }).body;
    expect(body).not.toContain("할인");
    expect(body.split("\n").at(-1)).toBe("결제 금액: 34,500원 (지갑 결제)");
  });

  test("paid by card, or split: the text names each source", () => {
    const last = (payments: Array<{ method: "wallet" | "card"; amount: number }>) =>
      orderPaidEmail({ ...paid, payments })
        .body.split("\n")
        .at(-1);
    expect(last([{ method: "card", amount: 31_500 }])).toBe("결제 금액: 31,500원 (카드 결제)");
    expect(last([{ method: "wallet", amount: 31_500 }])).toBe("결제 금액: 31,500원 (지갑 결제)");
    expect(
      last([
        { method: "card", amount: 21_500 },
        { method: "wallet", amount: 10_000 },
      ]),
    ).toBe("결제 금액: 31,500원 (지갑 10,000원 + 카드 21,500원)");
  });

  test("a refund names where the money went back", () => {
    const line = (refunded: { wallet: number; card: number }) =>
      orderRefundedEmail({ name: "Lee", orderId: 9, refundedAmount: refunded.wallet + refunded.card, refunded, reason: "x" })
        .body.split("\n")
        .at(-1);
    expect(line({ wallet: 0, card: 5_000 })).toBe("환불 금액: 5,000원 (카드로 환불되었습니다)");
    expect(line({ wallet: 2_000, card: 3_000 })).toBe("환불 금액: 5,000원 (지갑 2,000원, 카드 3,000원으로 환불되었습니다)");
    const cancelled = orderCancelledEmail({
      name: "Lee",
      orderId: 9,
      refundedAmount: 5_000,
      refunded: { wallet: 5_000, card: 0 },
      couponRestored: false,
      reason: "x",
    });
    expect(cancelled.body.split("\n").at(-1)).toBe("환불 금액: 5,000원 (지갑으로 환불되었습니다)");
  });

  test("cancelled: the refund and the restored coupon; a cancelled pending order refunds nothing", () => {
    expect(orderCancelledEmail({ name: "김민지", orderId: 7, refundedAmount: 31_500, couponRestored: true, reason: "단순 변심" })).toEqual({
      subject: "[Agora] 주문 취소 · 주문번호 7",
      body: [
        "김민지님, 주문이 취소되었습니다.",
        "",
        "주문번호: 7",
        "취소 사유: 단순 변심",
        "환불 금액: 31,500원 (지갑으로 환불되었습니다)",
        "사용하신 쿠폰이 복원되었습니다.",
      ].join("\n"),
    });
    const unpaid = orderCancelledEmail({ name: "김민지", orderId: 8, refundedAmount: 0, couponRestored: false, reason: "x" }).body;
    expect(unpaid.split("\n").slice(-1)).toEqual(["결제 전 주문이라 환불할 금액이 없습니다."]);
    expect(unpaid).not.toContain("쿠폰");
  });

  test("refunded", () => {
    expect(orderRefundedEmail({ name: "Lee", orderId: 99, refundedAmount: 1_250_000, reason: "파손" })).toEqual({
      subject: "[Agora] 환불 완료 · 주문번호 99",
      body: ["Lee님, 반품 환불이 완료되었습니다.", "", "주문번호: 99", "환불 사유: 파손", "환불 금액: 1,250,000원 (지갑으로 환불되었습니다)"].join("\n"),
    });
  });
});

describe("shipment texts", () => {
  const facts = { name: "박서준", orderId: 321, carrier: "CJ대한통운", trackingNumber: "6543-2109-8765" };

  test("shipped: carrier and tracking number, by email and in one SMS line", () => {
    expect(shipmentShippedEmail(facts).body).toBe(
      ["박서준님, 주문하신 상품이 발송되었습니다.", "", "주문번호: 321", "택배사: CJ대한통운", "운송장 번호: 6543-2109-8765"].join("\n"),
    );
    expect(shipmentShippedSms(facts)).toEqual({
      subject: "[Agora] 상품 발송 · 주문번호 321",
      body: "[Agora] 주문 321 상품이 발송되었습니다. CJ대한통운 6543-2109-8765",
    });
  });

  test("without tracking details the lines are left out", () => {
    const bare = { ...facts, carrier: null, trackingNumber: null };
    expect(shipmentShippedEmail(bare).body).toBe("박서준님, 주문하신 상품이 발송되었습니다.\n\n주문번호: 321");
    expect(shipmentShippedSms(bare).body).toBe("[Agora] 주문 321 상품이 발송되었습니다.");
  });

  test("delivered", () => {
    expect(shipmentDeliveredEmail(facts).subject).toBe("[Agora] 배송 완료 · 주문번호 321");
    expect(shipmentDeliveredEmail(facts).body.split("\n")).toEqual([
      "박서준님, 주문하신 상품의 배송이 완료되었습니다.",
      "",
      "주문번호: 321",
      "택배사: CJ대한통운",
      "운송장 번호: 6543-2109-8765",
    ]);
    expect(shipmentDeliveredSms(facts).body).toBe("[Agora] 주문 321 배송이 완료되었습니다.");
  });
});

describe("stock texts", () => {
  test("back in stock, by email and SMS", () => {
    const facts = { name: "최유나", productId: 42, productName: "무선 키보드" };
    expect(backInStockEmail(facts)).toEqual({
      subject: "[Agora] 재입고 알림 · 무선 키보드",
      body: ["최유나님, 기다리시던 상품이 다시 입고되었습니다.", "", "상품: 무선 키보드 (상품번호 42)", "재고가 한정되어 있으니 서둘러 주세요."].join("\n"),
    });
    expect(backInStockSms(facts).body).toBe("[Agora] 재입고 알림: 무선 키보드 (상품번호 42) 지금 구매하실 수 있습니다.");
  });

  test("low stock for operators: quantity and threshold", () => {
    expect(lowStockEmail({ productId: 42, productName: "무선 키보드", quantity: 4, threshold: 1_000 })).toEqual({
      subject: "[Agora 운영] 재고 부족 · 무선 키보드 (남은 재고 4개)",
      body: ["재고가 알림 기준 아래로 내려갔습니다.", "", "상품: 무선 키보드 (상품번호 42)", "현재 재고: 4개", "알림 기준: 1,000개"].join("\n"),
    });
  });
});

describe("dead outbox event alert", () => {
  const event = {
    id: "01937a3c-0000-7000-8000-000000000001",
    type: "order.paid",
    destination: "data-platform",
    aggregateType: "order",
    aggregateId: "55",
    attempts: 2,
  };

  test("names the event, counts the failed attempt, links the event", () => {
    const alert = deadEventAlert(event, "data platform answered HTTP 503");
    expect(alert.subject).toBe("[Agora 운영] 이벤트 전달 실패 · order.paid → data-platform");
    expect(alert.sourceEventId).toBe(event.id);
    expect(alert.body.split("\n").slice(2)).toEqual([
      `이벤트: ${event.id}`,
      "종류: order.paid",
      "대상: data-platform",
      "대상 집계: order 55",
      "시도 횟수: 3",
      "마지막 오류: data platform answered HTTP 503",
    ]);
  });

  test("a long error is cut at 500 characters", () => {
    const last = deadEventAlert(event, "x".repeat(2_000)).body.split("\n").at(-1) ?? "";
    expect(last).toBe(`마지막 오류: ${"x".repeat(500)}`);
  });
});

describe("SMS templates fit one message", () => {
  const long = "초경량 무선 기계식 키보드 한정판 스페셜 에디션 ".repeat(4);
  test("every SMS stays within 90 bytes however long the product name or tracking number; a short one is unchanged", () => {
    const texts = [
      backInStockSms({ name: "김", productId: 123_456, productName: long }).body,
      shipmentShippedSms({ name: "김", orderId: 9_876_543, carrier: "CJ대한통운", trackingNumber: "1234567890123456789012345" }).body,
      shipmentDeliveredSms({ name: "김", orderId: 9_876_543, carrier: null, trackingNumber: null }).body,
    ];
    for (const text of texts) expect(smsBytes(text)).toBeLessThanOrEqual(SMS_MAX_BYTES);
    expect(texts[0]).toContain("초경량 무선");
    expect(texts[0]).toContain("…");
    expect(backInStockSms({ name: "김", productId: 42, productName: "무선 키보드" }).body).not.toContain("…");
  });
});
