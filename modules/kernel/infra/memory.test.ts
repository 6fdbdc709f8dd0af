/** The in-process map behind the embedded cache, locks and counters: expired entries do not pile up. */
import { expect, test } from "bun:test";
import { ManualClock } from "../clock.ts";
import { ExpiringMap } from "./memory.ts";

test("entries nobody reads again are swept once the map has taken as many new ones as it held", () => {
  const clock = new ManualClock();
  const map = new ExpiringMap(clock);
  map.set("kept", "forever", undefined);
  for (let i = 0; i < 1_000; i++) map.set(`revoked:${i}`, "mark", 1_000);
  clock.advance(2_000);
  expect(map.size).toBe(1_001); // expired, not yet swept
  for (let i = 0; i < 50; i++) map.set(`fresh:${i}`, "value", 60_000);
  // The sweep ran at the 1,024th set: the 1,000 expired marks are gone, the live entries stay.
  expect(map.size).toBe(51);
  expect(map.get("kept")).toBe("forever");
  expect(map.get("fresh:0")).toBe("value");
  expect(map.get("revoked:0")).toBeUndefined();
});

test("an expired entry reads as missing before any sweep", () => {
  const clock = new ManualClock();
  const map = new ExpiringMap(clock);
  map.set("k", "v", 10);
  clock.advance(10);
  expect(map.get("k")).toBeUndefined();
  expect(map.size).toBe(0);
});
