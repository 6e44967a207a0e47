/**
 * What is particular to the S3 backend, on the tests' Ceph RGW: S3's part-size rule, start-up
 * checks of the bucket and credentials, health when the store is down, and multipart uploads
 * and objects given up and collected (ours only).
 */
import { afterAll, afterEach, describe, expect, it } from "bun:test"
import { Effect, Option, Redacted } from "effect"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { makeS3Client } from "../src/Storage/S3Client"
import { rgw, s3Settings } from "./support/S3"
import { bytes, sha256Hex, startTestApp, type TestApp } from "./support/TestApp"

const MiB = 1024 * 1024
const root = join(import.meta.dir, "..")
const apps: Array<TestApp> = []
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close()
})

const clientFor = async (prefix: string) => {
  const env = await rgw()
  return makeS3Client({
    endpoint: Option.some(env.endpoint),
    region: env.region,
    bucket: env.bucket,
    accessKeyId: env.accessKeyId,
    secretAccessKey: Option.some(Redacted.make(env.secretAccessKey)),
    virtualHostedStyle: false,
    prefix,
    minPartSize: 1
  })
}

const app = async (options: Parameters<typeof startTestApp>[0] = {}) => {
  const started = await startTestApp({ storage: "s3", ...options })
  apps.push(started)
  return started
}

describe("S3 parts", () => {
  it("are at least S3_MIN_PART_SIZE but the last: smaller chunks are refused at creation, 5 MiB ones stored through a gateway that enforces S3's rule", async () => {
    const strict = await app({
      env: { ...(await s3Settings({ strict: true })), UPLOAD_CHUNK_SIZE_MIN: "1", UPLOAD_CHUNK_SIZE_MAX: String(64 * MiB) }
    })
    const { token } = await strict.createUser()
    const small = await strict.createSession(token, { total_size_bytes: 11 * MiB, chunk_size_bytes: MiB })
    expect(small.status).toBe(400)
    expect(small.body).toMatchObject({ _tag: "ChunkSizeOutOfBounds", min_bytes: 5 * MiB })
    // too large is 413 first, whatever else is wrong
    expect((await strict.createSession(token, { total_size_bytes: 10 * 1024 ** 4, chunk_size_bytes: MiB })).status).toBe(413)
    const data = bytes(11 * MiB, 4)
    const created = await strict.createSession(token, { total_size_bytes: data.byteLength, chunk_size_bytes: 5 * MiB })
    expect(created.status).toBe(201)
    expect(created.body.limits.chunk_size_min_bytes).toBe(5 * MiB)
    for (const n of [3, 1, 2]) {
      expect((await strict.putPart(token, created.body.id, n, data.subarray((n - 1) * 5 * MiB, n * 5 * MiB))).status).toBe(200)
    }
    const done = await strict.complete(token, created.body.id)
    expect(done.status).toBe(200)
    expect(done.body.file).toMatchObject({ status: "STORED", sha256: sha256Hex(data), storage_backend: "s3" })
  }, 60_000)
})

describe("an S3 session", () => {
  it("is one multipart upload, aborted with the session", async () => {
    const s3 = await app()
    const client = await clientFor(s3.env["S3_PREFIX"] ?? "")
    const uploads = () => Effect.runPromise(client.listMultipartUploads(s3.env["S3_PREFIX"] ?? ""))
    const { token } = await s3.createUser()
    const id = (await s3.createSession(token, { total_size_bytes: 20, chunk_size_bytes: 10 })).body.id
    expect(await uploads()).toHaveLength(0)
    await s3.putPart(token, id, 2, bytes(10, 2))
    await Promise.all([1, 1].map(() => s3.putPart(token, id, 1, bytes(10, 1))))
    // parts that raced to start it all went into one upload
    const [upload] = await uploads()
    expect(await uploads()).toHaveLength(1)
    expect(await Effect.runPromise(client.listParts(upload?.key ?? "", upload?.uploadId ?? ""))).toHaveLength(2)
    expect((await s3.request("DELETE", `/uploads/sessions/${id}`, { token })).status).toBe(200)
    expect(await uploads()).toHaveLength(0)
  })

  it("that expires is given up by the sweeper; leftover uploads and objects are collected, others' keys never touched", async () => {
    const s3 = await app({ testClock: true })
    const prefix = s3.env["S3_PREFIX"] ?? ""
    const client = await clientFor(prefix)
    const { token } = await s3.createUser()
    const admin = await s3.createUser({ admin: true })
    const expiring = (await s3.createSession(token, { total_size_bytes: 20, chunk_size_bytes: 10 })).body.id
    await s3.putPart(token, expiring, 1, bytes(10))
    // a crash's leftovers under our prefix, and keys that are not ours
    const orphanFile = Bun.randomUUIDv7()
    await Effect.runPromise(client.createMultipartUpload(`${prefix}files/${orphanFile}`))
    const strangers = [`${prefix}files/not-a-file-id`, `${prefix}elsewhere/${Bun.randomUUIDv7()}`]
    const env = await rgw()
    const plain = async (key: string) => {
      const signed = await new (await import("aws4fetch")).AwsClient({
        accessKeyId: env.accessKeyId,
        secretAccessKey: env.secretAccessKey,
        region: env.region,
        service: "s3"
      }).sign(`${env.endpoint}/${env.bucket}/${key}`, { method: "PUT", body: "not ours" })
      expect((await fetch(signed)).status).toBe(200)
    }
    const orphanObject = `${prefix}files/${Bun.randomUUIDv7()}`
    for (const key of [...strangers, orphanObject]) await plain(key)

    await s3.advance("61 minutes")
    const report = await s3.request("POST", "/admin/sweep", { token: admin.token })
    expect(report.status).toBe(200)
    expect(report.body).toMatchObject({ expired_sessions: 1, staging_removed: 1, objects_removed: 1 })
    expect(await Effect.runPromise(client.listMultipartUploads(prefix))).toHaveLength(0)
    const left = (await Effect.runPromise(client.listObjects(prefix))).map((object) => object.key).sort()
    expect(left).toEqual([...strangers].sort())
    for (const key of strangers) await Effect.runPromise(client.deleteObject(key))
  })
})

describe("starting on S3", () => {
  const start = async (env: Record<string, string>) => {
    const dataDir = await mkdtemp(join(tmpdir(), "portal-s3-start-"))
    try {
      const child = Bun.spawn([process.execPath, join(root, "src", "main.ts")], {
        cwd: root,
        env: { ...process.env, ...env, DATA_DIR: dataDir, DATABASE_URL: "", PORT: "0", HOST: "127.0.0.1" },
        stdout: "pipe",
        stderr: "pipe"
      })
      const [code, stderr] = await Promise.all([child.exited, new Response(child.stderr).text()])
      return { code, stderr }
    } finally {
      await rm(dataDir, { recursive: true, force: true })
    }
  }

  it("fails at once, saying why, when the bucket is missing or the credentials are wrong, and never prints the secret", async () => {
    const settings = await s3Settings()
    const missing = await start({ ...settings, S3_BUCKET: "no-such-bucket-here" })
    expect(missing.code).not.toBe(0)
    expect(missing.stderr).toContain("the S3 bucket no-such-bucket-here does not exist")
    const refused = await start({ ...settings, S3_SECRET_ACCESS_KEY: "wrong-secret-123" })
    expect(refused.code).not.toBe(0)
    expect(refused.stderr).toContain("S3 refused the credentials")
    expect(refused.stderr).not.toContain("wrong-secret-123")
  }, 60_000)
})

describe("health on S3", () => {
  const proxies: Array<{ stop: () => void }> = []
  afterAll(() => {
    for (const proxy of proxies) proxy.stop()
  })

  it("is 503 naming the storage while the store cannot be reached, and 200 again when it can", async () => {
    const env = await rgw()
    const target = new URL(env.endpoint)
    let up = true
    const open = new Set<{ end: () => void }>()
    // a TCP proxy in front of RGW that the test can take down
    const proxy = Bun.listen<{ upstream?: Promise<import("bun").Socket<undefined>> }>({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        open: (client) => {
          if (!up) return void client.end()
          open.add(client)
          client.data = {
            upstream: Bun.connect({
              hostname: target.hostname,
              port: Number(target.port),
              socket: { data: (_, chunk) => void client.write(chunk), close: () => void client.end() }
            })
          }
        },
        data: (client, chunk) => void client.data?.upstream?.then((upstream) => upstream.write(chunk)),
        close: (client) => {
          open.delete(client)
          void client.data?.upstream?.then((upstream) => upstream.end())
        }
      }
    })
    proxies.push(proxy)
    const s3 = await app({ env: { ...(await s3Settings()), S3_ENDPOINT: `http://127.0.0.1:${proxy.port}` } })
    expect((await s3.request("GET", "/health")).status).toBe(200)
    up = false
    for (const client of open) client.end()
    const down = await s3.request("GET", "/health")
    expect(down.status).toBe(503)
    expect(down.body.report.checks).toMatchObject({ database: { status: "ok" }, storage: { status: "unavailable" } })
    up = true
    expect((await s3.request("GET", "/health")).status).toBe(200)
  })
})
