/**
 * The real service for a test file: real PostgreSQL (a database of its own), real files in
 * a temporary DATA_DIR, the real HTTP stack on a random loopback port. With `testClock`,
 * every Clock read in the service comes from TestClock, which the test moves explicitly.
 */
import { HttpServer } from "@effect/platform"
import { BunContext } from "@effect/platform-bun"
import {
  ConfigProvider,
  Duration,
  Effect,
  Layer,
  ManagedRuntime,
  Redacted,
  TestClock,
  TestContext
} from "effect"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Users } from "../../src/Auth/Users"
import { PortalConfig } from "../../src/Config"
import type { User } from "../../src/Domain/User"
import { BunServerLive, HttpAppLive } from "../../src/Http"
import { BackgroundLive, DomainLive, StorageLive } from "../../src/Layers"
import { DatabaseLive } from "../../src/Sql"
import { Storage, type StorageShape } from "../../src/Storage/Storage"
import { LoggerLive } from "../../src/Logging"
import { createTestDatabase, query, type TestDatabase } from "./Database"
import { s3Settings } from "./S3"

export interface TestAppOptions {
  /** Settings on top of the test defaults (small chunk bounds so tests move few bytes). */
  readonly env?: Record<string, string>
  readonly testClock?: boolean
  /** Observe the real storage, e.g. count calls; the wrapper must delegate to it. */
  readonly wrapStorage?: (storage: StorageShape) => StorageShape
  /** Run as a second instance over another app's database and DATA_DIR. */
  readonly shareWith?: { readonly database: TestDatabase; readonly dataDir: string }
  /** Also run what every instance runs in the background (the sweeper). */
  readonly background?: boolean
  /** The storage backend: local files (default), or S3 on the tests' Ceph RGW under a fresh prefix. */
  readonly storage?: "local" | "s3"
}

export const TEST_DEFAULTS: Record<string, string> = {
  PORT: "0",
  HOST: "127.0.0.1",
  UPLOAD_CHUNK_SIZE_MIN: "4",
  UPLOAD_CHUNK_SIZE_DEFAULT: "16",
  UPLOAD_CHUNK_SIZE_MAX: String(8 * 1024 * 1024),
  LOG_LEVEL: process.env["TEST_LOG_LEVEL"] ?? "error"
}

type RequestBody = NonNullable<RequestInit["body"]>

export interface Reply {
  readonly status: number
  readonly headers: Headers
  readonly body: any
}

export const startTestApp = async (options: TestAppOptions = {}) => {
  const shared = options.shareWith
  const database = shared?.database ?? await createTestDatabase()
  const dataDir = shared?.dataDir ?? await mkdtemp(join(tmpdir(), "portal-test-"))
  const wrap = options.wrapStorage
  const storage = wrap === undefined
    ? StorageLive
    : Layer.effect(Storage, Effect.map(Storage, wrap)).pipe(Layer.provide(StorageLive))
  const s3 = options.storage === "s3" ? await s3Settings() : {}
  const env = { ...TEST_DEFAULTS, DATABASE_URL: database.url, DATA_DIR: dataDir, ...s3, ...options.env }
  const clock = options.testClock === true
    ? Layer.effectDiscard(TestClock.setTime(Date.now())).pipe(Layer.provideMerge(TestContext.TestContext))
    : Layer.empty
  const layer = Layer.mergeAll(HttpAppLive, options.background === true ? BackgroundLive : Layer.empty).pipe(
    Layer.provideMerge(BunServerLive),
    Layer.provideMerge(DomainLive),
    Layer.provideMerge(storage),
    Layer.provideMerge(DatabaseLive),
    Layer.provideMerge(PortalConfig.layer),
    Layer.provide(LoggerLive),
    Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))),
    Layer.provideMerge(BunContext.layer),
    Layer.provideMerge(clock)
  )
  const runtime = ManagedRuntime.make(layer)
  const server = await runtime.runPromise(HttpServer.HttpServer)
  const port = server.address._tag === "TcpAddress" ? server.address.port : 0
  return makeHandle({ runtime, database, dataDir, env, owner: shared === undefined, baseUrl: `http://127.0.0.1:${port}` })
}

const makeHandle = (app: {
  readonly runtime: ManagedRuntime.ManagedRuntime<any, any>
  readonly database: TestDatabase
  readonly dataDir: string
  /** The settings it runs with (another instance can take them over). */
  readonly env: Record<string, string>
  /** Whether closing this app drops the database and DATA_DIR (not when shared). */
  readonly owner: boolean
  readonly baseUrl: string
}) => {
  const run = <A, E>(effect: Effect.Effect<A, E, any>): Promise<A> => app.runtime.runPromise(effect)
  let users = 0

  const request = async (
    method: string,
    path: string,
    options: {
      readonly token?: string
      readonly json?: unknown
      readonly body?: RequestBody
      readonly headers?: Record<string, string>
    } = {}
  ): Promise<Reply> => {
    const headers: Record<string, string> = { ...options.headers }
    if (options.token !== undefined) headers["authorization"] = `Bearer ${options.token}`
    let body = options.body
    if (options.json !== undefined) {
      headers["content-type"] = "application/json"
      body = JSON.stringify(options.json)
    }
    const response = await fetch(`${app.baseUrl}${path}`, { method, headers, ...(body === undefined ? {} : { body }) })
    const text = await response.text()
    let parsed: unknown = text
    try {
      parsed = text === "" ? undefined : JSON.parse(text)
    } catch {
      // not JSON: keep the text
    }
    return { status: response.status, headers: response.headers, body: parsed }
  }

  return {
    ...app,
    run,
    request,
    /** A user with a fresh token; names are unique within the app. */
    createUser: async (options: { readonly admin?: boolean; readonly quota?: number; readonly name?: string } = {}) =>
      run(Effect.gen(function*() {
        const service = yield* Users
        const user: User = yield* service.create({
          name: options.name ?? `user${++users}-${Bun.randomUUIDv7().slice(-6)}`,
          isAdmin: options.admin ?? false,
          quotaBytes: options.quota
        })
        const { secret } = yield* service.issueToken(user)
        return { user, token: Redacted.value(secret) }
      })),
    createSession: (token: string, fields: Record<string, unknown>, headers: Record<string, string> = {}) =>
      request("POST", "/uploads/sessions", {
        token,
        headers,
        json: { filename: "file.bin", content_type: "application/octet-stream", ...fields }
      }),
    putPart: (
      token: string,
      sessionId: string,
      partNumber: number | string,
      bytes: RequestBody,
      headers: Record<string, string> = {}
    ) => request("PUT", `/uploads/sessions/${sessionId}/parts/${partNumber}`, { token, body: bytes, headers }),
    complete: (token: string, sessionId: string, json?: unknown) =>
      request("POST", `/uploads/sessions/${sessionId}/complete`, json === undefined ? { token } : { token, json }),
    getSession: (token: string, sessionId: string) => request("GET", `/uploads/sessions/${sessionId}`, { token }),
    /** Moves the service's clock (only with `testClock: true`). */
    advance: (duration: Duration.DurationInput) => run(TestClock.adjust(duration)),
    /** Moves the clock by `total` in steps of `step`, each once the service is parked on the clock. */
    advanceWhileParked: async (total: Duration.DurationInput, step: Duration.DurationInput) => {
      const steps = Math.ceil(Duration.toMillis(total) / Duration.toMillis(step))
      for (let done = 0, i = 0; done < steps && i < steps * 5000; i++) {
        if ((await run(TestClock.sleeps())).length > 0) {
          await run(TestClock.adjust(step))
          done++
        } else {
          await Bun.sleep(2)
        }
      }
    },
    /**
     * Starts a request and settles it by moving the clock `step` at a time whenever some
     * fiber of the service is parked on the clock (one woken mid-adjustment may park again).
     */
    advanceUntilSettled: async <A>(start: () => Promise<A>, step: Duration.DurationInput, maxSteps = 200): Promise<A> => {
      const pending = start()
      let settled = false
      void pending.finally(() => {
        settled = true
      })
      for (let i = 0; i < maxSteps * 50 && !settled; i++) {
        if ((await run(TestClock.sleeps())).length > 0) await run(TestClock.adjust(step))
        // real time passes only for the service's I/O (database, files) to progress
        else await Bun.sleep(2)
      }
      return pending
    },
    sql: <Row extends Record<string, unknown> = Record<string, any>>(text: string, values?: ReadonlyArray<unknown>) =>
      query<Row>(app.database.url, text, values),
    close: async () => {
      await app.runtime.dispose()
      if (!app.owner) return
      await app.database.drop()
      await rm(app.dataDir, { recursive: true, force: true })
    }
  }
}

export type TestApp = Awaited<ReturnType<typeof startTestApp>>

/** Deterministic pseudo-random bytes, so a test can rebuild exactly what it uploaded. */
export const bytes = (length: number, seed = 1): Uint8Array<ArrayBuffer> => {
  const out = new Uint8Array(length)
  let state = seed >>> 0 || 1
  for (let i = 0; i < length; i++) {
    state ^= state << 13
    state ^= state >>> 17
    state ^= state << 5
    out[i] = state & 0xff
  }
  return out
}

export const sha256Hex = (data: Uint8Array | string): string =>
  new Bun.CryptoHasher("sha256").update(data).digest("hex")


/**
 * The bytes a local final object holds, read straight from DATA_DIR: a directory of linked
 * parts (1, 2, … in manifest order), or a plain file (objects stored before that).
 */
export const localObjectBytes = async (dataDir: string, key: string): Promise<Uint8Array> => {
  const path = join(dataDir, "storage", key)
  const manifest = Bun.file(join(path, "manifest.json"))
  if (!(await manifest.exists())) return Bun.file(path).bytes()
  const { sizes }: { sizes: Array<number> } = await manifest.json()
  const parts = await Promise.all(sizes.map((_, i) => Bun.file(join(path, String(i + 1))).bytes()))
  return new Uint8Array(Buffer.concat(parts))
}
