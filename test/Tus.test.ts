/**
 * tus 1.0.0 at /tus/: discovery, Tus-Resumable, creation (with upload), HEAD, PATCH with its
 * offset, content type and checksum rules, termination, ownership, quota, expiry, stalls, and
 * one writer at a time; through the real tus-js-client where it sends the request, raw HTTP
 * where no client would. A tus upload is an upload session, checked through the API.
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test"
import { Effect, Either, Option } from "effect"
import * as tus from "tus-js-client"
import { StorageError } from "../src/Storage/Storage"
import { encodeMetadata, parseChecksum, parseMetadata } from "../src/Tus/Protocol"
import { bytes, sha256Hex, startTestApp, type TestApp } from "./support/TestApp"
import { idOf, offsetOf, settled, startUpload, statusOf, streamingPatch, tusRequest, uploadAll, writing } from "./support/Tus"

const PART = 1024
const MAX = 200_000

let app: TestApp
let alice: string
let bob: string

beforeAll(async () => {
  app = await startTestApp({
    env: {
      UPLOAD_CHUNK_SIZE_DEFAULT: String(PART),
      UPLOAD_MAX_FILE_SIZE: String(MAX),
      UPLOAD_PART_WAIT: "0.3",
      CORS_ORIGINS: "https://app.example"
    }
  })
  alice = (await app.createUser()).token
  bob = (await app.createUser()).token
})
afterAll(() => app.close())

const digest = (algorithm: "sha1" | "sha256", data: Uint8Array) => new Bun.CryptoHasher(algorithm).update(data).digest("base64")

/** A new upload of `length` bytes by `token`, through a raw POST. */
const create = async (length: number, token = alice, headers: Record<string, string> = {}) => {
  const reply = await tusRequest(app.baseUrl, "POST", "/tus/", { token, headers: { "upload-length": String(length), ...headers } })
  expect(reply.status).toBe(201)
  return idOf(reply.headers.get("location") ?? "")
}

const patch = (id: string, offset: number, body: Uint8Array, headers: Record<string, string> = {}, token = alice) =>
  tusRequest(app.baseUrl, "PATCH", `/tus/${id}`, {
    token,
    body,
    headers: { "content-type": "application/offset+octet-stream", "upload-offset": String(offset), ...headers }
  })

describe("tus headers", () => {
  it("reads Upload-Metadata as base64 UTF-8 pairs and writes it back; refuses what is not", () => {
    const header = `filename ${Buffer.from("naïve.txt").toString("base64")},private,empty `
    expect(parseMetadata(header)).toEqual(Either.right({ filename: "naïve.txt", private: "", empty: "" }))
    expect(encodeMetadata({ filename: "naïve.txt", private: "", size: 3 })).toEqual(
      Option.some(`filename ${Buffer.from("naïve.txt").toString("base64")},private`)
    )
    for (const bad of ["a b c", "key !!!", `a ${btoa("x")},a ${btoa("y")}`, `__proto__ ${btoa("x")}`, "key /w==", " , "]) {
      expect(Either.isLeft(parseMetadata(bad))).toBe(true)
    }
  })

  it("reads Upload-Checksum for sha1 and sha256 only, with a digest of the algorithm's size", () => {
    const sha1 = parseChecksum(`sha1 ${btoa("x".repeat(20))}`)
    expect(Either.isRight(sha1) && Option.map(sha1.right, (declared) => declared.algorithm)).toEqual(Option.some("sha1"))
    const md5 = parseChecksum(`md5 ${btoa("x".repeat(16))}`)
    expect(Either.isLeft(md5) && md5.left._tag).toBe("ChecksumAlgorithmUnsupported")
    const short = parseChecksum(`sha256 ${btoa("x".repeat(20))}`)
    expect(Either.isLeft(short) && short.left._tag).toBe("InvalidRequest")
    expect(parseChecksum(undefined)).toEqual(Either.right(Option.none()))
  })
})

describe("OPTIONS /tus/", () => {
  it("answers discovery without a token: version, extensions, checksum algorithms, maximum size", async () => {
    for (const path of ["/tus/", "/tus", "/tus/01a233c7-19ea-7789-84dc-837f78dc81e2"]) {
      const reply = await fetch(`${app.baseUrl}${path}`, { method: "OPTIONS" })
      expect(reply.status).toBe(204)
      expect(reply.headers.get("tus-resumable")).toBe("1.0.0")
      expect(reply.headers.get("tus-version")).toBe("1.0.0")
      expect(reply.headers.get("tus-extension")).toBe("creation,creation-with-upload,termination,expiration,checksum")
      expect(reply.headers.get("tus-checksum-algorithm")).toBe("sha1,sha256")
      expect(reply.headers.get("tus-max-size")).toBe(String(MAX))
    }
  })

  it("is still discovery for an allowed origin's plain OPTIONS, while its preflight is answered as CORS", async () => {
    const plain = await fetch(`${app.baseUrl}/tus/`, { method: "OPTIONS", headers: { origin: "https://app.example" } })
    expect(plain.status).toBe(204)
    expect(plain.headers.get("tus-version")).toBe("1.0.0")
    expect(plain.headers.get("access-control-allow-origin")).toBe("https://app.example")
    const preflight = await fetch(`${app.baseUrl}/tus/`, {
      method: "OPTIONS",
      headers: {
        origin: "https://app.example",
        "access-control-request-method": "PATCH",
        "access-control-request-headers": "tus-resumable, upload-offset"
      }
    })
    expect(preflight.status).toBe(204)
    expect(preflight.headers.get("access-control-allow-methods")).toContain("PATCH")
    expect(preflight.headers.get("tus-version")).toBeNull()
  })
})

describe("Tus-Resumable", () => {
  it("is required on every request but OPTIONS: another version or none is 412 with Tus-Version", async () => {
    const id = await create(10)
    for (const version of ["0.2.2", undefined]) {
      const headers: Record<string, string> = version === undefined ? {} : { "tus-resumable": version }
      const requests = [["POST", "/tus/"], ["HEAD", `/tus/${id}`], ["PATCH", `/tus/${id}`], ["DELETE", `/tus/${id}`]] as const
      for (const [method, path] of requests) {
        const reply = await fetch(`${app.baseUrl}${path}`, {
          method,
          headers: { authorization: `Bearer ${alice}`, "upload-length": "10", ...headers }
        })
        expect(reply.status).toBe(412)
        expect(reply.headers.get("tus-version")).toBe("1.0.0")
        expect(reply.headers.get("tus-resumable")).toBe("1.0.0")
      }
    }
    expect(await offsetOf(app, alice, id)).toBe(0)
  })

  it("is on every answer, failures included", async () => {
    const missing = await tusRequest(app.baseUrl, "HEAD", "/tus/01a233c7-19ea-7789-84dc-837f78dc81e2", { token: alice })
    expect(missing.status).toBe(404)
    const anonymous = await tusRequest(app.baseUrl, "POST", "/tus/", { headers: { "upload-length": "10" } })
    expect(anonymous.status).toBe(401)
    expect(await anonymous.json()).toMatchObject({ _tag: "Unauthorized" })
    for (const reply of [missing, anonymous]) expect(reply.headers.get("tus-resumable")).toBe("1.0.0")
  })
})

describe("creation", () => {
  it("makes an upload session with the service's part size, named by Uppy's name and type, at an absolute Location", async () => {
    const reply = await tusRequest(app.baseUrl, "POST", "/tus/", {
      token: alice,
      headers: {
        "upload-length": "5000",
        "upload-metadata": `name ${btoa("holiday.jpg")},type ${btoa("image/jpeg")},album ${Buffer.from("Été").toString("base64")},private`
      }
    })
    expect(reply.status).toBe(201)
    const location = reply.headers.get("location") ?? ""
    expect(location).toMatch(new RegExp(`^${app.baseUrl}/tus/[0-9a-f-]{36}$`))
    const session = await app.getSession(alice, idOf(location))
    expect(session.body).toMatchObject({
      status: "INIT",
      filename: "holiday.jpg",
      content_type: "image/jpeg",
      total_size_bytes: 5000,
      chunk_size_bytes: PART,
      total_parts: 5,
      metadata: { name: "holiday.jpg", type: "image/jpeg", album: "Été", private: "" }
    })
    // Upload-Expires is the session's expiry, as an RFC 7231 date
    const expires = reply.headers.get("upload-expires") ?? ""
    expect(expires).toMatch(/^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/)
    expect(Math.floor(Date.parse(session.body.expires_at) / 1000)).toBe(Date.parse(expires) / 1000)
    const head = await tusRequest(app.baseUrl, "HEAD", `/tus/${idOf(location)}`, { token: alice })
    expect(head.headers.get("upload-metadata")?.split(",").sort()).toEqual(
      [`name ${btoa("holiday.jpg")}`, `type ${btoa("image/jpeg")}`, `album ${Buffer.from("Été").toString("base64")}`, "private"].sort()
    )
  })

  it("names the upload's URL as a proxy in front says it was reached", async () => {
    const reply = await tusRequest(app.baseUrl, "POST", "/tus/", {
      token: alice,
      headers: { "upload-length": "10", "x-forwarded-proto": "https", "x-forwarded-host": "uploads.example.com" }
    })
    expect(reply.headers.get("location")).toMatch(/^https:\/\/uploads\.example\.com\/tus\/[0-9a-f-]{36}$/)
  })

  it("refuses an upload over the quota with 429, and one over the maximum size with 413", async () => {
    const { token } = await app.createUser({ quota: 1000 })
    expect(statusOf(await uploadAll(app.baseUrl, token, bytes(1001)).catch((error: unknown) => error))).toBe(429)
    const tooLarge = await tusRequest(app.baseUrl, "POST", "/tus/", { token, headers: { "upload-length": String(MAX + 1) } })
    expect(tooLarge.status).toBe(413)
    expect((await app.request("GET", "/quota", { token })).body).toMatchObject({ reserved_bytes: 0 })
  })

  it("refuses what it does not support with 400: concatenation, deferred length, empty uploads, broken metadata", async () => {
    const parallel = await uploadAll(app.baseUrl, alice, bytes(4000), { parallelUploads: 2 }).catch((error: unknown) => error)
    expect(statusOf(parallel)).toBe(400)
    expect(String(parallel)).toContain("concatenation")
    const deferred = await uploadAll(app.baseUrl, alice, bytes(10), { uploadLengthDeferred: true }).catch((error: unknown) => error)
    expect(statusOf(deferred)).toBe(400)
    expect(String(deferred)).toContain("creation-defer-length")
    const refused = [
      { "upload-length": "0" },
      { "upload-length": "ten" },
      {},
      { "upload-length": "10", "upload-metadata": "filename not-base64!" }
    ]
    for (const headers of refused) {
      expect((await tusRequest(app.baseUrl, "POST", "/tus/", { token: alice, headers })).status).toBe(400)
    }
  })

  it("takes the first bytes with the creation (creation-with-upload)", async () => {
    const data = bytes(5000, 21)
    const started = startUpload(app.baseUrl, alice, data, { uploadDataDuringCreation: true, chunkSize: 3000 })
    const url = await started.done
    expect(started.patches.map((sent) => sent.offset)).toEqual([3000])
    expect((await app.getSession(alice, idOf(url))).body.file).toMatchObject({ status: "STORED", sha256: sha256Hex(data) })
  })
})

describe("HEAD /tus/{id}", () => {
  it("reports the stored offset, the length and no-store; 404 for an unknown upload, 403 for another user's", async () => {
    const id = await create(3000)
    expect((await patch(id, 0, bytes(1500, 3))).status).toBe(204)
    const head = await tusRequest(app.baseUrl, "HEAD", `/tus/${id}`, { token: alice })
    expect(head.status).toBe(200)
    expect(head.headers.get("upload-offset")).toBe("1500")
    expect(head.headers.get("upload-length")).toBe("3000")
    expect(head.headers.get("cache-control")).toBe("no-store")
    expect(head.headers.get("upload-expires")).not.toBeNull()
    expect((await tusRequest(app.baseUrl, "HEAD", "/tus/not-an-id", { token: alice })).status).toBe(404)
    expect((await tusRequest(app.baseUrl, "HEAD", `/tus/${id}`, { token: bob })).status).toBe(403)
  })
})

describe("PATCH /tus/{id}", () => {
  it("appends at the offset and answers the new one; a wrong offset is 409, a wrong content type 415, and neither changes it", async () => {
    const id = await create(3000)
    const first = await patch(id, 0, bytes(700, 4))
    expect(first.status).toBe(204)
    expect(first.headers.get("upload-offset")).toBe("700")
    expect(first.headers.get("upload-expires")).not.toBeNull()
    const stale = await patch(id, 0, bytes(700, 4))
    expect(stale.status).toBe(409)
    expect(await stale.json()).toMatchObject({ _tag: "UploadOffsetMismatch", upload_offset: 700, requested_offset: 0 })
    const wrongType = await patch(id, 700, bytes(100), { "content-type": "application/octet-stream" })
    expect(wrongType.status).toBe(415)
    expect(await offsetOf(app, alice, id)).toBe(700)
  })

  it("refuses a body whose Upload-Checksum does not match with 460 and keeps none of it; keeps one that matches", async () => {
    const data = bytes(5000, 5)
    const id = await create(data.byteLength)
    const head = data.subarray(0, 1500)
    expect((await patch(id, 0, head, { "upload-checksum": `sha256 ${digest("sha256", head)}` })).status).toBe(204)
    const fragmentsNow = () => app.sql("SELECT part_number, part_offset, size_bytes FROM upload_fragments WHERE session_id = $1", [id])
    const fragments = await fragmentsNow()
    expect(fragments).toEqual([{ part_number: 2, part_offset: 0, size_bytes: 476 }])
    const wrong = await patch(id, 1500, data.subarray(1500, 3200), { "upload-checksum": `sha1 ${digest("sha1", bytes(1700, 99))}` })
    expect(wrong.status).toBe(460)
    expect(await wrong.json()).toMatchObject({ _tag: "UploadChecksumMismatch" })
    expect(await offsetOf(app, alice, id)).toBe(1500)
    expect(await fragmentsNow()).toEqual(fragments)
    const unknown = await patch(id, 1500, data.subarray(1500), { "upload-checksum": `md5 ${btoa("x".repeat(16))}` })
    expect(unknown.status).toBe(400)
    const rest = await patch(id, 1500, data.subarray(1500), { "upload-checksum": `sha1 ${digest("sha1", data.subarray(1500))}` })
    expect(rest.status).toBe(204)
    expect(rest.headers.get("upload-offset")).toBe("5000")
    expect((await app.getSession(alice, id)).body.file).toMatchObject({ status: "STORED", sha256: sha256Hex(data) })
  })

  it("refuses a body past Upload-Length with 413, and another user's upload with 403", async () => {
    const id = await create(1000)
    expect((await patch(id, 0, bytes(1001))).status).toBe(413)
    expect((await patch(id, 0, bytes(10), {}, bob)).status).toBe(403)
    expect((await tusRequest(app.baseUrl, "DELETE", `/tus/${id}`, { token: bob })).status).toBe(403)
    expect(await offsetOf(app, alice, id)).toBe(0)
  })

  it("lets one PATCH at a time write: a second one meanwhile is 423 Locked", async () => {
    const id = await create(4000)
    const slow = streamingPatch(app.baseUrl, alice, id, 0)
    slow.send(bytes(500, 6))
    await writing(app, id)
    const second = await patch(id, 0, bytes(500, 6))
    expect(second.status).toBe(423)
    expect(await second.json()).toMatchObject({ _tag: "UploadLocked" })
    slow.send(bytes(500, 7))
    slow.end()
    const done = await slow.reply
    expect(done.status).toBe(204)
    expect(done.headers.get("upload-offset")).toBe("1000")
  })

  it("takes bodies without a Content-Length, cut anywhere, part after part", async () => {
    const data = bytes(3000, 12)
    const id = await create(data.byteLength)
    for (const [from, to] of [[0, 700], [700, 1400], [1400, 2600], [2600, 3000]] as const) {
      const sending = streamingPatch(app.baseUrl, alice, id, from)
      sending.send(data.subarray(from, to))
      sending.end()
      const reply = await sending.reply
      expect([reply.status, reply.headers.get("upload-offset")]).toEqual([204, String(to)])
    }
    expect((await app.getSession(alice, id)).body.file).toMatchObject({ status: "STORED", sha256: sha256Hex(data) })
  })

  it("works for clients that can only POST (X-HTTP-Method-Override)", async () => {
    const data = bytes(2500, 8)
    const url = await uploadAll(app.baseUrl, alice, data, { overridePatchMethod: true, chunkSize: 1000 })
    expect((await app.getSession(alice, idOf(url))).body.file).toMatchObject({ status: "STORED", sha256: sha256Hex(data) })
  })
})

describe("DELETE /tus/{id}", () => {
  it("terminates the upload: 204, its session ABORTED, its fragments gone, its quota released, then 410", async () => {
    const { token } = await app.createUser({ quota: 10_000 })
    const id = await create(6000, token)
    expect((await patch(id, 0, bytes(1500, 9), {}, token)).status).toBe(204)
    expect((await app.request("GET", "/quota", { token })).body).toMatchObject({ reserved_bytes: 6000 })
    await tus.Upload.terminate(`${app.baseUrl}/tus/${id}`, { headers: { authorization: `Bearer ${token}` } })
    expect((await app.getSession(token, id)).body.status).toBe("ABORTED")
    expect((await app.request("GET", "/quota", { token })).body).toMatchObject({ reserved_bytes: 0 })
    expect(await app.sql("SELECT count(*)::int AS n FROM upload_fragments WHERE session_id = $1", [id])).toEqual([{ n: 0 }])
    expect((await tusRequest(app.baseUrl, "HEAD", `/tus/${id}`, { token })).status).toBe(410)
    expect((await patch(id, 1500, bytes(10), {}, token)).status).toBe(410)
  })
})

describe("over time", () => {
  let clocked: TestApp
  let token: string
  /** The first storage complete fails, as a store that is down for a moment would. */
  let failNextComplete = false

  beforeAll(async () => {
    clocked = await startTestApp({
      testClock: true,
      env: { UPLOAD_CHUNK_SIZE_DEFAULT: String(PART), UPLOAD_SESSION_TTL: "60", UPLOAD_BODY_IDLE_TIMEOUT: "5" },
      wrapStorage: (storage) => ({
        ...storage,
        complete: (input) =>
          failNextComplete
            ? Effect.suspend(() => {
              failNextComplete = false
              return Effect.fail(new StorageError({ operation: "complete", key: "test", cause: "the store is down" }))
            })
            : storage.complete(input)
      })
    })
    token = (await clocked.createUser()).token
  })
  afterAll(() => clocked.close())

  const clockedPatch = (id: string, offset: number, body: Uint8Array) =>
    tusRequest(clocked.baseUrl, "PATCH", `/tus/${id}`, {
      token,
      body,
      headers: { "content-type": "application/offset+octet-stream", "upload-offset": String(offset) }
    })

  it("answers 410 for an upload past its Upload-Expires, swept or not", async () => {
    const reply = await tusRequest(clocked.baseUrl, "POST", "/tus/", { token, headers: { "upload-length": "3000" } })
    const id = idOf(reply.headers.get("location") ?? "")
    expect((await clockedPatch(id, 0, bytes(1000))).status).toBe(204)
    await clocked.advance("61 seconds")
    expect((await tusRequest(clocked.baseUrl, "HEAD", `/tus/${id}`, { token })).status).toBe(410)
    const late = await clockedPatch(id, 1000, bytes(1000))
    expect(late.status).toBe(410)
    expect(await late.json()).toMatchObject({ _tag: "SessionExpired" })
  })

  it("ends a body that stops arriving (408) and keeps the bytes that came", async () => {
    const reply = await tusRequest(clocked.baseUrl, "POST", "/tus/", { token, headers: { "upload-length": "5000" } })
    const id = idOf(reply.headers.get("location") ?? "")
    const stalled = streamingPatch(clocked.baseUrl, token, id, 0)
    stalled.send(bytes(1300, 10))
    await writing(clocked, id)
    const answer = await clocked.advanceUntilSettled(() => stalled.reply, "1 second")
    expect(answer.status).toBe(408)
    await settled(clocked, id)
    expect(await offsetOf(clocked, token, id)).toBe(1300)
  })

  it("completes an upload whose bytes are all in when it is looked at, if its last PATCH could not", async () => {
    const data = bytes(2500, 11)
    const reply = await tusRequest(clocked.baseUrl, "POST", "/tus/", { token, headers: { "upload-length": "2500" } })
    const id = idOf(reply.headers.get("location") ?? "")
    failNextComplete = true
    expect((await clockedPatch(id, 0, data)).status).toBe(503)
    expect((await clocked.getSession(token, id)).body.status).toBe("IN_PROGRESS")
    const head = await tusRequest(clocked.baseUrl, "HEAD", `/tus/${id}`, { token })
    expect(head.headers.get("upload-offset")).toBe("2500")
    expect((await clocked.getSession(token, id)).body.file).toMatchObject({ status: "STORED", sha256: sha256Hex(data) })
  })
})
