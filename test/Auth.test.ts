import { afterAll, beforeAll, describe, expect, it } from "bun:test"
import { Effect, Redacted } from "effect"
import { Users } from "../src/Auth/Users"
import { sha256Hex, startTestApp, type TestApp } from "./support/TestApp"

let app: TestApp
beforeAll(async () => {
  app = await startTestApp()
})
afterAll(() => app.close())

const me = (authorization?: string) =>
  app.request("GET", "/me", authorization === undefined ? {} : { headers: { authorization } })

describe("bearer token authentication", () => {
  it("lets a valid token reach the handler as its user", async () => {
    const { token, user } = await app.createUser({ quota: 1234 })
    const reply = await me(`Bearer ${token}`)
    expect(reply.status).toBe(200)
    expect(reply.body).toMatchObject({ id: user.id, name: user.name, is_admin: false, quota_bytes: 1234 })
  })

  it("answers 401 with a tagged body without a token, or with a malformed or unknown one", async () => {
    for (const header of [undefined, "Bearer ", "Bearer nonsense", "Basic dXNlcjpwYXNz", `Bearer ipt_${"A".repeat(43)}`]) {
      const reply = await me(header)
      expect(reply.status).toBe(401)
      expect(reply.body._tag).toBe("Unauthorized")
      expect(typeof reply.body.message).toBe("string")
    }
  })

  it("answers 401 once a token is revoked, while the user's other tokens keep working", async () => {
    const { token, user } = await app.createUser()
    const second = await app.run(Effect.gen(function*() {
      const users = yield* Users
      return yield* users.issueToken(user, "second")
    }))
    const [first] = await app.sql<{ id: string }>("SELECT id FROM api_tokens WHERE user_id = $1 ORDER BY id LIMIT 1", [user.id])
    await app.run(Effect.flatMap(Users, (users) => users.revokeToken(first!.id as never)))
    expect((await me(`Bearer ${token}`)).status).toBe(401)
    expect((await me(`Bearer ${Redacted.value(second.secret)}`)).status).toBe(200)
  })

  it("stores only the SHA-256 of a token", async () => {
    const { token, user } = await app.createUser()
    const rows = await app.sql<{ secret_sha256: Uint8Array }>("SELECT secret_sha256 FROM api_tokens WHERE user_id = $1", [user.id])
    expect(rows).toHaveLength(1)
    expect(Buffer.from(rows[0]!.secret_sha256).toString("hex")).toBe(sha256Hex(token))
    const dump = JSON.stringify(await app.sql("SELECT * FROM api_tokens"))
    expect(dump.includes(token)).toBe(false)
  })

  it("leaves /health open", async () => {
    const reply = await app.request("GET", "/health")
    expect(reply.status).toBe(200)
    expect(reply.body).toMatchObject({ status: "ok", checks: { database: { status: "ok" }, storage: { status: "ok" } } })
  })
})
