/**
 * tus-js-client uploads, on both storage backends (local files; S3 on the tests' Ceph RGW):
 * a whole file in one PATCH, PATCHes smaller and larger than the session's parts, and uploads
 * broken off mid-body (the connection killed, the client aborted) whose bytes that arrived
 * stay stored, resumed from the stored URL on another instance, sending only the rest.
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test"
import { Effect, Either } from "effect"
import * as tus from "tus-js-client"
import { mkdtemp, readdir, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Storage } from "../src/Storage/Storage"
import { startCuttingProxy } from "./support/CuttingProxy"
import { bytes, sha256Hex, startTestApp, type TestApp } from "./support/TestApp"
import { idOf, MemoryUrlStorage, offsetOf, previousUploads, settled, startUpload, statusOf, tusRequest } from "./support/Tus"

const PART = 64 * 1024

describe.each(["local", "s3"] as const)("tus uploads on %s storage", (backend) => {
  let first: TestApp
  let second: TestApp
  let token: string
  let otherDataDir: string | undefined

  beforeAll(async () => {
    const env = { UPLOAD_CHUNK_SIZE_DEFAULT: String(PART) }
    first = await startTestApp({ storage: backend, env })
    // a second instance over the same database: on S3 with a DATA_DIR of its own, locally sharing the files
    otherDataDir = backend === "s3" ? await mkdtemp(join(tmpdir(), "portal-tus-")) : undefined
    second = await startTestApp({
      storage: backend,
      shareWith: { database: first.database, dataDir: otherDataDir ?? first.dataDir },
      env: { ...env, ...(backend === "s3" ? { S3_PREFIX: first.env["S3_PREFIX"] ?? "" } : {}) }
    })
    token = (await first.createUser()).token
  })
  afterAll(async () => {
    await second.close()
    await first.close()
    if (otherDataDir !== undefined) await rm(otherDataDir, { recursive: true, force: true })
  })

  /** The session behind an upload URL: STORED with the file's SHA-256, and nothing left of its fragments. */
  const expectStored = async (url: string, data: Uint8Array) => {
    const id = idOf(url)
    const session = await first.getSession(token, id)
    expect(session.status).toBe(200)
    expect(session.body).toMatchObject({ status: "COMPLETE", total_size_bytes: data.byteLength })
    expect(session.body.file).toMatchObject({ status: "STORED", sha256: sha256Hex(data), size_bytes: data.byteLength })
    expect(await first.sql("SELECT count(*)::int AS n FROM upload_fragments WHERE session_id = $1", [id])).toEqual([{ n: 0 }])
    const download = await fetch(`${second.baseUrl}/files/${session.body.file_id}/content`, {
      headers: { authorization: `Bearer ${token}` }
    })
    expect(sha256Hex(new Uint8Array(await download.arrayBuffer()))).toBe(sha256Hex(data))
    const events = await first.sql("SELECT event_type FROM outbox_events WHERE file_id = $1", [session.body.file_id])
    expect(events).toEqual([{ event_type: "file.stored" }])
    return session.body
  }

  it("stores a whole file sent in one PATCH, named and typed by its metadata", async () => {
    const data = bytes(5 * PART + 1234, 11)
    const started = startUpload(first.baseUrl, token, data, { metadata: { filename: "clip.mp4", filetype: "video/mp4" } })
    const url = await started.done
    expect(url.startsWith(`${first.baseUrl}/tus/`)).toBe(true)
    expect(started.patches.map((patch) => patch.offset)).toEqual([0])
    const session = await expectStored(url, data)
    expect(session).toMatchObject({ filename: "clip.mp4", content_type: "video/mp4", total_parts: 6 })
  })

  it("stores a file sent in PATCHes smaller than its parts (kept as fragments until each part is whole)", async () => {
    const data = bytes(3 * PART + 500, 12)
    const started = startUpload(first.baseUrl, token, data, { chunkSize: 20_000 })
    await expectStored(await started.done, data)
    expect(started.patches.length).toBe(Math.ceil(data.byteLength / 20_000))
  })

  it("stores a file sent in PATCHes larger than its parts, cut inside parts", async () => {
    const data = bytes(7 * PART - 99, 13)
    const started = startUpload(first.baseUrl, token, data, { chunkSize: 100_000 })
    await expectStored(await started.done, data)
    expect(started.patches.map((patch) => patch.offset)).toEqual([0, 100_000, 200_000, 300_000, 400_000])
  })

  it("keeps the bytes of a PATCH whose connection is killed, and resumes on the other instance sending only the rest", async () => {
    const proxy = await startCuttingProxy(first.baseUrl)
    try {
      const data = bytes(4 * PART + 777, 14)
      const storage = new MemoryUrlStorage()
      const fingerprint = () => Promise.resolve("the-file")
      const cutAt = PART + 12_345
      const cut = proxy.arm(cutAt, "cut")
      const broken = startUpload(proxy.url, token, data, { urlStorage: storage, fingerprint })
      await cut
      expect(statusOf(await broken.done.catch((error: unknown) => error))).toBe(0)
      const [previous] = await storage.findAllUploads()
      const id = idOf(previous?.uploadUrl ?? "")
      await settled(first, id)
      // every byte that arrived is stored: the first part, and a fragment of the second
      expect(await offsetOf(second, token, id)).toBe(cutAt)
      expect(await first.sql("SELECT part_number, part_offset, size_bytes FROM upload_fragments WHERE session_id = $1", [id]))
        .toEqual([{ part_number: 2, part_offset: 0, size_bytes: cutAt - PART }])

      // the stored URL, reached through another instance (as a load balancer would send it)
      const [found, ...more] = await previousUploads(second.baseUrl, data, { urlStorage: storage, fingerprint })
      expect(found?.uploadUrl).toBe(`${proxy.url}/tus/${id}`)
      expect(more).toEqual([])
      const onSecond = `${second.baseUrl}/tus/${id}`
      const resumed = startUpload(second.baseUrl, token, data, {
        urlStorage: storage,
        fingerprint,
        ...(found === undefined ? {} : { previous: { ...found, uploadUrl: onSecond } })
      })
      expect(await resumed.done).toBe(onSecond)
      expect(resumed.patches).toEqual([{ offset: cutAt, sent: data.byteLength - cutAt }])
      await expectStored(onSecond, data)
    } finally {
      proxy.stop()
    }
  })

  it("keeps nothing of a PATCH whose Upload-Checksum does not match (460), and all of one that does", async () => {
    const data = bytes(2 * PART + 100, 17)
    const created = await tusRequest(first.baseUrl, "POST", "/tus/", { token, headers: { "upload-length": String(data.byteLength) } })
    const id = idOf(created.headers.get("location") ?? "")
    const send = (from: number, checksum: string) =>
      tusRequest(second.baseUrl, "PATCH", `/tus/${id}`, {
        token,
        body: data.subarray(from),
        headers: { "content-type": "application/offset+octet-stream", "upload-offset": String(from), "upload-checksum": checksum }
      })
    const sha1 = (bytes: Uint8Array) => `sha1 ${new Bun.CryptoHasher("sha1").update(bytes).digest("base64")}`
    expect((await send(0, sha1(bytes(10, 1)))).status).toBe(460)
    expect(await offsetOf(first, token, id)).toBe(0)
    // nor did the storage keep any of it: no fragment object (S3), no fragment file (local)
    const fileId: string = (await first.getSession(token, id)).body.file_id
    const leftovers = backend === "s3"
      ? (await first.run(Effect.flatMap(Storage, (storage) => storage.listObjects))).map((object) => object.key)
        .filter((key) => key.includes(`${fileId}.tus/`))
      : (await readdir(join(first.dataDir, "storage", "parts", id)).catch(() => [])).filter((name) => name.startsWith("fragment."))
    expect(leftovers).toEqual([])
    const accepted = await send(0, sha1(data))
    expect([accepted.status, accepted.headers.get("upload-offset")]).toEqual([204, String(data.byteLength)])
    await expectStored(`${first.baseUrl}/tus/${id}`, data)
  })

  it("refuses, before storing a byte: another version (412), another user (403), another offset (409), another type (415)", async () => {
    const { token: other } = await first.createUser()
    const created = await tusRequest(first.baseUrl, "POST", "/tus/", { token, headers: { "upload-length": "5000" } })
    const id = idOf(created.headers.get("location") ?? "")
    const attempt = (headers: Record<string, string>, as = token) =>
      tusRequest(first.baseUrl, "PATCH", `/tus/${id}`, {
        token: as,
        body: bytes(100),
        headers: { "content-type": "application/offset+octet-stream", "upload-offset": "0", ...headers }
      })
    expect((await attempt({ "tus-resumable": "0.2.2" })).status).toBe(412)
    expect((await attempt({}, other)).status).toBe(403)
    expect((await attempt({ "upload-offset": "10" })).status).toBe(409)
    expect((await attempt({ "content-type": "application/octet-stream" })).status).toBe(415)
    expect(await offsetOf(first, token, id)).toBe(0)
    const { token: small } = await first.createUser({ quota: 100 })
    expect(statusOf(await startUpload(first.baseUrl, small, bytes(101)).done.catch((error: unknown) => error))).toBe(429)
  })

  it("gives up what a terminated upload stored: its fragments go with it", async () => {
    const started = startUpload(first.baseUrl, token, bytes(3 * PART, 16), { chunkSize: 30_000 })
    started.upload.options.onChunkComplete = () => void started.upload.abort()
    for (let i = 0; i < 1000 && started.patches.length === 0; i++) await Bun.sleep(2)
    const id = idOf(started.upload.url ?? "")
    await settled(first, id)
    const kept = await first.sql<{ storage_key: string }>("SELECT storage_key FROM upload_fragments WHERE session_id = $1", [id])
    expect(kept.length).toBe(1)
    const readable = (key: string) => first.run(Effect.flatMap(Storage, (storage) => Effect.either(storage.open(key))))
    expect(Either.isRight(await readable(kept[0]?.storage_key ?? ""))).toBe(true)
    await tus.Upload.terminate(`${second.baseUrl}/tus/${id}`, { headers: { authorization: `Bearer ${token}` } })
    expect(Either.isLeft(await readable(kept[0]?.storage_key ?? ""))).toBe(true)
    expect((await first.getSession(token, id)).body.status).toBe("ABORTED")
  })

  it("keeps the bytes that arrived when the client aborts mid-body, and resumes from the stored URL", async () => {
    const proxy = await startCuttingProxy(first.baseUrl)
    try {
      const data = bytes(3 * PART + 4321, 15)
      const storage = new MemoryUrlStorage()
      const holdAt = 2 * PART + 1000
      const held = proxy.arm(holdAt, "hold")
      const aborted = startUpload(proxy.url, token, data, { urlStorage: storage })
      await held
      await aborted.upload.abort()
      const [previous] = await storage.findAllUploads()
      const id = idOf(previous?.uploadUrl ?? "")
      await settled(first, id)
      expect(await offsetOf(first, token, id)).toBe(holdAt)

      const resumed = startUpload(first.baseUrl, token, data, { uploadUrl: `${first.baseUrl}/tus/${id}` })
      await resumed.done
      expect(resumed.patches).toEqual([{ offset: holdAt, sent: data.byteLength - holdAt }])
      await expectStored(`${first.baseUrl}/tus/${id}`, data)
    } finally {
      proxy.stop()
    }
  })
})
