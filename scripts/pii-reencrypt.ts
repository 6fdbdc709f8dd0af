/**
 * `bun run pii:reencrypt`: after adding a new key to PII_KEYS (and making it PII_KEY_ID), seals every
 * email and phone still under an older key (or not sealed at all) with the current one. Safe to run
 * while servers run on PostgreSQL (row by row; a value is readable under either key meanwhile), and
 * again after an interruption. Remove the old key from PII_KEYS only after it reports 0 rows left.
 */
import { loadConfig } from "../apps/server/config.ts";
import { createDatabase } from "../db/index.ts";
import { createIdentityService, defaultIdentityConfig } from "../modules/identity/index.ts";
import { createMemoryInfra, createPiiCipher, developmentPiiKeys, systemClock } from "../modules/kernel/index.ts";

const config = loadConfig();
const cipher = createPiiCipher(config.piiKeys ?? developmentPiiKeys);
const database = await createDatabase({ url: config.databaseUrl, dataDir: config.dataDir, poolSize: 2 });
try {
  const identity = createIdentityService({ db: database.db, clock: systemClock, infra: createMemoryInfra(systemClock), config: defaultIdentityConfig, cipher });
  const rows = await identity.resealPersonalData();
  console.log(`sealed ${rows} account(s) under key "${cipher.currentKeyId}"; every email and phone is now under it`);
} finally {
  await database.close();
}
