// examples/transport.ts: `bun examples/transport.ts` against a started server (AGORA_URL, default :3000)
import { createAgoraClient, domainCodeOf } from "@agora/client";

const url = process.env.AGORA_URL ?? "http://127.0.0.1:3000";
const anonymous = createAgoraClient({ url }); // the client adds /trpc
const email = `lee-${crypto.randomUUID().slice(0, 8)}@example.com`;
await anonymous.identity.signUp.mutate({ email, password: "long-password", name: "Lee" });
const { token } = await anonymous.identity.login.mutate({ email, password: "long-password" });

const lee = createAgoraClient({ url, token: () => token }); // token may also be a function
const cart = await lee.cart.get.query();
console.log(cart.items.length); // → 0

try {
  await lee.cart.addItem.mutate({ productId: 999_999_999, quantity: 1 });
} catch (error) {
  console.log(domainCodeOf(error)); // → "PRODUCT_NOT_FOUND"
}
