import { afterAll, beforeAll, describe, expect, it } from "bun:test"
import { Effect, Either, Exit, Fiber, Option, Stream } from "effect"
import { mkdtemp, readdir, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { makeLocalStorage } from "../src/Storage/Local"
import { assembleAll, type StorageShape } from "../src/Storage/Storage"
import { bytes, sha256Hex } from "./support/TestApp"

let root: string
let storage: StorageShape
const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect)

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "portal-storage-"))
  storage = await run(makeLocalStorage({ root, fsync: true }))
})
afterAll(() => rm(root, { recursive: true, force: true }))

/** The data as a stream of small chunks, like a socket delivers it. */
const chunks = (data: Uint8Array, size = 7) =>
  Stream.fromIterable(Array.from({ length: Math.ceil(data.byteLength / size) }, (_, i) => data.subarray(i * size, (i + 1) * size)))

/** A request body: a web stream, as the HTTP layer hands it over. */
const body = <E>(stream: Stream.Stream<Uint8Array, E>) => Stream.toReadableStream(stream)
const chunked = (data: Uint8Array, size = 7) => body(chunks(data, size))

const filesUnder = async (sessionId: string) => readdir(join(root, "parts", sessionId)).catch(() => [] as Array<string>)

const readAll = async (blob: Blob) => new Uint8Array(await blob.arrayBuffer())

describe("local storage", () => {
  it("writes a part from a stream with the right size and SHA-256", async () => {
    const data = bytes(1000, 1)
    const part = await run(storage.writePart({ sessionId: "s1", partNumber: 3, body: chunked(data), maxBytes: 1000 }))
    expect(part.size).toBe(1000)
    expect(part.sha256).toBe(sha256Hex(data))
    expect(part.key.startsWith("parts/s1/3-")).toBe(true)
    expect(await readAll(await run(storage.read(part.key)))).toEqual(data)
    expect(await filesUnder("s1")).toHaveLength(1)
  })

  it("leaves nothing visible when the body fails mid-way", async () => {
    const failing = body(Stream.concat(chunks(bytes(100)), Stream.fail("connection reset")))
    const result = await run(Effect.either(storage.writePart({ sessionId: "s2", partNumber: 1, body: failing, maxBytes: 1000 })))
    expect(Either.isLeft(result) && result.left._tag).toBe("BodyUnreadable")
    expect(await filesUnder("s2")).toEqual([])
  })

  it("stops reading and leaves nothing when the body is longer than allowed", async () => {
    let pulled = 0
    const endless = body(Stream.repeatEffect(Effect.sync(() => {
      pulled += 1
      return new Uint8Array(64)
    })))
    const result = await run(Effect.either(storage.writePart({ sessionId: "s3", partNumber: 1, body: endless, maxBytes: 1000 })))
    expect(Either.isLeft(result) && result.left).toMatchObject({ _tag: "BodyTooLarge", limit: 1000 })
    expect(pulled).toBeLessThan(40)
    expect(await filesUnder("s3")).toEqual([])
  })

  it("leaves nothing when the write is interrupted", async () => {
    let pulls = 0
    let started: () => void = () => undefined
    const consumed = new Promise<void>((resolve) => {
      started = resolve
    })
    // 50 bytes, then a client that goes quiet: asked for more, it never answers
    const stalled = new ReadableStream<Uint8Array>({
      pull: (controller) => {
        if (pulls++ === 0) return controller.enqueue(bytes(50))
        started()
        return new Promise<void>(() => undefined)
      }
    })
    const exit = await run(Effect.gen(function*() {
      const fiber = yield* Effect.fork(storage.writePart({ sessionId: "s4", partNumber: 1, body: stalled, maxBytes: 1000 }))
      yield* Effect.promise(() => consumed)
      expect(yield* Effect.promise(() => filesUnder("s4"))).toHaveLength(1)
      return yield* Fiber.interrupt(fiber)
    }))
    expect(Exit.isInterrupted(exit)).toBe(true)
    expect(await filesUnder("s4")).toEqual([])
  })

  it("assembles parts written out of order into the right bytes and hash", async () => {
    const data = bytes(2500, 9)
    const slices = [0, 1, 2].map((i) => data.subarray(i * 1000, (i + 1) * 1000))
    const written = new Map<number, { key: string; size: number }>()
    for (const n of [3, 1, 2]) {
      const part = await run(storage.writePart({ sessionId: "s5", partNumber: n, body: chunked(slices[n - 1]!, 333), maxBytes: 1000 }))
      written.set(n, part)
    }
    const parts = [1, 2, 3].map((n) => written.get(n)!)
    const object = await run(assembleAll(storage, { fileId: "f5", sessionId: "s5", parts }))
    expect(object).toMatchObject({ backend: "local", bucket: Option.none(), size: 2500, sha256: sha256Hex(data) })
    expect(await readAll(await run(storage.read(object.key)))).toEqual(data)
    expect(await readAll(await run(storage.read(object.key, { offset: 1000, length: 10 })))).toEqual(data.subarray(1000, 1010))
    // assembling again (a repeated finalize) yields the same object
    const again = await run(assembleAll(storage, { fileId: "f5", sessionId: "s5", parts }))
    expect(again).toEqual(object)
  })

  it("refuses to assemble a part shorter than recorded", async () => {
    const part = await run(storage.writePart({ sessionId: "s6", partNumber: 1, body: chunked(bytes(10)), maxBytes: 10 }))
    const result = await run(Effect.either(assembleAll(storage, { fileId: "f6", sessionId: "s6", parts: [{ key: part.key, size: 11 }] })))
    expect(Either.isLeft(result) && result.left._tag).toBe("StorageError")
    expect(await readdir(join(root, "files", "f6".slice(-2))).catch(() => [])).toEqual([])
    expect((await filesUnder("s6")).filter((name) => name.endsWith(".tmp"))).toEqual([])
  })

  it("lists and deletes a session's parts, and fails to read what is gone", async () => {
    const part = await run(storage.writePart({ sessionId: "s7", partNumber: 1, body: chunked(bytes(10)), maxBytes: 10 }))
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
