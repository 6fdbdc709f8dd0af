// examples/quick-start.ts: `bun examples/quick-start.ts` against a started, seeded server (AGORA_URL, default :3000)
import { createAgoraClient } from "@agora/client";

const url = process.env.AGORA_URL ?? "http://127.0.0.1:3000";
const anonymous = createAgoraClient({ url });
const email = `kim-${crypto.randomUUID().slice(0, 8)}@example.com`;
const { token } = await anonymous.identity.signUp.mutate({ email, password: "long-password", name: "Kim" });

const kim = createAgoraClient({ url, token });
const page = await kim.catalog.search.query({ query: "키보드", limit: 10 });
const keyboard = page.items.find((product) => product.stock > 0);
if (!keyboard) throw new Error("no keyboard in stock: run `bun run seed` first");

await kim.wallet.charge.mutate({ amount: keyboard.price, idempotencyKey: crypto.randomUUID() });
const order = await kim.orders.place.mutate({
  items: [{ productId: keyboard.id, quantity: 1 }],
  shippingAddress: "서울특별시 중구 세종대로 110",
});
console.log(order); // → { orderId, status: "paid", finalAmount, remainingBalance, ... }
