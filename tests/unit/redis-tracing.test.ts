/** ioredis builds a trace for every command unless its TracingChannel says no one listens (kernel/infra/redis.ts). */
import { expect, test } from "bun:test";
import diagnosticsChannel from "node:diagnostics_channel";
import "../../modules/kernel/index.ts";

test("a tracing channel says whether anyone listens, as Node's does", () => {
  const channel = diagnosticsChannel.tracingChannel("ioredis:command");
  expect(channel.hasSubscribers).toBe(false);
  const listener = () => {};
  channel.asyncEnd.subscribe(listener);
  expect(channel.hasSubscribers).toBe(true);
  channel.asyncEnd.unsubscribe(listener);
  expect(channel.hasSubscribers).toBe(false);
});
