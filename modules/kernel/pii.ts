/**
 * Personal data at rest: AES-256-GCM (node:crypto: ~3 µs a value under Bun against ~40 µs through
 * WebCrypto's promise and thread hop, and every order and parcel booking seals or opens one), a key id stored with every value (so keys
 * can rotate: `bun run pii:reencrypt`), and keyed blind indexes (HMAC-SHA256) where a lookup needs
 * the value itself (login by email, an operator's exact search by email or phone).
 *
 * A sealed value reads `pii1:<keyId>:<base64url(iv ‖ ciphertext ‖ tag)>`. The column it belongs to is
 * bound in as additional data, so a value copied into another column does not open.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from "node:crypto";

const PREFIX = "pii1:";
const IV_BYTES = 12;
/** GCM's tag, written after the ciphertext (as WebCrypto writes it, so values sealed by either open). */
const TAG_BYTES = 16;

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

function decodeKey(base64: string, name: string): Buffer {
  const bytes = Buffer.from(base64, "base64");
  if (bytes.length !== 32) throw new Error(`${name} must be 32 bytes, base64-encoded (got ${bytes.length} bytes)`);
  return bytes;
}

export function createPiiCipher(config: PiiKeys): PiiCipher {
  const raw = new Map(Object.entries(config.keys).map(([id, key]) => [id, decodeKey(key, `PII key ${id}`)]));
  if (!raw.has(config.currentKeyId)) throw new Error(`the current PII key id "${config.currentKeyId}" is not among the configured keys`);
  for (const id of raw.keys()) if (!/^[A-Za-z0-9_-]{1,32}$/.test(id)) throw new Error(`PII key id "${id}" must be 1-32 letters, digits, - or _`);
  const indexKey = decodeKey(config.indexKey, "the PII index key");
  const keyFor = (id: string) => {
    const key = raw.get(id);
    if (!key) throw new Error(`no PII key "${id}" is configured: it is needed to open values sealed with it`);
    return key;
  };

  return {
    currentKeyId: config.currentKeyId,
    async seal(plaintext, column) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv("aes-256-gcm", keyFor(config.currentKeyId), iv);
      cipher.setAAD(Buffer.from(column));
      const body = Buffer.concat([iv, cipher.update(plaintext, "utf8"), cipher.final(), cipher.getAuthTag()]).toString("base64url");
      return `${PREFIX}${config.currentKeyId}:${body}`;
    },
    async open(stored, column) {
      if (!stored.startsWith(PREFIX)) return stored;
      const rest = stored.slice(PREFIX.length);
      const colon = rest.indexOf(":");
      const key = keyFor(rest.slice(0, colon));
      const bytes = Buffer.from(rest.slice(colon + 1), "base64url");
      if (bytes.length < IV_BYTES + TAG_BYTES) throw new Error("a sealed value is too short to open");
      const decipher = createDecipheriv("aes-256-gcm", key, bytes.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
      decipher.setAAD(Buffer.from(column));
      decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
      return Buffer.concat([decipher.update(bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES)), decipher.final()]).toString("utf8");
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
