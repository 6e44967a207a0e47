/**
 * The schema's invariants, enforced by the database itself, and the repositories over it —
 * on a real PostgreSQL server and on the embedded PGlite, which share one set of migrations.
 */
import { SqlClient } from "@effect/sql"
import { SqlError } from "@effect/sql/SqlError"
import { BunContext } from "@effect/platform-bun"
import { afterAll, beforeAll, describe, expect, it } from "bun:test"
import { DateTime, Duration, Effect, Either, Layer, ManagedRuntime, Option, Redacted, Schema } from "effect"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { UserNameTaken, UsersRepo } from "../src/Auth/UsersRepo"
import { BatchesRepo } from "../src/Batches/BatchesRepo"
import { UploadBatch } from "../src/Domain/Batch"
import { IngestFile } from "../src/Domain/File"
import { BatchId, FileId, newId, PartId, SessionId, UserId } from "../src/Domain/Ids"
import { UploadPart } from "../src/Domain/Session"
import { User } from "../src/Domain/User"
import { Files } from "../src/Files/Files"
import { FilesRepo } from "../src/Files/FilesRepo"
import { Outbox } from "../src/Outbox/Outbox"
import { PartsRepo } from "../src/Parts/PartsRepo"
import { SessionLifecycle } from "../src/Sessions/Lifecycle"
import { SessionsRepo } from "../src/Sessions/SessionsRepo"
import { embeddedLayer } from "../src/EmbeddedDatabase"
import { migrate, MigrationsLive, postgresLayer, sqlState } from "../src/Sql"
import { makeLocalStorage } from "../src/Storage/Local"
import { makeRegionHasher } from "../src/Storage/RegionHasher"
import { Storage } from "../src/Storage/Storage"
import { createTestDatabase, type TestDatabase } from "./support/Database"

const storageRoot = await mkdtemp(join(tmpdir(), "portal-sql-storage-"))

const Repos = Layer.mergeAll(
  UsersRepo.Default,
  FilesRepo.Default,
  Files.Default,
  SessionsRepo.Default,
  PartsRepo.Default,
  BatchesRepo.Default,
  Outbox.Default,
  SessionLifecycle.Default
).pipe(Layer.provideMerge(Layer.scoped(Storage, makeLocalStorage({ root: storageRoot, fsync: false }, makeRegionHasher()))))

const now = () => DateTime.unsafeNow()
const hex = (c: string) => c.repeat(64)

/** The SQLSTATE an effect fails with, or "ok". */
const outcome = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.either(effect).pipe(
    Effect.map(Either.match({
      onRight: () => "ok",
      onLeft: (error) => (error instanceof SqlError ? sqlState(error) ?? error.message : String(error))
    }))
  )

const makeUser = Effect.gen(function*() {
  const users = yield* UsersRepo
  return yield* users.insertUser(
    new User({ id: yield* newId(UserId), name: `u-${Bun.randomUUIDv7()}`, is_admin: false, quota_bytes: 1000, created_at: now() })
  )
})

const makeFile = (owner: User, batchId: Option.Option<BatchId> = Option.none()) =>
  Effect.gen(function*() {
    const files = yield* FilesRepo
    return yield* files.insert(
      new IngestFile({
        id: yield* newId(FileId),
        status: "UPLOADING",
        original_filename: "a.bin",
        content_type: "application/octet-stream",
        size_bytes: Option.none(),
        sha256: Option.none(),
        storage_backend: Option.none(),
        storage_bucket: Option.none(),
        storage_key: Option.none(),
        uploaded_by: owner.id,
        batch_id: batchId,
        metadata: { source: "test" },
        created_at: now(),
        updated_at: now(),
        stored_at: Option.none()
      })
    )
  })

const makeSession = (owner: User, file: IngestFile, total = 30, chunk = 10) =>
  Effect.gen(function*() {
    const sessions = yield* SessionsRepo
    return yield* sessions.insert({
      id: yield* newId(SessionId),
      file_id: file.id,
      status: "INIT",
      total_size_bytes: total,
      chunk_size_bytes: chunk,
      total_parts: Math.ceil(total / chunk),
      received_parts_count: 0,
      received_bytes: 0,
      idempotency_key: Option.none(),
      expected_sha256: Option.none(),
      failure_reason: Option.none(),
      expires_at: DateTime.addDuration(now(), "1 hour"),
      created_by: owner.id,
      created_at: now(),
      updated_at: now(),
      request_fingerprint: null
    })
  })

const makePart = (sessionId: SessionId, partNumber: number, sha = hex("a")) =>
  Effect.map(newId(PartId), (id) =>
    new UploadPart({
      id,
      session_id: sessionId,
      part_number: partNumber,
      status: "RECEIVED",
      temp_key: `parts/${sessionId}/data`,
      byte_offset: (partNumber - 1) * 10,
      size_bytes: 10,
      sha256: sha,
      created_at: now()
    }))

/** Claims a part and records it received, as an upload does. */
const receivePart = (sessionId: SessionId, partNumber: number, sha = hex("a")) =>
  Effect.gen(function*() {
    const parts = yield* PartsRepo
    const token = Bun.randomUUIDv7()
    const claimed = yield* parts.claim({
      id: yield* newId(PartId),
      sessionId,
      partNumber,
      offset: (partNumber - 1) * 10,
      token,
      now: now(),
      lease: Duration.seconds(60)
    })
    const received = yield* parts.receive({
      sessionId,
      partNumber,
      token,
      key: `parts/${sessionId}/data`,
      size: 10,
      sha256: sha,
      now: now(),
      expiresAt: DateTime.addDuration(now(), "1 hour")
    })
    return { claimed: Option.isSome(claimed), received }
  })

const databases: Array<{
  readonly name: string
  readonly open: () => Promise<{ layer: Layer.Layer<SqlClient.SqlClient, unknown>; close: () => Promise<void> }>
}> = [
  {
    name: "PostgreSQL",
    open: async () => {
      const database: TestDatabase = await createTestDatabase()
      return { layer: postgresLayer(Redacted.make(database.url), 5), close: database.drop }
    }
  },
  {
    name: "PGlite (embedded)",
    open: async () => {
      const directory = await mkdtemp(join(tmpdir(), "portal-pglite-"))
      return {
        layer: embeddedLayer({ dataDir: directory, fsync: false }).pipe(Layer.provide(BunContext.layer)),
        close: () => rm(directory, { recursive: true, force: true })
      }
    }
  }
]

describe.each(databases)("on $name", ({ open }) => {
  let runtime: ManagedRuntime.ManagedRuntime<any, unknown>
  let close: () => Promise<void>
  const run = <A, E>(effect: Effect.Effect<A, E, any>) => runtime.runPromise(effect)

  beforeAll(async () => {
    const database = await open()
    close = database.close
    runtime = ManagedRuntime.make(
      Repos.pipe(Layer.provideMerge(MigrationsLive), Layer.provideMerge(database.layer), Layer.provideMerge(BunContext.layer))
    )
    await runtime.runPromise(Effect.void)
  }, 60_000)
  afterAll(async () => {
    await runtime.dispose()
    await close()
  })

  it("has applied the migrations, and applying them again does nothing", async () => {
    expect(await run(migrate.pipe(Effect.provide(BunContext.layer)))).toEqual([])
    const tables = await run(Effect.flatMap(SqlClient.SqlClient, (sql) =>
      sql<{ table_name: string }>`SELECT table_name FROM information_schema.tables
                                   WHERE table_schema = 'public' ORDER BY table_name`))
    expect(tables.map((t) => t.table_name)).toEqual([
      "api_tokens", "batches", "files", "outbox_events", "portal_migrations", "tus_uploads", "upload_digests", "upload_fragments", "upload_parts",
      "upload_sessions", "users"
    ])
  })

  it("rejects a second part with the same (session, part_number)", async () => {
    const result = await run(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const owner = yield* makeUser
      const session = yield* makeSession(owner, yield* makeFile(owner))
      const first = yield* makePart(session.id, 1)
      const second = yield* makePart(session.id, 1, hex("b"))
      yield* sql`INSERT INTO upload_parts ${sql.insert(Schema.encodeSync(UploadPart)(first))}`
      const raw = yield* outcome(sql`INSERT INTO upload_parts ${sql.insert(Schema.encodeSync(UploadPart)(second))}`)
      // a received part can never be claimed (and so never rewritten) again
      const claimAgain = yield* receivePart(session.id, 1, hex("b"))
      return { raw, claimAgain }
    }))
    expect(result.raw).toBe("23505")
    expect(result.claimAgain.claimed).toBe(false)
    expect(Option.isNone(result.claimAgain.received)).toBe(true)
  })

  it("refuses to mark a file STORED without sha256, size and storage pointer (database and repository)", async () => {
    const result = await run(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const files = yield* Files
      const file = yield* makeFile(yield* makeUser)
      const bare = yield* outcome(sql`UPDATE files SET status = 'STORED', stored_at = now() WHERE id = ${file.id}`)
      const noKey = yield* outcome(sql`UPDATE files SET status = 'STORED', stored_at = now(), sha256 = ${hex("c")},
                                        size_bytes = 10, storage_backend = 'local' WHERE id = ${file.id}`)
      const guarded = yield* Effect.either(
        files.markStored(file.id, { backend: "local", bucket: Option.none(), key: "", size: 10, sha256: "" }, now())
      )
      const after = yield* (yield* FilesRepo).findById(file.id)
      return { bare, noKey, guarded: Either.isLeft(guarded), status: Option.map(after, (f) => f.status) }
    }))
    expect(result.bare).toBe("23514")
    expect(result.noKey).toBe("23514")
    expect(result.guarded).toBe(true)
    expect(result.status).toEqual(Option.some("UPLOADING"))
  })

  it("refuses an outbox event for a file that is not STORED (service guard and database trigger)", async () => {
    const result = await run(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const outbox = yield* Outbox
      const file = yield* makeFile(yield* makeUser)
      const session = yield* makeSession(yield* makeUser, yield* makeFile(yield* makeUser))
      const guard = yield* Effect.either(outbox.fileStored(file, session.id))
      const trigger = yield* outcome(sql`
        INSERT INTO outbox_events (id, event_type, event_id, idempotency_key, payload, next_attempt_at, file_id, occurred_at, created_at)
        VALUES (${Bun.randomUUIDv7()}, 'file.stored', ${Bun.randomUUIDv7()}, ${file.id}, '{}', now(), ${file.id}, now(), now())`)
      const rows = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM outbox_events WHERE file_id = ${file.id}`
      return { guard: Either.isLeft(guard) ? guard.left._tag : "ok", trigger, rows: rows[0]?.n }
    }))
    expect(result.guard).toBe("OutboxGuardViolation")
    expect(result.trigger).toBe("23514")
    expect(result.rows).toBe(0)
  })

  it("keeps batch counters within total_files and COMPLETED in step with them", async () => {
    const result = await run(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const owner = yield* makeUser
      const id = yield* newId(BatchId)
      yield* sql`INSERT INTO batches (id, total_files, created_by, created_at, updated_at)
                 VALUES (${id}, 1, ${owner.id}, now(), now())`
      const overfull = yield* outcome(sql`UPDATE batches SET file_count = 2 WHERE id = ${id}`)
      const uncounted = yield* outcome(sql`UPDATE batches SET stored_count = 1 WHERE id = ${id}`)
      const notCompleted = yield* outcome(sql`UPDATE batches SET file_count = 1, stored_count = 1 WHERE id = ${id}`)
      return { overfull, uncounted, notCompleted }
    }))
    expect(result).toEqual({ overfull: "23514", uncounted: "23514", notCompleted: "23514" })
  })

  it("reports a taken user name as a typed outcome", async () => {
    const result = await run(Effect.gen(function*() {
      const users = yield* UsersRepo
      const first = yield* makeUser
      return yield* Effect.either(users.insertUser(new User({ ...first, id: yield* newId(UserId) })))
    }))
    expect(Either.isLeft(result) && result.left instanceof UserNameTaken).toBe(true)
  })

  it("runs the whole model: batch → file → session → parts → stored, with relations and events", async () => {
    const result = await run(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const batches = yield* BatchesRepo
      const sessions = yield* SessionsRepo
      const partsRepo = yield* PartsRepo
      const lifecycle = yield* SessionLifecycle
      const owner = yield* makeUser
      const batch = yield* batches.insert(
        new UploadBatch({
          id: yield* newId(BatchId),
          status: "OPEN",
          name: Option.some("nightly"),
          metadata: {},
          total_files: 1,
          file_count: 0,
          stored_count: 0,
          failed_count: 0,
          created_by: owner.id,
          created_at: now(),
          updated_at: now(),
          completed_at: Option.none()
        })
      )
      yield* batches.attachFile({ id: batch.id, now: now() })
      const file = yield* makeFile(owner, Option.some(batch.id))
      const session = yield* makeSession(owner, file)
      for (const n of [3, 1, 2]) yield* receivePart(session.id, n)
      const holder = Bun.randomUUIDv7()
      // only the holder of the finalize lease can store the file
      yield* sessions.claimFinalize({ id: session.id, holder, lease: Duration.seconds(60) })
      const object = { backend: "local" as const, bucket: Option.none(), key: `files/${file.id}`, size: 30, sha256: hex("d") }
      const stranger = yield* sql.withTransaction(
        lifecycle.store({ sessionId: session.id, fileId: file.id, holder: Bun.randomUUIDv7(), object, now: now() })
      )
      const stored = yield* sql.withTransaction(
        lifecycle.store({ sessionId: session.id, fileId: file.id, holder, object, now: now() })
      )
      const again = yield* sql.withTransaction(
        lifecycle.store({ sessionId: session.id, fileId: file.id, holder, object, now: now() })
      )
      const parts = yield* partsRepo.receivedInOrder(session.id)
      const events = yield* sql<{ event_type: string; file_id: string | null; batch_id: string | null }>`
        SELECT event_type, file_id, batch_id FROM outbox_events
         WHERE file_id = ${file.id} OR batch_id = ${batch.id} ORDER BY event_type`
      return {
        stored: Option.map(stored, (done) => ({
          file: [done.file.status, Option.getOrNull(done.file.batch_id), Option.getOrNull(done.file.size_bytes), Option.getOrNull(done.file.sha256)],
          session: [done.session.status, done.session.file_id === file.id, done.session.received_parts_count]
        })),
        batchId: batch.id,
        stranger: Option.isNone(stranger),
        again: Option.isNone(again),
        parts: parts.map((p) => p.partNumber),
        batch: Option.map(yield* batches.findById(batch.id), (b) => [b.status, b.file_count, b.stored_count, b.failed_count]),
        events
      }
    }))
    expect(Option.getOrNull(result.stored)).toEqual({
      file: ["STORED", result.batchId, 30, hex("d")],
      session: ["COMPLETE", true, 3]
    })
    expect(result.stranger).toBe(true)
    expect(result.again).toBe(true)
    expect(result.parts).toEqual([1, 2, 3])
    expect(result.batch).toEqual(Option.some(["COMPLETED", 1, 1, 0]))
    expect(result.events.map((e) => e.event_type)).toEqual(["batch.completed", "file.stored"])
  })
})
