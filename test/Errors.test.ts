/** Failures nobody declared: a JSON body with a tag, never an empty one; outages are 503. */
import { afterAll, beforeAll, describe, expect, it } from "bun:test"
import { Effect } from "effect"
import { StorageError, type StorageShape } from "../src/Storage/Storage"
import { bytes, startTestApp, type TestApp } from "./support/TestApp"

let failure: "none" | "defect" | "storage" = "none"

/** The real storage, made to fail on demand where a part is written. */
const failing = (storage: StorageShape): StorageShape => ({
  ...storage,
  writePart: (input) => {
    switch (failure) {
      case "defect":
        return Effect.die(new Error("a bug somewhere in the write path"))
      case "storage":
        return Effect.fail(new StorageError({ operation: "write", key: "parts/x/data", cause: "ENOSPC: no space left on device" }))
      case "none":
        return storage.writePart(input)
    }
  }
})

let app: TestApp
let token: string
beforeAll(async () => {
  app = await startTestApp({ wrapStorage: failing })
  token = (await app.createUser()).token
})
afterAll(() => app.close())

describe("unexpected failures", () => {
  it("are a logged JSON 500, not an empty body", async () => {
    const session = await app.createSession(token, { total_size_bytes: 10, chunk_size_bytes: 10 })
    failure = "defect"
    const reply = await app.putPart(token, session.body.id, 1, bytes(10))
    failure = "none"
    expect(reply.status).toBe(500)
    expect(reply.headers.get("content-type")).toContain("application/json")
    expect(reply.body).toEqual({
      _tag: "InternalError",
      message: "internal error; it has been logged",
      request_id: reply.headers.get("x-request-id")
    })
    // nothing was recorded, and the part can be sent again
    expect((await app.getSession(token, session.body.id)).body.received_parts).toEqual([])
    expect((await app.putPart(token, session.body.id, 1, bytes(10))).status).toBe(200)
  })

  it("are 503 naming the storage when the storage fails", async () => {
    const session = await app.createSession(token, { total_size_bytes: 10, chunk_size_bytes: 10 })
    failure = "storage"
    const reply = await app.putPart(token, session.body.id, 1, bytes(10))
    failure = "none"
    expect(reply.status).toBe(503)
    expect(reply.body).toEqual({
      _tag: "ServiceUnavailable",
      component: "storage",
      message: "storage is unavailable",
      request_id: reply.headers.get("x-request-id")
    })
  })

  it("answer an unknown route with a JSON 404", async () => {
    const reply = await app.request("GET", "/no/such/thing", { token })
    expect(reply.status).toBe(404)
    expect(reply.body._tag).toBe("RouteNotFound")
  })
})

describe("when the database goes away", () => {
  it("answers 503: /health names the database, other requests say it is unavailable", async () => {
    const doomed = await startTestApp()
    try {
      const { token: doomedToken } = await doomed.createUser()
      expect((await doomed.request("GET", "/health")).status).toBe(200)
      await doomed.database.drop()
      const health = await doomed.request("GET", "/health")
      expect(health.status).toBe(503)
      expect(health.body).toMatchObject({
        _tag: "Unhealthy",
        report: { status: "unavailable", checks: { database: { status: "unavailable" }, storage: { status: "ok" } } }
      })
      const me = await doomed.request("GET", "/me", { token: doomedToken })
      expect(me.status).toBe(503)
      expect(me.body).toMatchObject({ _tag: "ServiceUnavailable", component: "database" })
    } finally {
      await doomed.close()
    }
  })
})
