/**
 * The real entry point, as README's first command runs it: `bun src/main.ts` on an empty
 * DATA_DIR with the embedded database. It must migrate, print the first admin's token once,
 * answer /health, /openapi.json and /docs, and run the upload flow.
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { bytes, sha256Hex } from "./support/TestApp"

const root = new URL("..", import.meta.url).pathname

interface Started {
  readonly process: Bun.Subprocess<"ignore", "pipe", "pipe">
  readonly baseUrl: string
  readonly stdout: () => string
}

/** Starts the server and waits for its "Listening on" log line (PORT=0 picks a free port). */
const start = async (dataDir: string): Promise<Started> => {
  const child = Bun.spawn([process.execPath, "src/main.ts"], {
    cwd: root,
    env: { ...process.env, DATA_DIR: dataDir, PORT: "0", HOST: "127.0.0.1", DATABASE_URL: "", LOG_LEVEL: "info" },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe"
  })
  let stdout = ""
  void (async () => {
    for await (const chunk of child.stdout) stdout += new TextDecoder().decode(chunk)
  })()
  let stderr = ""
  for await (const chunk of child.stderr) {
    stderr += new TextDecoder().decode(chunk)
    const match = /Listening on http:\/\/[^:]+:(\d+)/.exec(stderr)
    if (match !== null) return { process: child, baseUrl: `http://127.0.0.1:${match[1]}`, stdout: () => stdout }
  }
  throw new Error(`the server exited before listening:\n${stderr}`)
}

const stop = async (server: Started) => {
  server.process.kill("SIGTERM")
  return server.process.exited
}

let dataDir: string
let server: Started
let token: string

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "portal-server-"))
  server = await start(dataDir)
  // the token is printed after the database is ready, before the listener starts
  token = /^(ipt_[A-Za-z0-9_-]{43})$/m.exec(server.stdout())?.[1] ?? ""
}, 60_000)
afterAll(async () => {
  if (server.process.exitCode === null) await stop(server)
  await rm(dataDir, { recursive: true, force: true })
})

describe("bun src/main.ts on an empty DATA_DIR (embedded PostgreSQL)", () => {
  it("prints the first admin's token, which authenticates", async () => {
    expect(token).not.toBe("")
    const me = await fetch(`${server.baseUrl}/me`, { headers: { authorization: `Bearer ${token}` } })
    expect(me.status).toBe(200)
    expect(await me.json()).toMatchObject({ name: "admin", is_admin: true })
  })

  it("answers /health, /openapi.json and /docs", async () => {
    const health = await fetch(`${server.baseUrl}/health`)
    expect(health.status).toBe(200)
    expect(await health.json()).toMatchObject({ status: "ok" })
    const openapi = await fetch(`${server.baseUrl}/openapi.json`)
    expect(openapi.status).toBe(200)
    expect(((await openapi.json()) as { openapi: string }).openapi).toBe("3.1.0")
    const docs = await fetch(`${server.baseUrl}/docs`)
    expect(docs.status).toBe(200)
    expect(docs.headers.get("content-type")).toContain("text/html")
  })

  it("runs the upload flow on the embedded database", async () => {
    const auth = { authorization: `Bearer ${token}` }
    const data = bytes(6 * 1024 * 1024 + 1, 5)
    const created = await fetch(`${server.baseUrl}/uploads/sessions`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ filename: "a.bin", content_type: "application/octet-stream", total_size_bytes: data.byteLength, chunk_size_bytes: 5 * 1024 * 1024 })
    })
    expect(created.status).toBe(201)
    const session = (await created.json()) as { id: string; total_parts: number }
    expect(session.total_parts).toBe(2)
    const parts = await Promise.all([2, 1].map((n) =>
      fetch(`${server.baseUrl}/uploads/sessions/${session.id}/parts/${n}`, {
        method: "PUT",
        headers: auth,
        body: data.subarray((n - 1) * 5 * 1024 * 1024, n * 5 * 1024 * 1024)
      })))
    expect(parts.map((p) => p.status)).toEqual([200, 200])
    const done = await fetch(`${server.baseUrl}/uploads/sessions/${session.id}/complete`, { method: "POST", headers: auth })
    expect(done.status).toBe(200)
    const { file } = (await done.json()) as { file: { id: string; sha256: string } }
    expect(file.sha256).toBe(sha256Hex(data))
    const download = await fetch(`${server.baseUrl}/files/${file.id}/content`, { headers: auth })
    expect(sha256Hex(new Uint8Array(await download.arrayBuffer()))).toBe(sha256Hex(data))
  })

  it("stops cleanly, and on restart keeps its data and prints no new token", async () => {
    expect(await stop(server)).toBe(0)
    server = await start(dataDir)
    const me = await fetch(`${server.baseUrl}/me`, { headers: { authorization: `Bearer ${token}` } })
    expect(me.status).toBe(200)
    expect(server.stdout()).not.toContain("ipt_")
  })
})
