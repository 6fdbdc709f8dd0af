/**
 * `bun run pii:reencrypt`: after adding a new key to PII_KEYS (and making it PII_KEY_ID), seals every
 * value still under an older key (or not sealed at all) with the current one: accounts' email and
 * phone, and the notification log's recipients, subjects and bodies. Safe to run while servers run
 * on PostgreSQL (row by row; a value is readable under either key meanwhile), and again after an
 * interruption. Remove the old key from PII_KEYS only after it reports 0 rows left.
 */
import { loadConfig } from "../apps/server/config.ts";
import { createDatabase } from "../db/index.ts";
import { createIdentityService, defaultIdentityConfig } from "../modules/identity/index.ts";
import { createMemoryInfra, createPiiCipher, developmentPiiKeys, systemClock } from "../modules/kernel/index.ts";
import { resealNotificationLog } from "../modules/notifications/index.ts";

const config = loadConfig();
const cipher = createPiiCipher(config.piiKeys ?? developmentPiiKeys);
const database = await createDatabase({ url: config.databaseUrl, dataDir: config.dataDir, poolSize: 2 });
try {
  const identity = createIdentityService({ db: database.db, clock: systemClock, infra: createMemoryInfra(systemClock), config: defaultIdentityConfig, cipher });
  const accounts = await identity.resealPersonalData();
  console.log(`sealed ${accounts} account(s) under key "${cipher.currentKeyId}"; every email and phone is now under it`);
  const messages = await resealNotificationLog(database.db, cipher);
  console.log(`sealed ${messages} notification message(s) under key "${cipher.currentKeyId}"; every recipient, subject and body is now under it`);
} finally {
  await database.close();
}
