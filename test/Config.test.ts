/** Settings are read once and checked: a value that cannot work stops the start with a clear message. */
import { describe, expect, it } from "bun:test"
import { ConfigProvider, Effect, Exit } from "effect"
import { settingsConfig } from "../src/Config"

const read = (env: Record<string, string>) =>
  Effect.runSyncExit(Effect.withConfigProvider(settingsConfig, ConfigProvider.fromMap(new Map(Object.entries(env)))))

const failure = (env: Record<string, string>) => {
  const exit = read(env)
  return Exit.isFailure(exit) ? String(exit.cause) : "accepted"
}

describe("settings", () => {
  it("have defaults for everything", () => {
    expect(Exit.isSuccess(read({}))).toBe(true)
  })

  it("refuse webhook, pool and upload settings that cannot work", () => {
    expect(failure({ WEBHOOK_BATCH_SIZE: "0" })).toContain("WEBHOOK_BATCH_SIZE")
    expect(failure({ WEBHOOK_MAX_ATTEMPTS: "0" })).toContain("WEBHOOK_MAX_ATTEMPTS")
    expect(failure({ WEBHOOK_TIMEOUT: "-1" })).toContain("WEBHOOK_TIMEOUT")
    expect(failure({ WEBHOOK_LEASE: "0" })).toContain("WEBHOOK_LEASE")
    expect(failure({ WEBHOOK_BACKOFF_BASE: "100", WEBHOOK_BACKOFF_MAX: "10" })).toContain("WEBHOOK_BACKOFF_BASE")
    expect(failure({ DATABASE_POOL_SIZE: "0" })).toContain("DATABASE_POOL_SIZE")
    expect(failure({ UPLOAD_MAX_CONCURRENT_PER_USER: "0" })).toContain("UPLOAD_MAX_CONCURRENT_PER_USER")
    expect(failure({ UPLOAD_BODY_IDLE_TIMEOUT: "0" })).toContain("UPLOAD_BODY_IDLE_TIMEOUT")
    expect(failure({ UPLOAD_CHUNK_SIZE_MIN: "100", UPLOAD_CHUNK_SIZE_DEFAULT: "10" })).toContain("UPLOAD_CHUNK_SIZE_MIN")
  })
})
