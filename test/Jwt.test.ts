/**
 * JWT bearer tokens from an external identity provider, through the real HTTP server: a JWKS
 * served on loopback (its fetches counted), a PEM key, an HS256 secret; API tokens beside them.
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test"
import { ConfigProvider, Effect, Exit, Option } from "effect"
import { type JWTPayload } from "jose"
import { settingsConfig } from "../src/Config"
import {
  claimsFor,
  type JwksServer,
  makeSigningKey,
  publicKeyPem,
  type SigningKey,
  signJwt,
  startJwksServer,
  unsignedJwt,
  withClaims
} from "./support/Jwks"
import { type Reply, startTestApp, type TestApp } from "./support/TestApp"

const ISSUER = "https://idp.example.test/realms/portal"
const AUDIENCE = "ingest-portal"
const ADMIN_GROUP = "portal-admins"
const DEFAULT_QUOTA = 123456789
/** Short, so that a test can wait it out before a key rotation. */
const COOLDOWN_SECONDS = 0.5

const nowSeconds = () => Math.floor(Date.now() / 1000)
const waitOutCooldown = () => Bun.sleep(COOLDOWN_SECONDS * 1000 + 150)

let sequence = 0
/** Claims of a fresh subject that pass every check of the main app. */
const validClaims = (overrides: JWTPayload & Record<string, unknown> = {}): JWTPayload =>
  claimsFor({ iss: ISSUER, aud: AUDIENCE, sub: `subject-${++sequence}-${Bun.randomUUIDv7()}`, ...overrides })

const me = (app: TestApp, token: string) => app.request("GET", "/me", { token })

/** 401 Unauthorized, saying why (matching `reason`), without repeating the token. */
const expectRefused = (reply: Reply, token: string, reason: RegExp) => {
  expect(reply.status).toBe(401)
  expect(reply.body._tag).toBe("Unauthorized")
  expect(reply.body.message).toMatch(reason)
  expect(JSON.stringify(reply.body)).not.toContain(token)
  expect(JSON.stringify(reply.body)).not.toContain(token.split(".")[2] || "no signature")
}

describe("JWT bearer tokens verified with a JWKS URL", () => {
  let app: TestApp
  let jwks: JwksServer
  let rsa: SigningKey
  let ec: SigningKey
  let impostor: SigningKey

  beforeAll(async () => {
    rsa = await makeSigningKey("RS256", "rsa-1")
    ec = await makeSigningKey("ES256", "ec-1")
    // another key under a published kid: what a forger without the real key can do
    impostor = await makeSigningKey("RS256", "rsa-1")
    jwks = startJwksServer([rsa, ec])
    app = await startTestApp({
      env: {
        AUTH_JWT_JWKS_URL: jwks.url,
        AUTH_JWT_ISSUER: ISSUER,
        AUTH_JWT_AUDIENCE: AUDIENCE,
        AUTH_JWT_ADMIN_GROUP: ADMIN_GROUP,
        AUTH_JWT_JWKS_COOLDOWN: String(COOLDOWN_SECONDS),
        UPLOAD_DEFAULT_QUOTA: String(DEFAULT_QUOTA)
      }
    })
  })
  afterAll(async () => {
    await app.close()
    await jwks.stop()
  })

  it("answers GET /me with a user created on first sight, named from preferred_username, with the default quota", async () => {
    const claims = validClaims({ preferred_username: `alice-${sequence}` })
    const token = await signJwt(rsa, claims)
    const first = await me(app, token)
    expect(first.status).toBe(200)
    expect(first.body).toMatchObject({ name: claims["preferred_username"], is_admin: false, quota_bytes: DEFAULT_QUOTA })
    const rows = await app.sql("SELECT id, external_issuer, external_subject FROM users WHERE external_subject = $1", [claims.sub])
    expect(rows).toEqual([{ id: first.body.id, external_issuer: ISSUER, external_subject: claims.sub }])

    // the same subject is the same user, whatever its next token says its name is
    const again = await me(app, await signJwt(rsa, { ...claims, preferred_username: "renamed" }))
    expect(again.status).toBe(200)
    expect(again.body).toMatchObject({ id: first.body.id, name: claims["preferred_username"] })
  })

  it("accepts ES256 tokens from the same JWKS", async () => {
    const reply = await me(app, await signJwt(ec, validClaims()))
    expect(reply.status).toBe(200)
  })

  it("names a user from email, then from sub, when the preferred claims are missing", async () => {
    const byEmail = validClaims({ email: `bob-${sequence}@example.test` })
    expect((await me(app, await signJwt(rsa, byEmail))).body.name).toBe(byEmail["email"])
    const bySubject = validClaims()
    expect((await me(app, await signJwt(rsa, bySubject))).body.name).toBe(bySubject.sub)
  })

  it("gives a new user a name of its own when its preferred name is taken, never the existing user", async () => {
    const local = await app.createUser({ name: `carol-${Bun.randomUUIDv7().slice(-6)}` })
    const first = await me(app, await signJwt(rsa, validClaims({ preferred_username: local.user.name })))
    const second = await me(app, await signJwt(rsa, validClaims({ preferred_username: local.user.name })))
    expect(first.status).toBe(200)
    expect(second.status).toBe(200)
    expect(first.body.name).toBe(`${local.user.name}-2`)
    expect(second.body.name).toBe(`${local.user.name}-3`)
    expect(new Set([local.user.id, first.body.id, second.body.id]).size).toBe(3)
  })

  it("creates one user when a new subject's first requests arrive at once", async () => {
    const claims = validClaims({ preferred_username: `dave-${sequence}` })
    const token = await signJwt(rsa, claims)
    const replies = await Promise.all(Array.from({ length: 8 }, () => me(app, token)))
    expect(replies.map((reply) => reply.status)).toEqual(Array(8).fill(200))
    expect(new Set(replies.map((reply) => reply.body.id)).size).toBe(1)
    const rows = await app.sql("SELECT name FROM users WHERE external_subject = $1", [claims.sub])
    expect(rows).toEqual([{ name: claims["preferred_username"] }])
  })

  it("accepts a token expired within the clock tolerance, and refuses one expired longer ago", async () => {
    const recent = await signJwt(rsa, validClaims({ exp: nowSeconds() - 5, iat: nowSeconds() - 60 }))
    expect((await me(app, recent)).status).toBe(200)
    const expired = await signJwt(rsa, validClaims({ exp: nowSeconds() - 120, iat: nowSeconds() - 600 }))
    expectRefused(await me(app, expired), expired, /expired/)
  })

  it("refuses a token that is not valid yet (nbf)", async () => {
    const early = await signJwt(rsa, validClaims({ nbf: nowSeconds() + 120 }))
    expectRefused(await me(app, early), early, /not valid yet/)
  })

  it("refuses a token of another issuer, or of none", async () => {
    const other = await signJwt(rsa, validClaims({ iss: "https://evil.example.test" }))
    expectRefused(await me(app, other), other, /another issuer/)
    const { iss: _, ...withoutIssuer } = validClaims()
    const none = await signJwt(rsa, withoutIssuer)
    expectRefused(await me(app, none), none, /"iss"/)
  })

  it("refuses a token meant for another audience", async () => {
    const token = await signJwt(rsa, validClaims({ aud: "another-service" }))
    expectRefused(await me(app, token), token, /another audience/)
  })

  it("refuses a token without exp or without sub", async () => {
    const { exp: _, ...forever } = validClaims()
    const noExpiry = await signJwt(rsa, forever)
    expectRefused(await me(app, noExpiry), noExpiry, /"exp"/)
    const { sub: __, ...anonymous } = validClaims()
    const noSubject = await signJwt(rsa, anonymous)
    expectRefused(await me(app, noSubject), noSubject, /"sub"/)
  })

  it("refuses a token signed by another key under a published kid", async () => {
    const forged = await signJwt(impostor, validClaims())
    expectRefused(await me(app, forged), forged, /signature/)
  })

  it("refuses a token whose claims were changed after signing", async () => {
    const token = await signJwt(rsa, validClaims())
    const tampered = withClaims(token, validClaims())
    expectRefused(await me(app, tampered), tampered, /signature/)
  })

  it("refuses a token signed by a key the JWKS does not publish (unknown kid)", async () => {
    const stranger = await makeSigningKey("RS256", `stranger-${Bun.randomUUIDv7()}`)
    const token = await signJwt(stranger, validClaims())
    await waitOutCooldown()
    const before = jwks.fetches()
    expectRefused(await me(app, token), token, /unknown kid/)
    // one look at the JWKS for it, then none within the cooldown, however many such tokens come
    for (let i = 0; i < 3; i++) expectRefused(await me(app, token), token, /unknown kid/)
    expect(jwks.fetches()).toBe(before + 1)
  })

  it("refuses an unsigned token (alg: none), crafted by hand", async () => {
    const token = unsignedJwt(validClaims(), rsa.kid)
    expectRefused(await me(app, token), token, /"none"/)
  })

  it("refuses an HS256 token when only a JWKS is configured", async () => {
    const secret = new TextEncoder().encode("a shared secret that nobody configured here!!")
    const token = await signJwt({ privateKey: secret, alg: "HS256", kid: rsa.kid }, validClaims())
    expectRefused(await me(app, token), token, /algorithm "HS256" is not allowed/)
  })

  it("fetches the JWKS again for an unknown kid after a rotation, and not for a known kid", async () => {
    expect((await me(app, await signJwt(rsa, validClaims()))).status).toBe(200)
    await waitOutCooldown()
    const before = jwks.fetches()
    for (let i = 0; i < 3; i++) expect((await me(app, await signJwt(rsa, validClaims()))).status).toBe(200)
    expect(jwks.fetches()).toBe(before)

    const rotated = await makeSigningKey("RS256", `rsa-2-${Bun.randomUUIDv7()}`)
    // the new key joins the set; the old one stays published while its tokens are still out there
    jwks.publish([rsa, rotated, ec])
    const token = await signJwt(rotated, validClaims())
    expect((await me(app, token)).status).toBe(200)
    expect(jwks.fetches()).toBe(before + 1)
    expect((await me(app, await signJwt(rotated, validClaims()))).status).toBe(200)
    expect(jwks.fetches()).toBe(before + 1)
  })

  it("makes a user an admin while AUTH_JWT_ADMIN_GROUP is in its groups or roles claim, on each request", async () => {
    const sub = `admin-${Bun.randomUUIDv7()}`
    const asAdmin = await signJwt(rsa, validClaims({ sub, groups: ["staff", ADMIN_GROUP] }))
    const sweep = await app.request("POST", "/admin/sweep", { token: asAdmin })
    expect(sweep.status).toBe(200)
    expect((await me(app, asAdmin)).body.is_admin).toBe(true)

    const withoutGroup = await signJwt(rsa, validClaims({ sub, groups: ["staff"] }))
    const refused = await app.request("POST", "/admin/sweep", { token: withoutGroup })
    expect(refused.status).toBe(403)
    expect(refused.body._tag).toBe("Forbidden")
    const [row] = await app.sql("SELECT is_admin FROM users WHERE external_subject = $1", [sub])
    expect(row).toEqual({ is_admin: false })

    const byRole = await signJwt(rsa, validClaims({ sub, roles: [ADMIN_GROUP] }))
    expect((await app.request("GET", "/admin/outbox", { token: byRole })).status).toBe(200)
    const byRealmRole = await signJwt(rsa, validClaims({ sub, realm_access: { roles: [ADMIN_GROUP] } }))
    expect((await app.request("GET", "/admin/outbox", { token: byRealmRole })).status).toBe(200)
  })

  it("keeps a JWT user without the admin group out of admin endpoints", async () => {
    const token = await signJwt(rsa, validClaims({ groups: ["staff"] }))
    expect((await app.request("POST", "/admin/sweep", { token })).status).toBe(403)
  })

  it("keeps two JWT users' sessions apart", async () => {
    const owner = await signJwt(rsa, validClaims())
    const other = await signJwt(rsa, validClaims())
    const created = await app.createSession(owner, { total_size_bytes: 10, chunk_size_bytes: 10 })
    expect(created.status).toBe(201)
    expect((await app.getSession(owner, created.body.id)).status).toBe(200)
    const foreign = await app.getSession(other, created.body.id)
    expect(foreign.status).toBe(403)
    expect(foreign.body._tag).toBe("Forbidden")
  })

  it("keeps API tokens working beside JWTs", async () => {
    const { token, user } = await app.createUser()
    const reply = await me(app, token)
    expect(reply.status).toBe(200)
    expect(reply.body.id).toBe(user.id)
    expectRefused(await me(app, `ipt_${"A".repeat(43)}`), `ipt_${"A".repeat(43)}`, /unknown bearer token/)
  })
})

describe("a JWKS that does not answer", () => {
  let app: TestApp
  let jwks: JwksServer

  beforeAll(async () => {
    jwks = startJwksServer([], { stall: true })
    app = await startTestApp({ env: { AUTH_JWT_JWKS_URL: jwks.url, AUTH_JWT_JWKS_TIMEOUT: "0.5" } })
  })
  afterAll(async () => {
    await app.close()
    await jwks.stop()
  })

  it("holds a request no longer than AUTH_JWT_JWKS_TIMEOUT, then answers 401", async () => {
    const key = await makeSigningKey("RS256", "k")
    const token = await signJwt(key, claimsFor({ sub: "someone" }))
    const started = performance.now()
    const reply = await me(app, token)
    const elapsed = performance.now() - started
    expectRefused(reply, token, /could not be fetched in time/)
    expect(jwks.fetches()).toBe(1)
    expect(elapsed).toBeLessThan(2500)
  })
})

describe("JWT bearer tokens verified with a PEM public key", () => {
  let app: TestApp
  let key: SigningKey

  beforeAll(async () => {
    key = await makeSigningKey("ES256", "pem")
    app = await startTestApp({ env: { AUTH_JWT_PUBLIC_KEY: await publicKeyPem(key), AUTH_JWT_ISSUER: ISSUER } })
  })
  afterAll(() => app.close())

  it("accepts a token signed with the key, and refuses a tampered one", async () => {
    const claims = claimsFor({ iss: ISSUER, sub: `pem-${Bun.randomUUIDv7()}`, preferred_username: "pem-user" })
    const token = await signJwt(key, claims)
    const reply = await me(app, token)
    expect(reply.status).toBe(200)
    expect(reply.body.name).toBe("pem-user")
    const tampered = withClaims(token, { ...claims, sub: "someone-else" })
    expectRefused(await me(app, tampered), tampered, /signature/)
  })

  it("allows only the key's own algorithm", async () => {
    const rsa = await makeSigningKey("RS256", "pem")
    const token = await signJwt(rsa, claimsFor({ iss: ISSUER, sub: "x" }))
    expectRefused(await me(app, token), token, /algorithm "RS256" is not allowed; accepted: ES256/)
  })
})

describe("JWT bearer tokens verified with an HS256 secret", () => {
  const secret = "an HS256 secret of at least thirty-two bytes"
  let app: TestApp

  beforeAll(async () => {
    app = await startTestApp({ env: { AUTH_JWT_SECRET: secret } })
  })
  afterAll(() => app.close())

  const hs256 = { privateKey: new TextEncoder().encode(secret), alg: "HS256" }

  it("accepts a token signed with the secret, and refuses a tampered one", async () => {
    const claims = claimsFor({ sub: `hs-${Bun.randomUUIDv7()}` })
    const token = await signJwt(hs256, claims)
    const reply = await me(app, token)
    expect(reply.status).toBe(200)
    expect(reply.body.name).toBe(claims.sub)
    const tampered = withClaims(token, { ...claims, sub: "someone-else" })
    expectRefused(await me(app, tampered), tampered, /signature/)
    const wrongSecret = await signJwt({ ...hs256, privateKey: new TextEncoder().encode(`${secret}, but another`) }, claims)
    expectRefused(await me(app, wrongSecret), wrongSecret, /signature/)
  })

  it("refuses asymmetric and unsigned tokens", async () => {
    const rsa = await makeSigningKey("RS256", "k")
    const signed = await signJwt(rsa, claimsFor({ sub: "x" }))
    expectRefused(await me(app, signed), signed, /algorithm "RS256" is not allowed; accepted: HS256/)
    const unsigned = unsignedJwt(claimsFor({ sub: "x" }))
    expectRefused(await me(app, unsigned), unsigned, /"none"/)
  })
})

describe("without JWT settings", () => {
  let app: TestApp

  beforeAll(async () => {
    app = await startTestApp()
  })
  afterAll(() => app.close())

  it("answers a JWT with a 401 that says JWTs are not accepted, and API tokens as before", async () => {
    const key = await makeSigningKey("RS256", "k")
    const token = await signJwt(key, claimsFor({ sub: "x" }))
    expectRefused(await me(app, token), token, /does not accept JWT/)
    const { token: apiToken } = await app.createUser()
    expect((await me(app, apiToken)).status).toBe(200)
  })
})

describe("JWT settings", () => {
  const read = (env: Record<string, string>) =>
    Effect.runSyncExit(Effect.withConfigProvider(settingsConfig, ConfigProvider.fromMap(new Map(Object.entries(env)))))
  const failure = (env: Record<string, string>) => {
    const exit = read(env)
    return Exit.isFailure(exit) ? String(exit.cause) : "accepted"
  }

  it("refuse what cannot work, at start-up", async () => {
    const pem = await publicKeyPem(await makeSigningKey("ES256", "k"))
    expect(failure({ AUTH_JWT_JWKS_URL: "https://idp.test/jwks", AUTH_JWT_SECRET: "s".repeat(40) })).toContain("only one of")
    expect(failure({ AUTH_JWT_SECRET: "too short" })).toContain("AUTH_JWT_SECRET must be at least 32 bytes")
    expect(failure({ AUTH_JWT_PUBLIC_KEY: "not a key" })).toContain("AUTH_JWT_PUBLIC_KEY")
    expect(failure({ AUTH_JWT_JWKS_URL: "ftp://idp.test/jwks" })).toContain("AUTH_JWT_JWKS_URL")
    expect(failure({ AUTH_JWT_JWKS_TIMEOUT: "0" })).toContain("AUTH_JWT_JWKS_TIMEOUT")
    expect(failure({ AUTH_JWT_PUBLIC_KEY: pem })).toBe("accepted")
  })

  it("take a PEM key with its line breaks written as \\n, and decide its algorithm from its type", async () => {
    const ec = await publicKeyPem(await makeSigningKey("ES256", "k"))
    const rsa = await publicKeyPem(await makeSigningKey("RS256", "k"))
    const algorithmOf = (pem: string) => {
      const exit = read({ AUTH_JWT_PUBLIC_KEY: pem })
      if (Exit.isFailure(exit)) return String(exit.cause)
      const source = Option.getOrUndefined(exit.value.jwt.keySource)
      return source?._tag === "PublicKey" ? source.algorithm : "no public key"
    }
    expect(algorithmOf(ec.replaceAll("\n", "\\n"))).toBe("ES256")
    expect(algorithmOf(rsa)).toBe("RS256")
  })
})
