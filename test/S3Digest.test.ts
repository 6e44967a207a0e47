/**
 * The whole-file digest of an S3 upload carried on as its parts pass (src/Storage/S3Digest.ts),
 * against a real Ceph RGW and PostgreSQL: parts in order and out of order, on two "instances"
 * sharing the database, parts that were not kept, and completion reading back only what the
 * digest has not seen (every GET of the object is counted).
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test"
import { BunContext } from "@effect/platform-bun"
import { Effect, Exit, Layer, ManagedRuntime, Option, Redacted, Scope, Stream } from "effect"
import { createHash } from "node:crypto"
import { migrate, postgresLayer } from "../src/Sql"
import { makeS3Storage } from "../src/Storage/S3"
import { makeS3Client, type S3Client } from "../src/Storage/S3Client"
import { makeS3Digests, type S3Digests } from "../src/Storage/S3Digest"
import type { ReceivedPart, StorageShape, UploadTarget } from "../src/Storage/Storage"
import { createTestDatabase, query, type TestDatabase } from "./support/Database"
import { rgw } from "./support/S3"
import { bytes } from "./support/TestApp"

let database: TestDatabase
const databaseLayer = (url: string) =>
  Layer.effectDiscard(migrate).pipe(
    Layer.provideMerge(postgresLayer(Redacted.make(url), 4)),
    Layer.provide(BunContext.layer),
    Layer.orDie
  )
let runtime: ManagedRuntime.ManagedRuntime<Layer.Layer.Success<ReturnType<typeof databaseLayer>>, never>
let client: S3Client
let settings: { readonly bucket: string; readonly prefix: string; readonly minPartSize: number }
/** Windows of every GET of an object, in order (undefined: the whole object). */
const reads: Array<{ readonly offset: number; readonly length: number } | undefined> = []
const scope = Effect.runSync(Scope.make())

const sha256 = (...pieces: ReadonlyArray<Uint8Array>) => {
  const hash = createHash("sha256")
  for (const piece of pieces) hash.update(piece)
  return hash.digest("hex")
}

beforeAll(async () => {
  database = await createTestDatabase()
  const env = await rgw()
  const prefix = `digest-${Bun.randomUUIDv7()}/`
  const s3 = {
    endpoint: Option.some(env.endpoint),
    region: env.region,
    bucket: env.bucket,
    accessKeyId: env.accessKeyId,
    secretAccessKey: Option.some(Redacted.make(env.secretAccessKey)),
    virtualHostedStyle: false,
    prefix,
    minPartSize: 1
  }
  const real = makeS3Client(s3)
  client = {
    ...real,
    getObject: (key, window) => Effect.zipRight(Effect.sync(() => reads.push(window)), real.getObject(key, window))
  }
  settings = s3
  runtime = ManagedRuntime.make(databaseLayer(database.url))
}, 120_000)

afterAll(async () => {
  await Effect.runPromise(Scope.close(scope, Exit.void))
  await runtime.dispose()
  await database.drop()
})

/** An "instance": the S3 storage with a digest chain of its own over the shared database. */
const instance = async (budget = 64 * 1024 * 1024): Promise<{ storage: StorageShape; digests: S3Digests }> => {
  const digests = await runtime.runPromise(Scope.extend(makeS3Digests({ budget }), scope))
  return { storage: makeS3Storage(client, settings, digests), digests }
}

const body = (data: Uint8Array) =>
  Stream.toReadableStream(Stream.fromIterable(Array.from({ length: Math.ceil(data.byteLength / 1000) }, (_, i) => data.subarray(i * 1000, (i + 1) * 1000))))

const run = <A, E>(effect: Effect.Effect<A, E>) => runtime.runPromise(effect)

const newUpload = async (storage: StorageShape): Promise<UploadTarget> => {
  const session = { sessionId: Bun.randomUUIDv7(), fileId: Bun.randomUUIDv7() }
  return { ...session, ref: await run(storage.createUpload(session)) }
}

/** Writes and records part n (what Parts does: write, record in the database, tell the store). */
const send = async (storage: StorageShape, target: UploadTarget, partNumber: number, data: Uint8Array): Promise<ReceivedPart> => {
  const written = await run(storage.writePart({ target, partNumber, claim: Bun.randomUUIDv7(), size: data.byteLength, body: body(data) }))
  const part = { ...written, partNumber }
  await run(storage.partRecorded(target, part))
  return part
}

const digested = async (ref: string) =>
  (await query<{ through_part: number }>(database.url, "SELECT through_part FROM upload_digests WHERE upload_ref = $1", [ref]))[0]?.through_part ?? 0

/** Polls the database until the digest stands at part `n` (it advances in the background). */
const until = async (ref: string, n: number) => {
  for (let i = 0; i < 200 && (await digested(ref)) !== n; i++) await Bun.sleep(25)
  expect(await digested(ref)).toBe(n)
}

const complete = async (storage: StorageShape, target: UploadTarget, parts: ReadonlyArray<ReceivedPart>) => {
  reads.length = 0
  return run(storage.complete({ target, holder: Bun.randomUUIDv7(), parts }))
}

describe("the digest of an S3 upload, carried on as its parts pass", () => {
  it("needs no read-back when the parts come in order", async () => {
    const { storage } = await instance()
    const target = await newUpload(storage)
    const data = [bytes(3000, 1), bytes(3000, 2), bytes(1234, 3)]
    const parts = []
    for (const [i, piece] of data.entries()) parts.push(await send(storage, target, i + 1, piece))
    await until(target.ref, 3)
    const stored = await complete(storage, target, parts)
    expect(stored.sha256).toBe(sha256(...data))
    expect(stored.size).toBe(7234)
    expect(reads).toEqual([])
    // the saved digest goes with the upload
    expect(await digested(target.ref)).toBe(0)
  })

  it("keeps a part that came early until its predecessor is digested", async () => {
    const { digests, storage } = await instance()
    const target = await newUpload(storage)
    const data = [bytes(2000, 4), bytes(2000, 5), bytes(2000, 6), bytes(99, 7)]
    const three = await send(storage, target, 3, data[2]!)
    const four = await send(storage, target, 4, data[3]!)
    const one = await send(storage, target, 1, data[0]!)
    await until(target.ref, 1)
    expect(digests.keptBytes()).toBe(2099)
    const two = await send(storage, target, 2, data[1]!)
    await until(target.ref, 4)
    expect(digests.keptBytes()).toBe(0)
    const stored = await complete(storage, target, [one, two, three, four])
    expect(stored.sha256).toBe(sha256(...data))
    expect(reads).toEqual([])
  })

  it("is carried on by whichever instance holds the next part", async () => {
    const a = await instance()
    const b = await instance()
    const target = await newUpload(a.storage)
    const data = [bytes(1500, 8), bytes(1500, 9), bytes(1500, 10), bytes(10, 11)]
    // part 2 reaches b before a has part 1: b waits, and looks at the database again
    const two = await send(b.storage, target, 2, data[1]!)
    const four = await send(b.storage, target, 4, data[3]!)
    const one = await send(a.storage, target, 1, data[0]!)
    const three = await send(a.storage, target, 3, data[2]!)
    await until(target.ref, 4)
    const stored = await complete(b.storage, target, [one, two, three, four])
    expect(stored.sha256).toBe(sha256(...data))
    expect(reads).toEqual([])
  })

  it("reads back only the bytes after the parts it digested", async () => {
    // room for a part of 2000 bytes at a time: the third, larger, is not kept
    const { storage } = await instance(2000)
    const target = await newUpload(storage)
    const data = [bytes(2000, 12), bytes(2000, 13), bytes(2500, 14)]
    const one = await send(storage, target, 1, data[0]!)
    await until(target.ref, 1)
    const two = await send(storage, target, 2, data[1]!)
    await until(target.ref, 2)
    const three = await send(storage, target, 3, data[2]!)
    const stored = await complete(storage, target, [one, two, three])
    expect(stored.sha256).toBe(sha256(...data))
    expect(reads).toEqual([{ offset: 4000, length: 2500 }])
  })

  it("reads the whole object back when nothing was kept", async () => {
    const { storage } = await instance(0)
    const target = await newUpload(storage)
    const data = [bytes(500, 15), bytes(700, 16)]
    const parts = [await send(storage, target, 1, data[0]!), await send(storage, target, 2, data[1]!)]
    const stored = await complete(storage, target, parts)
    expect(stored.sha256).toBe(sha256(...data))
    expect(reads).toEqual([undefined])
  })

  it("uses a saved digest only for the very parts it was made of", async () => {
    const { digests, storage } = await instance()
    const target = await newUpload(storage)
    const one = await send(storage, target, 1, bytes(800, 17))
    const two = await send(storage, target, 2, bytes(800, 18))
    await until(target.ref, 2)
    const start = await run(digests.startFor(target, [one, two]))
    expect(Option.map(start, (s) => s.offset)).toEqual(Option.some(1600))
    // another ETag for part 1 (it was sent again with other bytes): the state says nothing of those
    const other = await run(digests.startFor(target, [{ ...one, locator: '"0123456789abcdef0123456789abcdef"' }, two]))
    expect(Option.map(other, (s) => s.offset)).toEqual(Option.some(0))
  })
})
