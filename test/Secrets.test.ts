/**
 * Secrets never appear in logs or API answers: the credentials and query of WEBHOOK_URL and
 * DATABASE_URL, WEBHOOK_SECRET, S3 keys.
 */
import { afterAll, afterEach, describe, expect, it, spyOn } from "bun:test"
import { ConfigProvider, Effect, Layer } from "effect"
import { LoggerLive } from "../src/Logging"
import { makeRedactor, redactUrl } from "../src/Redaction"
import { Relay } from "../src/Outbox/Relay"
import { bytes, startTestApp, type TestApp } from "./support/TestApp"

const running: Array<TestApp> = []
afterEach(async () => {
  for (const app of running.splice(0)) await app.close()
})

describe("redaction", () => {
  it("hides a URL's userinfo and query values but keeps where it points", () => {
    expect(redactUrl("https://hook:s3cret-pw@example.test:8443/in/portal?token=abc123&x=1")).toBe(
      "https://***@example.test:8443/in/portal?token=***&x=***"
    )
    expect(redactUrl("not a url")).toBe("***")
  })

  it("scrubs every known secret out of a text, URLs in their redacted form", () => {
    const redactor = makeRedactor(["https://u:pw-9999@h.test/p?k=tok-7777", "pw-9999", "tok-7777", "whsec-1234"])
    expect(redactor.scrub("POST https://u:pw-9999@h.test/p?k=tok-7777 failed; key whsec-1234, again pw-9999")).toBe(
      "POST https://***@h.test/p?k=*** failed; key ***, again ***"
    )
  })
})

describe("a failing webhook", () => {
  const WEBHOOK_URL = "http://hookuser:hook-password-1@127.0.0.1:9/hooks?token=query-secret-2"

  it("stores and lists its error without WEBHOOK_URL's credentials or query", async () => {
    const app = await startTestApp({ env: { WEBHOOK_URL, WEBHOOK_SECRET: "webhook-secret-3" } })
    running.push(app)
    const admin = await app.createUser({ admin: true })
    const id = (await app.createSession(admin.token, { total_size_bytes: 10, chunk_size_bytes: 10 })).body.id
    await app.putPart(admin.token, id, 1, bytes(10, 1))
    expect((await app.complete(admin.token, id)).status).toBe(200)
    expect(await app.run(Effect.flatMap(Relay, (relay) => relay.deliverDue))).toBe(1)

    const [stored] = await app.sql<{ last_error: string }>("SELECT last_error FROM outbox_events")
    expect(stored?.last_error).toBeTruthy()
    const listed = JSON.stringify((await app.request("GET", "/admin/outbox", { token: admin.token })).body)
    for (const text of [stored?.last_error ?? "", listed]) {
      expect(text).not.toContain("hook-password-1")
      expect(text).not.toContain("query-secret-2")
      expect(text).not.toContain("webhook-secret-3")
    }
  })
})

describe("log lines", () => {
  const lines: Array<string> = []
  const errors = spyOn(console, "error").mockImplementation((...parts: Array<unknown>) => {
    lines.push(parts.map(String).join(" "))
  })
  afterAll(() => errors.mockRestore())

  it("never carry the configured secrets, in logfmt or JSON", async () => {
    for (const format of ["logfmt", "json"]) {
      const provider = ConfigProvider.fromMap(new Map([
        ["LOG_FORMAT", format],
        ["DATABASE_URL", "postgres://portal:db-password-4@db.test:5432/portal"],
        ["WEBHOOK_URL", "https://hooks.test/in?token=query-secret-5"],
        ["S3_SECRET_ACCESS_KEY", "s3-secret-key-6"]
      ]))
      await Effect.runPromise(
        Effect.logError(
          "connecting to postgres://portal:db-password-4@db.test:5432/portal failed",
          "s3 signing with s3-secret-key-6",
          { url: "https://hooks.test/in?token=query-secret-5" }
        ).pipe(Effect.provide(LoggerLive.pipe(Layer.provide(Layer.setConfigProvider(provider)))))
      )
    }
    const written = lines.join("\n")
    expect(written).toContain("db.test:5432")
    for (const secret of ["db-password-4", "query-secret-5", "s3-secret-key-6"]) expect(written).not.toContain(secret)
  })
})
