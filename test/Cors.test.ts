/** CORS for the origins in CORS_ORIGINS: preflights, allowed and exposed headers, errors too; nothing for others. */
import { afterAll, beforeAll, describe, expect, it } from "bun:test"
import { startTestApp, type TestApp } from "./support/TestApp"

const ALLOWED = "https://app.example.com"
let app: TestApp
let anyOrigin: TestApp
let token: string

beforeAll(async () => {
  app = await startTestApp({ env: { CORS_ORIGINS: `${ALLOWED}, http://localhost:3000` } })
  anyOrigin = await startTestApp({ env: { CORS_ORIGINS: "*" } })
  token = (await app.createUser()).token
})
afterAll(async () => {
  await app.close()
  await anyOrigin.close()
})

const accessHeaders = (headers: Headers) => [...headers.keys()].filter((name) => name.startsWith("access-control-"))

const preflight = (target: TestApp, origin: string, method: string, headers: string) =>
  fetch(`${target.baseUrl}/uploads/sessions/01a1fe79-aff9-7194-bb7c-cfa96a14c98f/parts/1`, {
    method: "OPTIONS",
    headers: { origin, "access-control-request-method": method, "access-control-request-headers": headers }
  })

describe("CORS", () => {
  it("answers an allowed origin's preflight with the methods and the headers this API and tus use", async () => {
    const reply = await preflight(app, ALLOWED, "PUT", "authorization, content-digest, x-part-sha256")
    expect(reply.status).toBe(204)
    expect(reply.headers.get("access-control-allow-origin")).toBe(ALLOWED)
    expect(reply.headers.get("access-control-allow-methods")).toContain("PUT")
    expect(reply.headers.get("access-control-allow-methods")).toContain("PATCH")
    const allowed = (reply.headers.get("access-control-allow-headers") ?? "").toLowerCase()
    for (const header of ["authorization", "content-type", "content-digest", "x-part-sha256", "idempotency-key", "upload-offset", "upload-length", "upload-metadata", "tus-resumable"]) {
      expect(allowed).toContain(header)
    }
    expect(reply.headers.get("vary")).toContain("Origin")
  })

  it("lets an allowed origin read the answers, errors included", async () => {
    const created = await fetch(`${app.baseUrl}/uploads/sessions`, {
      method: "POST",
      headers: { origin: ALLOWED, authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ filename: "a.bin", content_type: "application/octet-stream", total_size_bytes: 10 })
    })
    expect(created.status).toBe(201)
    expect(created.headers.get("access-control-allow-origin")).toBe(ALLOWED)
    const exposed = (created.headers.get("access-control-expose-headers") ?? "").toLowerCase()
    for (const header of ["location", "etag", "upload-offset", "upload-length", "upload-expires", "tus-resumable", "content-range"]) {
      expect(exposed).toContain(header)
    }
    const refused = await fetch(`${app.baseUrl}/me`, { headers: { origin: "http://localhost:3000" } })
    expect(refused.status).toBe(401)
    expect(refused.headers.get("access-control-allow-origin")).toBe("http://localhost:3000")
  })

  it("sends no Access-Control header at all to other origins", async () => {
    const foreign = "https://evil.example"
    expect(accessHeaders((await preflight(app, foreign, "PUT", "authorization")).headers)).toEqual([])
    const reply = await fetch(`${app.baseUrl}/me`, { headers: { origin: foreign, authorization: `Bearer ${token}` } })
    expect(reply.status).toBe(200)
    expect(accessHeaders(reply.headers)).toEqual([])
  })

  it("allows any origin with CORS_ORIGINS=*, and none without the setting", async () => {
    const any = await preflight(anyOrigin, "https://anywhere.example", "POST", "authorization")
    expect(any.headers.get("access-control-allow-origin")).toBe("*")
    const plain = await startTestApp()
    try {
      const none = await preflight(plain, ALLOWED, "PUT", "authorization")
      expect(accessHeaders(none.headers)).toEqual([])
    } finally {
      await plain.close()
    }
  })
})
