/**
 * The request log, read from what the real logger writes (LOG_FORMAT logfmt and json): one
 * line per request with fixed keys; the request id taken from X-Request-Id when it is bounded
 * and plain, made otherwise, returned, put on error bodies and on every line the request
 * causes; no secret ever in a line.
 */
import { afterAll, afterEach, describe, expect, it, spyOn } from "bun:test"
import { HttpRouter, HttpServerResponse } from "@effect/platform"
import { Effect } from "effect"
import { makeRouteMatcher, UNMATCHED } from "../src/Operations/RouteTemplates"
import { StorageError, type StorageShape } from "../src/Storage/Storage"
import { bytes, startTestApp, type TestApp } from "./support/TestApp"

const written: Array<string> = []
const console_ = spyOn(console, "error").mockImplementation((...parts: Array<unknown>) => {
  written.push(parts.map(String).join(" "))
})
afterAll(() => console_.mockRestore())

const running: Array<TestApp> = []
afterEach(async () => {
  for (const app of running.splice(0)) await app.close()
})

type Format = "logfmt" | "json"

const start = async (format: Format, options: Parameters<typeof startTestApp>[0] = {}) => {
  const app = await startTestApp({ ...options, env: { LOG_LEVEL: "info", LOG_FORMAT: format, ...options.env } })
  running.push(app)
  return app
}

/** A line's fields as strings, whichever format wrote it: logfmt pairs, or JSON with its annotations. */
const fieldsOf = (line: string): Record<string, string> => {
  if (line.startsWith("{")) {
    const { annotations, ...rest } = JSON.parse(line) as { annotations: Record<string, unknown> }
    return Object.fromEntries(Object.entries({ ...rest, ...annotations }).map(([key, value]) => [key, String(value)]))
  }
  const fields: Record<string, string> = {}
  for (const [, key, value] of line.matchAll(/([\w.]+)=("(?:[^"\\]|\\.)*"|\S*)/g)) {
    if (key !== undefined && value !== undefined) fields[key] = value.startsWith("\"") ? JSON.parse(value) : value
  }
  return fields
}

/** The lines of one request, once its request line is there (it is written just after the answer). */
const linesOf = async (requestId: string) => {
  for (let attempt = 0; attempt < 500; attempt++) {
    const lines = written.map(fieldsOf).filter((fields) => fields["request_id"] === requestId)
    if (lines.some((fields) => fields["message"] === "request")) return lines
    await Bun.sleep(2)
  }
  throw new Error(`no request line for ${requestId}`)
}

const requestLine = async (requestId: string) => {
  const lines = (await linesOf(requestId)).filter((fields) => fields["message"] === "request")
  expect(lines).toHaveLength(1)
  return lines[0] ?? {}
}

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

describe.each<Format>(["logfmt", "json"])("the request log in %s", (format) => {
  it("writes one line per request with method, route template, status, duration, bytes, user and request id", async () => {
    const app = await start(format)
    const { token, user } = await app.createUser()
    const id = (await app.createSession(token, { total_size_bytes: 10, chunk_size_bytes: 10 })).body.id
    const requestId = `part-upload-${format}`
    const response = await fetch(`${app.baseUrl}/uploads/sessions/${id}/parts/1`, {
      method: "PUT",
      headers: { authorization: `Bearer ${token}`, "x-request-id": requestId },
      body: bytes(10)
    })
    const answer = await response.text()
    expect(response.status).toBe(200)
    expect(response.headers.get("x-request-id")).toBe(requestId)

    const line = await requestLine(requestId)
    expect(line).toMatchObject({
      method: "PUT",
      route: "/uploads/sessions/:id/parts/:part_number",
      status: "200",
      bytes_in: "10",
      bytes_out: String(new TextEncoder().encode(answer).byteLength),
      user_id: user.id,
      request_id: requestId
    })
    expect(Number(line["duration_ms"])).toBeGreaterThan(0)
    expect(JSON.stringify(line)).not.toContain(id)
  })

  it("counts a body sent without Content-Length, and names no user when none is authenticated", async () => {
    const app = await start(format)
    const { token } = await app.createUser()
    const id = (await app.createSession(token, { total_size_bytes: 12, chunk_size_bytes: 12 })).body.id
    const chunked = new ReadableStream<Uint8Array>({
      start: (controller) => {
        controller.enqueue(bytes(5))
        controller.enqueue(bytes(7, 2))
        controller.close()
      }
    })
    const upload = await fetch(`${app.baseUrl}/uploads/sessions/${id}/parts/1`, {
      method: "PUT",
      headers: { authorization: `Bearer ${token}`, "x-request-id": `chunked-${format}` },
      body: chunked
    })
    expect(upload.status).toBe(200)
    expect(await requestLine(`chunked-${format}`)).toMatchObject({ bytes_in: "12", status: "200" })

    const anonymous = await app.request("GET", "/health", { headers: { "x-request-id": `health-${format}` } })
    expect(anonymous.status).toBe(200)
    const line = await requestLine(`health-${format}`)
    expect(line).toMatchObject({ method: "GET", route: "/health", status: "200" })
    expect(line["user_id"]).toBeUndefined()
  })
})

describe("the request id", () => {
  it("is echoed when acceptable, and is on the JSON error body, which keeps its fields", async () => {
    const app = await start("logfmt")
    const { token } = await app.createUser()
    const requestId = "client-4f2a:retry.2"
    const missing = "01900000-0000-7000-8000-000000000000"
    const reply = await app.request("GET", `/uploads/sessions/${missing}`, { token, headers: { "x-request-id": requestId } })
    expect(reply.status).toBe(404)
    expect(reply.headers.get("x-request-id")).toBe(requestId)
    expect(reply.body).toEqual({
      _tag: "NotFound",
      message: `no upload session ${missing}`,
      resource: "session",
      id: missing,
      request_id: requestId
    })
    expect(await requestLine(requestId)).toMatchObject({ status: "404", route: "/uploads/sessions/:id" })

    // errors answered before any route: a body too large, an unknown path
    const tooLarge = await app.request("POST", "/uploads/sessions", { token, body: "x".repeat(2 * 1024 * 1024) })
    expect(tooLarge.status).toBe(413)
    expect(tooLarge.body.request_id).toBe(tooLarge.headers.get("x-request-id"))
    const unknown = await app.request("GET", "/no/such/thing")
    expect(unknown.body).toMatchObject({ _tag: "RouteNotFound", request_id: unknown.headers.get("x-request-id") })
    expect(await requestLine(unknown.headers.get("x-request-id") ?? "")).toMatchObject({ route: "unmatched", status: "404" })
  })

  it("is made anew (a UUIDv7) when the client's is too long or holds other characters", async () => {
    const app = await start("json")
    const longest = "a".repeat(128)
    expect((await app.request("GET", "/health", { headers: { "x-request-id": longest } })).headers.get("x-request-id")).toBe(longest)
    for (const hostile of ["a".repeat(129), "two words", "quote\"d", "semi;colon", "<script>", "caf\u00e9", ""]) {
      const reply = await app.request("GET", "/health", { headers: { "x-request-id": hostile } })
      const made = reply.headers.get("x-request-id") ?? ""
      expect(made).toMatch(UUID_V7)
      expect((await requestLine(made))["request_id"]).toBe(made)
    }
    const fresh = (await app.request("GET", "/health")).headers.get("x-request-id")
    expect(fresh).toMatch(UUID_V7)
  })

  it("is on every line the request causes, not only the request line", async () => {
    let failing = false
    const failingWrites = (storage: StorageShape): StorageShape => ({
      ...storage,
      writePart: (input) =>
        failing
          ? Effect.fail(new StorageError({ operation: "write", key: "parts/x", cause: "EIO: i/o error" }))
          : storage.writePart(input)
    })
    const app = await start("logfmt", { wrapStorage: failingWrites })
    const { token } = await app.createUser()
    const id = (await app.createSession(token, { total_size_bytes: 10, chunk_size_bytes: 10 })).body.id
    failing = true
    const reply = await app.putPart(token, id, 1, bytes(10), { "x-request-id": "storage-outage-1" })
    expect(reply.status).toBe(503)
    expect(reply.body).toMatchObject({ _tag: "ServiceUnavailable", request_id: "storage-outage-1" })
    const lines = await linesOf("storage-outage-1")
    expect(lines.map((fields) => fields["message"])).toContain("storage is unavailable")
    expect(lines.find((fields) => fields["message"] === "request")).toMatchObject({ status: "503", level: "WARN" })
  })
})

describe("log lines", () => {
  it("never carry a token, the metrics token or a query's secrets", async () => {
    const METRICS_TOKEN = "metrics-secret-9f8e7d6c5b4a"
    const app = await start("logfmt", { env: { METRICS_TOKEN } })
    const { token } = await app.createUser()
    const from = written.length
    await app.request("GET", "/uploads/sessions?cursor=query-secret-1", { token, headers: { "x-request-id": "secrets-1" } })
    await app.request("GET", "/no/such/path?token=query-secret-2", { token: "not-a-valid-token-3", headers: { "x-request-id": "secrets-2" } })
    await app.request("GET", "/metrics", { headers: { authorization: `Bearer ${METRICS_TOKEN}`, "x-request-id": "secrets-3" } })
    await app.request("GET", "/metrics", { headers: { authorization: "Bearer wrong-metrics-token-4", "x-request-id": "secrets-4" } })
    for (const requestId of ["secrets-1", "secrets-2", "secrets-3", "secrets-4"]) await requestLine(requestId)
    expect(await requestLine("secrets-1")).toMatchObject({ route: "/uploads/sessions", status: "400" })
    expect(await requestLine("secrets-3")).toMatchObject({ route: "/metrics", status: "200" })
    expect(await requestLine("secrets-4")).toMatchObject({ route: "/metrics", status: "401" })
    const text = written.slice(from).join("\n")
    for (const secret of [token, METRICS_TOKEN, "query-secret-1", "query-secret-2", "not-a-valid-token-3", "wrong-metrics-token-4"]) {
      expect(text).not.toContain(secret)
    }
  })
})

describe("route templates", () => {
  const ok = HttpServerResponse.empty()
  const { match } = makeRouteMatcher(HttpRouter.empty.pipe(
    HttpRouter.get("/health", ok),
    HttpRouter.get("/admin/users/me", ok),
    HttpRouter.del("/admin/users/:id", ok),
    HttpRouter.put("/uploads/sessions/:id/parts/:part_number", ok),
    HttpRouter.all("/files/*", ok),
    HttpRouter.mountApp("/tus", ok)
  ))

  it("are those the router answers by: static segments first, then parameters, then the rest of the path", () => {
    expect(match("GET", "/health?verbose=1")).toBe("/health")
    expect(match("HEAD", "/health")).toBe("/health")
    expect(match("GET", "/admin/users/me")).toBe("/admin/users/me")
    expect(match("DELETE", "/admin/users/me")).toBe("/admin/users/:id")
    expect(match("PUT", "/uploads/sessions/0190/parts/3")).toBe("/uploads/sessions/:id/parts/:part_number")
    expect(match("GET", "/files/a/b/c")).toBe("/files/*")
    expect(match("PATCH", "/tus/0190abc")).toBe("/tus/*")
  })

  it("keep a path's template for other methods, and give every unknown path one label", () => {
    expect(match("POST", "/health")).toBe("/health")
    expect(match("GET", "/uploads/sessions/0190/parts/3")).toBe("/uploads/sessions/:id/parts/:part_number")
    expect(match("PUT", "/uploads/sessions/0190/parts/")).toBe(UNMATCHED)
    expect(match("PUT", "/uploads/sessions/0190/parts/3/extra")).toBe(UNMATCHED)
    expect(match("GET", "/health/")).toBe(UNMATCHED)
    expect(match("GET", "/nothing-here")).toBe(UNMATCHED)
  })
})
