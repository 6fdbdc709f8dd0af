/**
 * Where Agora may send a webhook. An integrator's URL must not make Agora call its own internals:
 * loopback, private, link-local (cloud metadata at 169.254.169.254), carrier-grade NAT, multicast
 * and reserved addresses are refused, for literal addresses and for names that resolve to them,
 * unless the operator allowed private targets (WEBHOOK_ALLOW_PRIVATE_TARGETS, for tests and
 * internal integrations). Redirects are never followed (sender.ts), so a public URL cannot bounce
 * the call inward. What remains: a name that resolves to a public address here and to a private
 * one when fetch resolves it again a moment later (DNS rebinding) is not caught.
 */
import { lookup } from "node:dns/promises";
import { BlockList, isIP } from "node:net";

const blocked = new BlockList();
for (const [net, bits] of [
  ["0.0.0.0", 8],
  ["10.0.0.0", 8],
  ["100.64.0.0", 10],
  ["127.0.0.0", 8],
  ["169.254.0.0", 16],
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.0.2.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["198.51.100.0", 24],
  ["203.0.113.0", 24],
  ["224.0.0.0", 4],
  ["240.0.0.0", 4],
] as const)
  blocked.addSubnet(net, bits, "ipv4");
for (const [net, bits] of [
  ["::", 128],
  ["::1", 128],
  ["64:ff9b::", 96],
  ["100::", 64],
  ["2001:db8::", 32],
  ["fc00::", 7],
  ["fe80::", 10],
  ["ff00::", 8],
] as const)
  blocked.addSubnet(net, bits, "ipv6");

/** True for an address Agora must not call on an integrator's behalf. */
export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return blocked.check(address, "ipv4");
  if (family !== 6) return true;
  // IPv4-mapped (::ffff:10.0.0.1): judged as the IPv4 address it is.
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped?.[1]) return blocked.check(mapped[1], "ipv4");
  return blocked.check(address, "ipv6");
}

export type Resolve = (hostname: string) => Promise<string[]>;

export const resolveWithDns: Resolve = async (hostname) => (await lookup(hostname, { all: true, verbatim: true })).map((a) => a.address);

export class TargetRefusedError extends Error {
  override name = "TargetRefusedError";
}

/**
 * Throws TargetRefusedError when the URL is not http(s) or its host is (or resolves to) a private
 * address. `lenient`: a name that does not resolve passes (checked again at each send).
 */
export async function checkTarget(url: string, options: { allowPrivate: boolean; resolve: Resolve; lenient?: boolean }): Promise<void> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TargetRefusedError("not a URL");
  }
  if (parsed.protocol !== "https:" && parsed.protocol !== "http:") throw new TargetRefusedError(`${parsed.protocol} is not http or https`);
  if (parsed.username || parsed.password) throw new TargetRefusedError("credentials in the URL are not allowed");
  if (options.allowPrivate) return;
  const host = parsed.hostname.replace(/^\[(.*)\]$/, "$1");
  let addresses: string[];
  if (isIP(host)) addresses = [host];
  else {
    try {
      addresses = await options.resolve(host);
    } catch (error) {
      if (options.lenient) return;
      throw new TargetRefusedError(`${host} does not resolve: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  const inward = addresses.find(isPrivateAddress);
  if (inward !== undefined) throw new TargetRefusedError(`${host} is a private address (${inward}); set WEBHOOK_ALLOW_PRIVATE_TARGETS to allow it`);
}
