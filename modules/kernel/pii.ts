/**
 * Personal data at rest: AES-256-GCM through WebCrypto, a key id stored with every value (so keys
 * can rotate: `bun run pii:reencrypt`), and keyed blind indexes (HMAC-SHA256) where a lookup needs
 * the value itself (login by email, an operator's exact search by email or phone).
 *
 * A sealed value reads `pii1:<keyId>:<base64url(iv ‖ ciphertext ‖ tag)>`. The column it belongs to is
 * bound in as additional data, so a value copied into another column does not open.
 */
import { createHmac } from "node:crypto";

const PREFIX = "pii1:";
const IV_BYTES = 12;

export interface PiiKeys {
  /** Key id → 32-byte key, base64. Old ids stay listed until `pii:reencrypt` has moved every value off them. */
  keys: Record<string, string>;
  /** The key new values are sealed with. */
  currentKeyId: string;
  /** 32-byte HMAC key for blind indexes, base64. Rotating it means recomputing every index. */
  indexKey: string;
}

export interface PiiCipher {
  readonly currentKeyId: string;
  seal(plaintext: string, column: string): Promise<string>;
  /** Opens a sealed value; a value written before encryption (no prefix) is returned as it is. */
  open(stored: string, column: string): Promise<string>;
  /** Keyed, deterministic: equal inputs give equal indexes, and nothing about the input without the key. */
  blindIndex(normalized: string, column: string): string;
  isSealed(stored: string): boolean;
  /** The key id a sealed value was sealed with (null for plaintext). */
  keyIdOf(stored: string): string | null;
}

/** A copy on a plain ArrayBuffer, as WebCrypto's types want. */
const bytesOf = (source: Uint8Array): Uint8Array<ArrayBuffer> => {
  const copy = new Uint8Array(new ArrayBuffer(source.length));
  copy.set(source);
  return copy;
};

function decodeKey(base64: string, name: string): Uint8Array<ArrayBuffer> {
  const bytes = Buffer.from(base64, "base64");
  if (bytes.length !== 32) throw new Error(`${name} must be 32 bytes, base64-encoded (got ${bytes.length} bytes)`);
  return bytesOf(bytes);
}

export function createPiiCipher(config: PiiKeys): PiiCipher {
  const raw = new Map(Object.entries(config.keys).map(([id, key]) => [id, decodeKey(key, `PII key ${id}`)]));
  if (!raw.has(config.currentKeyId)) throw new Error(`the current PII key id "${config.currentKeyId}" is not among the configured keys`);
  for (const id of raw.keys()) if (!/^[A-Za-z0-9_-]{1,32}$/.test(id)) throw new Error(`PII key id "${id}" must be 1-32 letters, digits, - or _`);
  const indexKey = Buffer.from(decodeKey(config.indexKey, "the PII index key"));
  const cryptoKeys = new Map<string, Promise<CryptoKey>>();
  const keyFor = (id: string) => {
    const bytes = raw.get(id);
    if (!bytes) throw new Error(`no PII key "${id}" is configured: it is needed to open values sealed with it`);
    let key = cryptoKeys.get(id);
    if (!key) {
      key = crypto.subtle.importKey("raw", bytes, "AES-GCM", false, ["encrypt", "decrypt"]);
      cryptoKeys.set(id, key);
    }
    return key;
  };
  const encoder = new TextEncoder();

  return {
    currentKeyId: config.currentKeyId,
    async seal(plaintext, column) {
      const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
      const sealed = await crypto.subtle.encrypt(
        { name: "AES-GCM", iv, additionalData: encoder.encode(column) },
        await keyFor(config.currentKeyId),
        encoder.encode(plaintext),
      );
      const body = Buffer.concat([Buffer.from(iv), Buffer.from(sealed)]).toString("base64url");
      return `${PREFIX}${config.currentKeyId}:${body}`;
    },
    async open(stored, column) {
      if (!stored.startsWith(PREFIX)) return stored;
      const rest = stored.slice(PREFIX.length);
      const colon = rest.indexOf(":");
      const bytes = Buffer.from(rest.slice(colon + 1), "base64url");
      const opened = await crypto.subtle.decrypt(
        { name: "AES-GCM", iv: bytesOf(bytes.subarray(0, IV_BYTES)), additionalData: encoder.encode(column) },
        await keyFor(rest.slice(0, colon)),
        bytesOf(bytes.subarray(IV_BYTES)),
      );
      return new TextDecoder().decode(opened);
    },
    blindIndex(normalized, column) {
      return createHmac("sha256", indexKey).update(column).update("\u0000").update(normalized).digest("base64url");
    },
    isSealed: (stored) => stored.startsWith(PREFIX),
    keyIdOf(stored) {
      if (!stored.startsWith(PREFIX)) return null;
      const rest = stored.slice(PREFIX.length);
      return rest.slice(0, rest.indexOf(":"));
    },
  };
}

/**
 * Keys for development and tests only: derived from a public constant, so anything sealed with them
 * is readable by anyone with this source. Production refuses to start on them (apps/server/config.ts).
 */
export const developmentPiiKeys: PiiKeys = {
  keys: { dev: Buffer.alloc(32, "agora-development-pii-key").toString("base64") },
  currentKeyId: "dev",
  indexKey: Buffer.alloc(32, "agora-development-index-key").toString("base64"),
};
