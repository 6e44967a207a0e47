/** The admin HTTP API for users and tokens, through the real HTTP server and database. */
import { afterAll, beforeAll, describe, expect, it } from "bun:test"
import { startTestApp, type TestApp } from "./support/TestApp"

const DEFAULT_QUOTA = 987654321
const TOKEN_SHAPE = /^ipt_[A-Za-z0-9_-]{43}$/

let app: TestApp
let admin: string
let plain: { readonly token: string; readonly user: { readonly id: string } }

beforeAll(async () => {
  app = await startTestApp({ env: { UPLOAD_DEFAULT_QUOTA: String(DEFAULT_QUOTA) } })
  admin = (await app.createUser({ admin: true })).token
  plain = await app.createUser()
})
afterAll(() => app.close())

const uniqueName = (prefix: string) => `${prefix}-${Bun.randomUUIDv7().slice(-8)}`

const createUser = (json: Record<string, unknown>, token = admin) =>
  app.request("POST", "/admin/users", { token, json })

const me = (token: string) => app.request("GET", "/me", { token })

/** Every digest of a secret the database holds, as hex: none of them may show in an answer. */
const storedDigests = async () =>
  (await app.sql<{ hex: string }>("SELECT encode(secret_sha256, 'hex') AS hex FROM api_tokens")).map((row) => row.hex)

describe("admin users API", () => {
  it("is for admins only: 403 for other users, 401 without a token", async () => {
    const target = plain.user.id
    const token = plain.token
    const attempts = [
      app.request("GET", "/admin/users", { token }),
      createUser({ name: uniqueName("nope") }, token),
      app.request("PATCH", `/admin/users/${target}`, { token, json: { quota_bytes: 1 } }),
      app.request("GET", `/admin/users/${target}/tokens`, { token }),
      app.request("POST", `/admin/users/${target}/tokens`, { token, json: {} }),
      app.request("DELETE", `/admin/tokens/${Bun.randomUUIDv7()}`, { token })
    ]
    for (const reply of await Promise.all(attempts)) {
      expect(reply.status).toBe(403)
      expect(reply.body._tag).toBe("Forbidden")
    }
    expect((await app.request("GET", "/admin/users")).status).toBe(401)
    // nothing was changed by the refused requests
    const [row] = await app.sql("SELECT quota_bytes FROM users WHERE id = $1", [target])
    expect(row?.quota_bytes).toBe(DEFAULT_QUOTA)
  })

  it("creates a user with its first token, whose secret is shown once and works", async () => {
    const name = uniqueName("erin")
    const reply = await createUser({ name, quota_bytes: 5000, token_name: "laptop" })
    expect(reply.status).toBe(201)
    expect(reply.body.user).toMatchObject({ name, is_admin: false, quota_bytes: 5000 })
    expect(reply.body.token).toMatchObject({ user_id: reply.body.user.id, name: "laptop", revoked_at: null })
    expect(reply.body.token.secret).toMatch(TOKEN_SHAPE)
    const whoami = await me(reply.body.token.secret)
    expect(whoami.status).toBe(200)
    expect(whoami.body.id).toBe(reply.body.user.id)
  })

  it("creates users with the default quota, as admins, or without a token", async () => {
    const ordinary = await createUser({ name: uniqueName("frank") })
    expect(ordinary.body.user.quota_bytes).toBe(DEFAULT_QUOTA)
    const operator = await createUser({ name: uniqueName("grace"), is_admin: true })
    expect(operator.body.user.is_admin).toBe(true)
    expect((await app.request("POST", "/admin/sweep", { token: operator.body.token.secret })).status).toBe(200)
    const tokenless = await createUser({ name: uniqueName("heidi"), issue_token: false })
    expect(tokenless.status).toBe(201)
    expect(tokenless.body.token).toBeNull()
    expect(await app.sql("SELECT id FROM api_tokens WHERE user_id = $1", [tokenless.body.user.id])).toEqual([])
  })

  it("answers 409 UserNameTaken when the name is taken", async () => {
    const name = uniqueName("ivan")
    expect((await createUser({ name })).status).toBe(201)
    const again = await createUser({ name, is_admin: true })
    expect(again.status).toBe(409)
    expect(again.body).toMatchObject({ _tag: "UserNameTaken", user_name: name })
    expect(await app.sql("SELECT is_admin FROM users WHERE name = $1", [name])).toEqual([{ is_admin: false }])
  })

  it("answers 400 to bad input", async () => {
    const bodies: Array<unknown> = [
      {},
      { name: "" },
      { name: "x".repeat(201) },
      { name: "tab\there" },
      { name: uniqueName("q"), quota_bytes: -1 },
      { name: uniqueName("q"), quota_bytes: 1.5 },
      { name: uniqueName("q"), is_admin: "yes" },
      { name: uniqueName("q"), token_name: "" }
    ]
    for (const json of bodies) {
      const reply = await createUser(json as Record<string, unknown>)
      expect(reply.status).toBe(400)
    }
    const notJson = await app.request("POST", "/admin/users", {
      token: admin,
      body: "{nope",
      headers: { "content-type": "application/json" }
    })
    expect(notJson.status).toBe(400)
  })

  it("lists users newest first, a page at a time", async () => {
    const names = [uniqueName("p1"), uniqueName("p2"), uniqueName("p3")]
    const ids: Array<string> = []
    for (const name of names) ids.push((await createUser({ name })).body.user.id)

    const seen: Array<string> = []
    let cursor: string | null = null
    let pages = 0
    do {
      const query: string = cursor === null ? "?limit=2" : `?limit=2&cursor=${cursor}`
      const reply = await app.request("GET", `/admin/users${query}`, { token: admin })
      expect(reply.status).toBe(200)
      expect(reply.body.items.length).toBeLessThanOrEqual(2)
      seen.push(...reply.body.items.map((user: { id: string }) => user.id))
      cursor = reply.body.next_cursor
      pages++
    } while (cursor !== null && pages < 100)

    const total = (await app.sql("SELECT count(*)::int AS n FROM users"))[0]?.n
    expect(seen.length).toBe(total)
    expect(new Set(seen).size).toBe(seen.length)
    expect(seen.slice(0, 3)).toEqual([...ids].reverse())
    expect([...seen].sort().reverse()).toEqual(seen)
    expect((await app.request("GET", "/admin/users?limit=0", { token: admin })).status).toBe(400)
    expect((await app.request("GET", "/admin/users?cursor=nope", { token: admin })).status).toBe(400)
  })

  it("changes a quota, the admin flag, or both", async () => {
    const created = await createUser({ name: uniqueName("judy") })
    const { id } = created.body.user
    const secret: string = created.body.token.secret
    const patch = (json: unknown) => app.request("PATCH", `/admin/users/${id}`, { token: admin, json })

    const quota = await patch({ quota_bytes: 4242 })
    expect(quota.status).toBe(200)
    expect(quota.body).toMatchObject({ id, quota_bytes: 4242, is_admin: false })
    expect((await app.request("GET", "/quota", { token: secret })).body.limit_bytes).toBe(4242)

    expect((await app.request("POST", "/admin/sweep", { token: secret })).status).toBe(403)
    expect((await patch({ is_admin: true })).body).toMatchObject({ quota_bytes: 4242, is_admin: true })
    expect((await app.request("POST", "/admin/sweep", { token: secret })).status).toBe(200)

    expect((await patch({ quota_bytes: 0, is_admin: false })).body).toMatchObject({ quota_bytes: 0, is_admin: false })
    expect(await app.sql("SELECT quota_bytes, is_admin FROM users WHERE id = $1", [id])).toEqual([
      { quota_bytes: 0, is_admin: false }
    ])
  })

  it("answers 400 to a change of nothing or of bad values, 404 for an unknown user", async () => {
    const { id } = (await createUser({ name: uniqueName("ken") })).body.user
    const nothing = await app.request("PATCH", `/admin/users/${id}`, { token: admin, json: {} })
    expect(nothing.status).toBe(400)
    expect(nothing.body._tag).toBe("InvalidRequest")
    for (const json of [{ quota_bytes: -5 }, { quota_bytes: "lots" }, { is_admin: 1 }]) {
      expect((await app.request("PATCH", `/admin/users/${id}`, { token: admin, json })).status).toBe(400)
    }
    expect((await app.request("PATCH", "/admin/users/not-a-uuid", { token: admin, json: { quota_bytes: 1 } })).status)
      .toBe(400)
    const unknown = await app.request("PATCH", `/admin/users/${Bun.randomUUIDv7()}`, { token: admin, json: { quota_bytes: 1 } })
    expect(unknown.status).toBe(404)
    expect(unknown.body).toMatchObject({ _tag: "NotFound", resource: "user" })
  })
})

describe("admin tokens API", () => {
  it("issues a token whose secret works, lists it without the secret, and revokes it", async () => {
    const created = await createUser({ name: uniqueName("leo") })
    const { id } = created.body.user
    const first: string = created.body.token.secret

    const issued = await app.request("POST", `/admin/users/${id}/tokens`, { token: admin, json: { name: "ci" } })
    expect(issued.status).toBe(201)
    expect(issued.body).toMatchObject({ user_id: id, name: "ci", revoked_at: null })
    expect(issued.body.secret).toMatch(TOKEN_SHAPE)
    const second: string = issued.body.secret
    expect((await me(second)).body.id).toBe(id)

    const listed = await app.request("GET", `/admin/users/${id}/tokens`, { token: admin })
    expect(listed.status).toBe(200)
    expect(listed.body.items.map((token: { name: string }) => token.name)).toEqual(["ci", "default"])
    for (const token of listed.body.items) {
      expect(Object.keys(token).sort()).toEqual(["created_at", "id", "name", "revoked_at", "user_id"])
    }
    const text = JSON.stringify(listed.body)
    for (const secret of [first, second, ...(await storedDigests())]) expect(text).not.toContain(secret)

    const revoked = await app.request("DELETE", `/admin/tokens/${issued.body.id}`, { token: admin })
    expect(revoked.status).toBe(200)
    expect(revoked.body).toMatchObject({ id: issued.body.id, name: "ci" })
    expect(typeof revoked.body.revoked_at).toBe("string")
    expect(JSON.stringify(revoked.body)).not.toContain(second)

    const refused = await me(second)
    expect(refused.status).toBe(401)
    expect(refused.body.message).toMatch(/revoked/)
    expect((await me(first)).status).toBe(200)

    // revoking again changes nothing; the listing shows when it happened
    const again = await app.request("DELETE", `/admin/tokens/${issued.body.id}`, { token: admin })
    expect(again.body.revoked_at).toBe(revoked.body.revoked_at)
    const after = await app.request("GET", `/admin/users/${id}/tokens`, { token: admin })
    expect(after.body.items[0]).toMatchObject({ id: issued.body.id, revoked_at: revoked.body.revoked_at })
    expect(after.body.items[1].revoked_at).toBeNull()
  })

  it("issues a token named \"default\" when the body names none", async () => {
    const { id } = (await createUser({ name: uniqueName("mia"), issue_token: false })).body.user
    const issued = await app.request("POST", `/admin/users/${id}/tokens`, { token: admin, json: {} })
    expect(issued.status).toBe(201)
    expect(issued.body.name).toBe("default")
    expect((await me(issued.body.secret)).status).toBe(200)
  })

  it("pages through a user's tokens", async () => {
    const { id } = (await createUser({ name: uniqueName("nick"), issue_token: false })).body.user
    for (const name of ["a", "b", "c"]) {
      await app.request("POST", `/admin/users/${id}/tokens`, { token: admin, json: { name } })
    }
    const first = await app.request("GET", `/admin/users/${id}/tokens?limit=2`, { token: admin })
    expect(first.body.items.map((token: { name: string }) => token.name)).toEqual(["c", "b"])
    const second = await app.request("GET", `/admin/users/${id}/tokens?limit=2&cursor=${first.body.next_cursor}`, {
      token: admin
    })
    expect(second.body.items.map((token: { name: string }) => token.name)).toEqual(["a"])
    expect(second.body.next_cursor).toBeNull()
  })

  it("answers 404 for an unknown user or token, 400 for a bad id or name", async () => {
    const nobody = Bun.randomUUIDv7()
    for (
      const reply of [
        await app.request("GET", `/admin/users/${nobody}/tokens`, { token: admin }),
        await app.request("POST", `/admin/users/${nobody}/tokens`, { token: admin, json: {} })
      ]
    ) {
      expect(reply.status).toBe(404)
      expect(reply.body).toMatchObject({ _tag: "NotFound", resource: "user" })
    }
    const unknownToken = await app.request("DELETE", `/admin/tokens/${Bun.randomUUIDv7()}`, { token: admin })
    expect(unknownToken.status).toBe(404)
    expect(unknownToken.body).toMatchObject({ _tag: "NotFound", resource: "token" })
    expect((await app.request("DELETE", "/admin/tokens/not-a-uuid", { token: admin })).status).toBe(400)
    const badName = await app.request("POST", `/admin/users/${plain.user.id}/tokens`, {
      token: admin,
      json: { name: "line\nbreak" }
    })
    expect(badName.status).toBe(400)
  })

  it("never shows a secret or its digest in the users listing", async () => {
    const created = await createUser({ name: uniqueName("olga") })
    const listed = JSON.stringify((await app.request("GET", "/admin/users?limit=200", { token: admin })).body)
    for (const secret of [created.body.token.secret, ...(await storedDigests())]) expect(listed).not.toContain(secret)
    expect(listed).not.toContain("secret")
  })
})

describe("the OpenAPI document", () => {
  it("documents the admin endpoints for users and tokens", async () => {
    const spec = (await app.request("GET", "/openapi.json")).body
    const operations = Object.entries(spec.paths as Record<string, Record<string, { summary?: string }>>)
      .flatMap(([path, methods]) =>
        Object.entries(methods).map(([method, operation]) => [`${method.toUpperCase()} ${path}`, operation.summary])
      )
    const documented = new Map(operations.map(([operation, summary]) => [operation, summary]))
    for (
      const operation of [
        "GET /admin/users",
        "POST /admin/users",
        "PATCH /admin/users/{id}",
        "GET /admin/users/{id}/tokens",
        "POST /admin/users/{id}/tokens",
        "DELETE /admin/tokens/{id}"
      ]
    ) {
      expect(typeof documented.get(operation)).toBe("string")
    }
    expect(Object.keys(spec.paths["/admin/users"].post.responses).sort()).toEqual(
      ["201", "400", "401", "403", "409", "413", "500", "503"]
    )
  })
})
