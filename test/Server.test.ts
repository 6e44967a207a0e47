/**
 * The real entry point, as README's first command runs it: `bun src/main.ts` on an empty
 * DATA_DIR with the embedded database. It must migrate, print the first admin's token once,
 * answer /health, /openapi.json and /docs, and run the upload flow.
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test"
import { readdirSync, readFileSync, readlinkSync } from "node:fs"
import { mkdtemp, rm, stat } from "node:fs/promises"
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
const start = async (dataDir: string, port = 0): Promise<Started> => {
  const child = Bun.spawn([process.execPath, "src/main.ts"], {
    cwd: root,
    env: { ...process.env, DATA_DIR: dataDir, PORT: String(port), HOST: "127.0.0.1", DATABASE_URL: "", LOG_LEVEL: "info" },
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

/** The TCP ports a process listens on: its socket inodes, found in the LISTEN rows of /proc/net/tcp*. */
const listeningPorts = (pid: number): Array<number> => {
  const inodes = new Set(
    readdirSync(`/proc/${pid}/fd`).flatMap((fd) => {
      const target = (() => {
        try {
          return readlinkSync(`/proc/${pid}/fd/${fd}`)
        } catch {
          return ""
        }
      })()
      const match = /^socket:\[(\d+)\]$/.exec(target)
      return match?.[1] === undefined ? [] : [match[1]]
    })
  )
  return ["tcp", "tcp6"].flatMap((table) =>
    readFileSync(`/proc/${pid}/net/${table}`, "utf8").split("\n").slice(1).flatMap((line) => {
      const fields = line.trim().split(/\s+/)
      const [local, state, inode] = [fields[1], fields[3], fields[9]]
      return state === "0A" && inode !== undefined && inodes.has(inode) && local !== undefined
        ? [parseInt(local.split(":")[1] ?? "0", 16)]
        : []
    })
  )
}

const waitForToken = async (started: Started) => {
  for (let i = 0; i < 200; i++) {
    const found = /^(ipt_[A-Za-z0-9_-]{43})$/m.exec(started.stdout())?.[1]
    if (found !== undefined) return found
    await Bun.sleep(25)
  }
  return ""
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
  // the token is printed once the listener is up
  token = await waitForToken(server)
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

  it("prints the id of the first admin's token, so that it can be revoked", () => {
    expect(server.stdout()).toMatch(/Created admin user "admin" with token [0-9a-f-]{36}\./)
  })

  it("listens on no TCP port but its HTTP one; its database socket is closed to other users", async () => {
    const pid = server.process.pid
    expect(listeningPorts(pid)).toEqual([Number(new URL(server.baseUrl).port)])
    const run = join(dataDir, "run")
    expect((await stat(run)).mode & 0o777).toBe(0o700)
    expect((await stat(join(run, ".s.PGSQL.5432"))).isSocket()).toBe(true)
    if (process.getuid?.() === 0) {
      // another local user cannot even reach the socket
      const intruder = Bun.spawnSync(["runuser", "-u", "nobody", "--", "psql", "-h", run, "-U", "postgres", "-c", "SELECT 1"], {
        stderr: "pipe"
      })
      expect(intruder.exitCode).not.toBe(0)
      expect(intruder.stderr.toString()).toContain("Permission denied")
    }
  })

  it("creates nothing and prints no token when its port is taken", async () => {
    const other = await mkdtemp(join(tmpdir(), "portal-server-taken-"))
    try {
      const child = Bun.spawn([process.execPath, "src/main.ts"], {
        cwd: root,
        env: { ...process.env, DATA_DIR: other, PORT: new URL(server.baseUrl).port, HOST: "127.0.0.1", DATABASE_URL: "" },
        stdin: "ignore",
        stdout: "pipe",
        stderr: "pipe"
      })
      expect(await child.exited).not.toBe(0)
      expect(await new Response(child.stdout).text()).not.toContain("ipt_")
      // the admin was not created either: a start on a free port makes it now
      const retry = await start(other)
      try {
        expect(await waitForToken(retry)).not.toBe("")
      } finally {
        await stop(retry)
      }
    } finally {
      await rm(other, { recursive: true, force: true })
    }
  }, 60_000)

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
