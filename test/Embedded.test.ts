/**
 * The embedded default database: as durable as the files when STORAGE_FSYNC is on, private to
 * the process that runs it, and never opened by two processes at once.
 */
import { SqlClient } from "@effect/sql"
import { BunContext } from "@effect/platform-bun"
import { afterAll, describe, expect, it, spyOn } from "bun:test"
import { Effect, Layer } from "effect"
import fs from "node:fs"
import { mkdtemp, rm, stat } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { embeddedLayer } from "../src/EmbeddedDatabase"

const directories: Array<string> = []
const freshDataDir = async () => {
  const directory = await mkdtemp(join(tmpdir(), "portal-embedded-"))
  directories.push(directory)
  return directory
}
afterAll(async () => {
  for (const directory of directories) await rm(directory, { recursive: true, force: true })
})

/** Opens the embedded database on `dataDir`, runs `effect`, closes it again. */
const withDatabase = <A>(dataDir: string, fsync: boolean, effect: Effect.Effect<A, unknown, SqlClient.SqlClient>) =>
  Effect.runPromise(
    effect.pipe(Effect.provide(embeddedLayer({ dataDir, fsync }).pipe(Layer.provide(BunContext.layer))), Effect.scoped)
  )

const settings = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  sql<{ fsync: string; wal_sync_method: string }>`
    SELECT current_setting('fsync') AS fsync, current_setting('wal_sync_method') AS wal_sync_method`)

const commitSome = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  Effect.gen(function*() {
    yield* sql`CREATE TABLE IF NOT EXISTS durable (n int)`
    for (let n = 0; n < 3; n++) yield* sql`INSERT INTO durable VALUES (${n})`
  }))

describe("the embedded database", () => {
  it("runs with fsync on when STORAGE_FSYNC is on, also on a data directory it made before", async () => {
    const dataDir = await freshDataDir()
    expect(await withDatabase(dataDir, true, settings)).toEqual([{ fsync: "on", wal_sync_method: "fsync" }])
    expect(await withDatabase(dataDir, true, settings)).toEqual([{ fsync: "on", wal_sync_method: "fsync" }])
    expect(await withDatabase(dataDir, false, settings)).toEqual([{ fsync: "off", wal_sync_method: "fdatasync" }])
  }, 60_000)

  it("makes its commits reach the disk: PostgreSQL's fsync calls become real fsyncs of the host files", async () => {
    const dataDir = await freshDataDir()
    await withDatabase(dataDir, true, Effect.void)
    const durable = spyOn(fs, "fsyncSync")
    try {
      await withDatabase(dataDir, true, commitSome)
      expect(durable.mock.calls.length).toBeGreaterThanOrEqual(3)
      durable.mockClear()
      await withDatabase(dataDir, false, commitSome)
      expect(durable.mock.calls.length).toBe(0)
    } finally {
      durable.mockRestore()
    }
  }, 60_000)

  it("keeps its data and its socket in directories no other user can enter", async () => {
    const dataDir = await freshDataDir()
    const seen = await withDatabase(dataDir, false, Effect.promise(async () => ({
      db: (await stat(join(dataDir, "db"))).mode & 0o777,
      run: (await stat(join(dataDir, "run"))).mode & 0o777,
      socket: (await stat(join(dataDir, "run", ".s.PGSQL.5432"))).isSocket()
    })))
    expect(seen).toEqual({ db: 0o700, run: 0o700, socket: true })
  }, 60_000)
})

describe("the lock on a data directory", () => {
  const holder = (dataDir: string, holdMillis: number) =>
    Bun.spawn([process.execPath, join(import.meta.dir, "support", "lock-holder.ts"), join(dataDir, "run"), String(holdMillis)], {
      stdout: "pipe",
      stderr: "ignore"
    })

  it("goes to exactly one of several processes that start at the same moment", async () => {
    const dataDir = await freshDataDir()
    const contenders = Array.from({ length: 4 }, () => holder(dataDir, 1500))
    const outcomes = await Promise.all(contenders.map(async (child) => (await new Response(child.stdout).text()).trim()))
    await Promise.all(contenders.map((child) => child.exited))
    expect(outcomes.filter((outcome) => outcome === "locked")).toHaveLength(1)
    expect(outcomes.filter((outcome) => outcome === "refused")).toHaveLength(3)
  })

  it("is free again the moment its holder is killed with SIGKILL", async () => {
    const dataDir = await freshDataDir()
    const first = holder(dataDir, 60_000)
    const reader = first.stdout.getReader()
    expect(new TextDecoder().decode((await reader.read()).value).trim()).toBe("locked")
    first.kill("SIGKILL")
    await first.exited
    const second = holder(dataDir, 10)
    expect((await new Response(second.stdout).text()).trim()).toBe("locked")
    expect(await second.exited).toBe(0)
  })
})
