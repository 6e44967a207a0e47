import { afterAll, beforeAll, describe, expect, it } from "bun:test"
import { Effect, Either, Exit, Fiber, Option, Stream } from "effect"
import { mkdtemp, readdir, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { makeLocalStorage } from "../src/Storage/Local"
import { assembleAll, type StorageShape, type StoredPart } from "../src/Storage/Storage"
import { bytes, sha256Hex } from "./support/TestApp"

let root: string
let storage: StorageShape
const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect)

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "portal-storage-"))
  storage = await run(makeLocalStorage({ root, fsync: true }))
})
afterAll(() => rm(root, { recursive: true, force: true }))

/** The data as a request body: a web stream of small chunks, like a socket delivers it. */
const chunked = (data: Uint8Array, size = 7) =>
  Stream.toReadableStream(
    Stream.fromIterable(Array.from({ length: Math.ceil(data.byteLength / size) }, (_, i) => data.subarray(i * size, (i + 1) * size)))
  )

const write = (sessionId: string, partNumber: number, offset: number, body: ReadableStream<Uint8Array>, maxBytes: number) =>
  storage.writePart({ sessionId, partNumber, offset, body, maxBytes })

const readAll = async (blob: Blob) => new Uint8Array(await blob.arrayBuffer())

const objects = async () => {
  const shards = await readdir(join(root, "files")).catch(() => [] as Array<string>)
  const names = await Promise.all(shards.map((shard) => readdir(join(root, "files", shard))))
  return names.flat()
}

describe("local storage", () => {
  it("writes a part from a stream at its place, with the right size and SHA-256", async () => {
    const data = bytes(1000, 1)
    const part = await run(write("s1", 2, 1000, chunked(data), 1000))
    expect(part).toEqual({ key: "parts/s1/data", offset: 1000, size: 1000, sha256: sha256Hex(data) })
    expect(await readAll(await run(storage.read(part.key, { offset: 1000, length: 1000 })))).toEqual(data)
  })

  it("stops reading and fails as soon as the body is longer than the part", async () => {
    let pulled = 0
    const endless = new ReadableStream<Uint8Array>({
      pull: (controller) => {
        pulled += 1
        controller.enqueue(new Uint8Array(64))
      }
    })
    const result = await run(Effect.either(write("s3", 1, 0, endless, 1000)))
    expect(Either.isLeft(result) && result.left).toMatchObject({ _tag: "BodyTooLarge", limit: 1000 })
    expect(pulled).toBeLessThan(40)
  })

  it("reports a body that breaks off as unreadable", async () => {
    const failing = Stream.toReadableStream(Stream.concat(Stream.make(bytes(100)), Stream.fail("connection reset")))
    const result = await run(Effect.either(write("s2", 1, 0, failing, 1000)))
    expect(Either.isLeft(result) && result.left._tag).toBe("BodyUnreadable")
  })

  it("stops writing when interrupted", async () => {
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
      const fiber = yield* Effect.fork(write("s4", 1, 0, stalled, 1000))
      yield* Effect.promise(() => started)
      return yield* Fiber.interrupt(fiber)
    }))
    expect(Exit.isInterrupted(exit)).toBe(true)
  })

  it("assembles parts written out of order into the right bytes and hash, and never what a failed write left", async () => {
    const data = bytes(2500, 9)
    const slice = (n: number) => data.subarray((n - 1) * 1000, n * 1000)
    // a first attempt at part 2 breaks off half-way: its bytes are at the place, but not a part
    const broken = Stream.toReadableStream(Stream.concat(Stream.make(bytes(500, 77)), Stream.fail("reset")))
    expect(Either.isLeft(await run(Effect.either(write("s5", 2, 1000, broken, 1000))))).toBe(true)
    const written = new Map<number, StoredPart>()
    for (const n of [3, 1, 2]) written.set(n, await run(write("s5", n, (n - 1) * 1000, chunked(slice(n), 333), 1000)))
    const parts = [1, 2, 3].map((n) => written.get(n)!)
    expect(await objects()).not.toContain("f5")

    const object = await run(assembleAll(storage, { fileId: "f5", sessionId: "s5", parts }))
    expect(object).toMatchObject({ backend: "local", bucket: Option.none(), key: "files/f5/f5", size: 2500, sha256: sha256Hex(data) })
    expect(await readAll(await run(storage.read(object.key)))).toEqual(data)
    expect(await readAll(await run(storage.read(object.key, { offset: 1000, length: 10 })))).toEqual(data.subarray(1000, 1010))
    // finishing again (a repeated complete after a crash) yields the same object
    expect(await run(assembleAll(storage, { fileId: "f5", sessionId: "s5", parts }))).toEqual(object)
    // the object outlives the session's staging
    await run(storage.deleteSessionParts("s5"))
    expect(await readAll(await run(storage.read(object.key)))).toEqual(data)
  })

  it("refuses to assemble parts that are missing or out of order", async () => {
    const first = await run(write("s6", 1, 0, chunked(bytes(10)), 10))
    const third = await run(write("s6", 3, 20, chunked(bytes(10)), 10))
    const gap = await run(Effect.either(assembleAll(storage, { fileId: "f6", sessionId: "s6", parts: [first, third] })))
    expect(Either.isLeft(gap) && gap.left._tag).toBe("StorageError")
    const short = await run(Effect.either(assembleAll(storage, { fileId: "f6", sessionId: "s6", parts: [first] })))
    expect(Either.isLeft(short) && short.left._tag).toBe("StorageError")
    expect(await objects()).not.toContain("f6")
  })

  it("lists and deletes a session's staging, and fails to read what is gone", async () => {
    const part = await run(write("s7", 1, 0, chunked(bytes(10)), 10))
    expect(await run(storage.listSessionsWithParts)).toContain("s7")
    await run(storage.deleteSessionParts("s7"))
    expect(await run(storage.listSessionsWithParts)).not.toContain("s7")
    const missing = await run(Effect.either(storage.read(part.key)))
    expect(Either.isLeft(missing) && missing.left._tag).toBe("StorageError")
    await run(storage.check)
  })

  it("rejects keys that would escape its root", async () => {
    const exit = await Effect.runPromiseExit(storage.read("../etc/passwd"))
    expect(Exit.isFailure(exit)).toBe(true)
  })
})
