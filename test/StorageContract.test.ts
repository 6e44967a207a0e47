/**
 * One contract, every backend: the local filesystem and S3 (a real Ceph RGW) are held to the
 * same behaviour: parts streamed in and hashed, bodies too long or broken refused, parts in
 * any order assembled into the right bytes with the SHA-256 of what the store holds,
 * completion repeatable, a stale writer unable to change what completes, uploads and
 * objects listed for garbage collection (ours only), windows read back.
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test"
import { Effect, Either, Exit, Fiber, Option, Redacted, Scope, Stream } from "effect"
import { mkdtemp, readdir, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { makeLocalStorage } from "../src/Storage/Local"
import { makeRegionHasher } from "../src/Storage/RegionHasher"
import { makeS3Storage } from "../src/Storage/S3"
import { makeS3Client } from "../src/Storage/S3Client"
import type { ReceivedPart, StorageShape, UploadTarget, WrittenPart } from "../src/Storage/Storage"
import { rgw } from "./support/S3"
import { bytes, sha256Hex } from "./support/TestApp"

interface Backend {
  readonly name: string
  readonly open: () => Promise<{ readonly storage: StorageShape; readonly close: () => Promise<void> }>
}

const backends: ReadonlyArray<Backend> = [
  {
    name: "local",
    open: async () => {
      const root = await mkdtemp(join(tmpdir(), "portal-contract-"))
      const scope = Effect.runSync(Scope.make())
      const hasher = makeRegionHasher()
      const storage = await Effect.runPromise(Scope.extend(makeLocalStorage({ root, fsync: true }, hasher), scope))
      return {
        storage,
        close: async () => {
          await Effect.runPromise(Scope.close(scope, Exit.void))
          hasher.close()
          await rm(root, { recursive: true, force: true })
        }
      }
    }
  },
  {
    name: "s3 (Ceph RGW)",
    open: async () => {
      const env = await rgw()
      const prefix = `contract-${Bun.randomUUIDv7()}/`
      const settings = {
        endpoint: Option.some(env.endpoint),
        region: env.region,
        bucket: env.bucket,
        accessKeyId: env.accessKeyId,
        secretAccessKey: Option.some(Redacted.make(env.secretAccessKey)),
        virtualHostedStyle: false,
        prefix,
        minPartSize: 1
      }
      const client = makeS3Client(settings)
      return {
        storage: makeS3Storage(client, settings),
        close: async () => {
          // leave the bucket as we found it
          for (const object of await Effect.runPromise(client.listObjects(prefix))) await Effect.runPromise(client.deleteObject(object.key))
          for (const upload of await Effect.runPromise(client.listMultipartUploads(prefix))) {
            await Effect.runPromise(client.abortMultipartUpload(upload.key, upload.uploadId))
          }
        }
      }
    }
  }
]

/** The data as a request body: a web stream of small chunks, like a socket delivers it. */
const chunked = (data: Uint8Array, size = 7) =>
  Stream.toReadableStream(
    Stream.fromIterable(Array.from({ length: Math.ceil(data.byteLength / size) }, (_, i) => data.subarray(i * size, (i + 1) * size)))
  )

const read = async (body: Blob | ReadableStream<Uint8Array>) => new Uint8Array(await new Response(body).arrayBuffer())

describe.each(backends)("storage: $name", ({ open }) => {
  let storage: StorageShape
  let close: () => Promise<void>
  const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect)

  beforeAll(async () => {
    ;({ close, storage } = await open())
  }, 120_000)
  afterAll(() => close())

  /** A session's upload in the store, as the first part starts it. */
  const newUpload = async (): Promise<UploadTarget> => {
    const session = { sessionId: Bun.randomUUIDv7(), fileId: Bun.randomUUIDv7() }
    return { ...session, ref: await run(storage.createUpload(session)) }
  }
  const write = (target: UploadTarget, partNumber: number, body: ReadableStream<Uint8Array>, size: number, claim = Bun.randomUUIDv7()) =>
    storage.writePart({ target, partNumber, claim, size, body })
  const received = (partNumber: number, part: WrittenPart): ReceivedPart => ({ ...part, partNumber })

  it("streams a part in and answers its size, SHA-256 and how completion names it", async () => {
    const target = await newUpload()
    const data = bytes(1000, 1)
    const part = await run(write(target, 2, chunked(data), 1000))
    expect(part.size).toBe(1000)
    expect(part.sha256).toBe(sha256Hex(data))
    expect(part.locator).not.toBe("")
  })

  it("stops reading and fails as soon as the body is longer than the part", async () => {
    const target = await newUpload()
    let pulled = 0
    const endless = new ReadableStream<Uint8Array>({
      pull: (controller) => {
        pulled += 1
        controller.enqueue(new Uint8Array(64))
      }
    })
    const result = await run(Effect.either(write(target, 1, endless, 1000)))
    expect(Either.isLeft(result) && result.left).toMatchObject({ _tag: "BodyTooLarge", limit: 1000 })
    expect(pulled).toBeLessThan(40)
  })

  it("answers the size of a body that ends early, and reports one that breaks off as unreadable", async () => {
    const target = await newUpload()
    expect((await run(write(target, 1, chunked(bytes(600)), 1000))).size).toBe(600)
    const failing = Stream.toReadableStream(Stream.concat(Stream.make(bytes(100)), Stream.fail("connection reset")))
    const result = await run(Effect.either(write(target, 1, failing, 1000)))
    expect(Either.isLeft(result) && result.left._tag).toBe("BodyUnreadable")
  })

  it("stops writing when interrupted", async () => {
    const target = await newUpload()
    let pulls = 0
    let consumed: () => void = () => undefined
    const started = new Promise<void>((resolve) => {
      consumed = resolve
    })
    // 50 bytes, then a client that goes quiet: asked for more, it never answers
    const stalled = new ReadableStream<Uint8Array>({
      pull: (controller) => {
        if (pulls++ === 0) return controller.enqueue(bytes(50))
        consumed()
        return new Promise<void>(() => undefined)
      }
    })
    const exit = await run(Effect.gen(function*() {
      const fiber = yield* Effect.fork(write(target, 1, stalled, 1000))
      yield* Effect.promise(() => started)
      return yield* Fiber.interrupt(fiber)
    }))
    expect(Exit.isInterrupted(exit)).toBe(true)
  })

  it("completes parts written out of order into the right bytes and the SHA-256 of what it holds; again, the same", async () => {
    const target = await newUpload()
    const data = bytes(2500, 9)
    const slice = (n: number) => data.subarray((n - 1) * 1000, n * 1000)
    // a first attempt at part 2 breaks off half-way: it is not a part
    const broken = Stream.toReadableStream(Stream.concat(Stream.make(bytes(500, 77)), Stream.fail("reset")))
    expect(Either.isLeft(await run(Effect.either(write(target, 2, broken, 1000))))).toBe(true)
    const parts = new Map<number, ReceivedPart>()
    for (const n of [3, 1, 2]) {
      const part = received(n, await run(write(target, n, chunked(slice(n), 333), n === 3 ? 500 : 1000)))
      parts.set(n, part)
      await run(storage.partRecorded(target, part))
    }
    const ordered = [1, 2, 3].flatMap((n) => Option.toArray(Option.fromNullable(parts.get(n))))
    const holder = Bun.randomUUIDv7()
    const object = await run(storage.complete({ target, holder, parts: ordered }))
    expect(object).toMatchObject({ backend: storage.backend, size: 2500, sha256: sha256Hex(data) })
    expect(await read((await run(storage.open(object.key))).body)).toEqual(data)
    const window = await run(storage.open(object.key, { offset: 1000, length: 10 }))
    expect(window.length).toBe(10)
    expect(await read(window.body)).toEqual(data.subarray(1000, 1010))
    // completing again (a repeated complete after a crash) yields the same bytes
    const again = await run(storage.complete({ target, holder, parts: ordered }))
    expect([again.size, again.sha256]).toEqual([2500, sha256Hex(data)])
    // the object outlives the session's upload
    await run(storage.discardUpload(target))
    expect(await read((await run(storage.open(object.key))).body)).toEqual(data)
    expect((await run(storage.listObjects)).map((listed) => listed.key)).toContain(object.key)
    await run(storage.deleteObject(object.key))
    expect(Either.isLeft(await run(Effect.either(storage.open(object.key))))).toBe(true)
  })

  it("keeps a tus fragment exactly, reads it back, refuses one too long or too short, and leaves none behind", async () => {
    const target = await newUpload()
    const data = bytes(700, 41)
    const fragment = await run(storage.writeFragment({ target, partNumber: 2, partOffset: 300, size: 700, body: chunked(data) }))
    expect(fragment).toMatchObject({ size: 700, sha256: sha256Hex(data) })
    expect(await read((await run(storage.open(fragment.locator))).body)).toEqual(data)
    const fragmentOf = (size: number, body: Uint8Array) =>
      run(Effect.either(storage.writeFragment({ target, partNumber: 1, partOffset: 0, size, body: chunked(body) })))
    const long = await fragmentOf(100, bytes(101))
    expect(Either.isLeft(long) && long.left._tag).toBe("BodyTooLarge")
    const short = await fragmentOf(100, bytes(99))
    expect(Either.isLeft(short) && short.left._tag).toBe("BodyUnreadable")
    if (storage.backend === "s3") {
      // an object of its own, counted as its file's, so the garbage collection finds it once the session ends
      expect((await run(storage.listObjects)).filter((object) => object.key === fragment.locator).map((object) => object.fileId))
        .toEqual([target.fileId])
    }
    await run(storage.deleteObject(fragment.locator))
    expect(Either.isLeft(await run(Effect.either(storage.open(fragment.locator))))).toBe(true)
    await run(storage.discardUpload(target))
  })

  it("completes what was recorded, whatever a writer whose claim lapsed writes afterwards", async () => {
    const target = await newUpload()
    const data = bytes(200, 31)
    const first = received(1, await run(write(target, 1, chunked(data.subarray(0, 100)), 100)))
    const second = received(2, await run(write(target, 2, chunked(data.subarray(100)), 100)))
    // a writer of part 2 that had lost its claim resumes and writes other bytes
    const stale = await run(Effect.either(write(target, 2, chunked(bytes(100, 99)), 100, Bun.randomUUIDv7())))
    const outcome = await run(Effect.either(storage.complete({ target, holder: Bun.randomUUIDv7(), parts: [first, second] })))
    if (Either.isRight(outcome)) {
      // local: the stale writer wrote a file of its own; the recorded bytes complete
      expect(outcome.right.sha256).toBe(sha256Hex(data))
      expect(await read((await run(storage.open(outcome.right.key))).body)).toEqual(data)
    } else {
      // S3: the stale UploadPart replaced part 2 in the store; completion refuses it by its ETag
      expect(Either.isRight(stale)).toBe(true)
      expect(outcome.left).toMatchObject({ _tag: "PartsReplaced", partNumbers: [2] })
    }
    expect(storage.backend === "local" ? Either.isRight(outcome) : Either.isLeft(outcome)).toBe(true)
  })

  it("refuses to complete parts that are missing", async () => {
    const target = await newUpload()
    const first = received(1, await run(write(target, 1, chunked(bytes(10)), 10)))
    const third = received(3, await run(write(target, 3, chunked(bytes(10)), 10)))
    const gap = await run(Effect.either(storage.complete({ target, holder: Bun.randomUUIDv7(), parts: [first, { ...third, partNumber: 2, locator: "nothing" }] })))
    expect(Either.isLeft(gap)).toBe(true)
  })

  it("lists the uploads it holds and forgets those given up", async () => {
    const target = await newUpload()
    await run(write(target, 1, chunked(bytes(10)), 10))
    const refs = async () => (await run(storage.listUploads)).map((upload) => upload.target.ref)
    expect(await refs()).toContain(target.ref)
    await run(storage.discardUpload(target))
    expect(await refs()).not.toContain(target.ref)
    // giving up twice is harmless
    await run(storage.discardUpload(target))
    await run(storage.check)
  })

  it("reports the backend's limits", () => {
    expect(storage.limits.maxParts).toBe(10_000)
    expect(storage.limits.minPartSize).toBeGreaterThanOrEqual(1)
  })
})

describe("local storage", () => {
  let root: string
  let storage: StorageShape
  const scope = Effect.runSync(Scope.make())
  const hasher = makeRegionHasher()
  const synced: Array<string> = []

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "portal-local-"))
    storage = await Effect.runPromise(Scope.extend(makeLocalStorage({ root, fsync: true }, hasher, (path) => {
      synced.push(path)
    }), scope))
  })
  afterAll(async () => {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    hasher.close()
    await rm(root, { recursive: true, force: true })
  })

  it("writes every claim's part into a file of its own", async () => {
    const session = { sessionId: Bun.randomUUIDv7(), fileId: Bun.randomUUIDv7() }
    const target = { ...session, ref: await Effect.runPromise(storage.createUpload(session)) }
    const a = await Effect.runPromise(storage.writePart({ target, partNumber: 1, claim: "claim-a", size: 10, body: chunked(bytes(10, 1)) }))
    const b = await Effect.runPromise(storage.writePart({ target, partNumber: 1, claim: "claim-b", size: 10, body: chunked(bytes(10, 2)) }))
    expect(a.locator).not.toBe(b.locator)
    expect((await readdir(join(root, target.ref))).sort()).toEqual(["1.claim-a", "1.claim-b"])
  })

  it("syncs every directory it creates into its parent, so a crash cannot lose a synced part or object", async () => {
    synced.length = 0
    const session = { sessionId: Bun.randomUUIDv7(), fileId: Bun.randomUUIDv7() }
    const target = { ...session, ref: await Effect.runPromise(storage.createUpload(session)) }
    expect(synced).toContain(join(root, "parts"))
    const part = await Effect.runPromise(storage.writePart({ target, partNumber: 1, claim: "c", size: 10, body: chunked(bytes(10)) }))
    synced.length = 0
    const object = await Effect.runPromise(storage.complete({ target, holder: Bun.randomUUIDv7(), parts: [{ ...part, partNumber: 1 }] }))
    const shard = join(root, "files", session.fileId.slice(-2))
    // the new shard folder is named in files/, and the object is named in the shard
    expect(synced).toContain(join(root, "files"))
    expect(synced).toContain(shard)
    expect(object.key.startsWith(`files/${session.fileId.slice(-2)}/${session.fileId}.`)).toBe(true)
  })

  it("rejects keys that would escape its root", async () => {
    const exit = await Effect.runPromiseExit(storage.open("../etc/passwd"))
    expect(Exit.isFailure(exit)).toBe(true)
  })
})
