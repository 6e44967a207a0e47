/**
 * `bun run cli upload` and `download`, run as a user runs them: a subprocess that knows only
 * PORTAL_URL and PORTAL_TOKEN, against the real server. A small proxy in front of the server
 * counts the part PUTs the CLI sends, and can hold or refuse some of them.
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test"
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises"
import { open } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { bytes, sha256Hex, startTestApp, type TestApp } from "./support/TestApp"

const CHUNK = 64 * 1024
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

let app: TestApp
let work: string
/** The client's DATA_DIR: it must stay empty, since upload and download never open a database. */
let clientDataDir: string

beforeAll(async () => {
  app = await startTestApp({ env: { UPLOAD_CHUNK_SIZE_DEFAULT: String(CHUNK) } })
  work = await mkdtemp(join(tmpdir(), "portal-cli-"))
  clientDataDir = await mkdtemp(join(tmpdir(), "portal-cli-data-"))
})
afterAll(async () => {
  await app.close()
  await rm(work, { recursive: true, force: true })
  await rm(clientDataDir, { recursive: true, force: true })
})

interface Run {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
  readonly lastLine: string
  /** The non-empty lines of stderr. */
  readonly errorLines: ReadonlyArray<string>
}

const start = (
  args: ReadonlyArray<string>,
  options: { readonly url?: string; readonly token?: string; readonly cwd?: string } = {}
) => {
  const env: Record<string, string> = {
    PATH: process.env["PATH"] ?? "",
    HOME: process.env["HOME"] ?? tmpdir(),
    PORTAL_URL: options.url ?? app.baseUrl,
    // a database the client must not need: nothing listens there
    DATABASE_URL: "postgres://nobody@127.0.0.1:9/none",
    DATA_DIR: clientDataDir,
    LOG_LEVEL: "error"
  }
  if (options.token !== undefined) env["PORTAL_TOKEN"] = options.token
  const child = Bun.spawn([process.execPath, join(import.meta.dir, "..", "src", "cli.ts"), ...args], {
    cwd: options.cwd ?? work,
    env,
    stdout: "pipe",
    stderr: "pipe"
  })
  const done = Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]).then(
    ([stdout, stderr, code]): Run => ({
      code,
      stdout,
      stderr,
      lastLine: stdout.trimEnd().split("\n").at(-1) ?? "",
      errorLines: stderr.split("\n").filter((line) => line.trim() !== "")
    })
  )
  return { child, done }
}

const cli = (args: ReadonlyArray<string>, options: Parameters<typeof start>[1] = {}) => start(args, options).done

const writeData = async (name: string, data: Uint8Array) => {
  const path = join(work, name)
  await writeFile(path, data)
  return path
}

/** Polls `probe` until it answers something (no fixed sleeps). */
const until = async <T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 20_000): Promise<T> => {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const value = await probe()
    if (value !== undefined) return value
    await Bun.sleep(10)
  }
  throw new Error(`timed out waiting for ${what}`)
}

type PartPolicy = (partNumber: number, attempt: number) => "pass" | "hold" | "unavailable"

/** A pass-through proxy to the server that records every part PUT and applies `policy` to it. */
const startProxy = () => {
  const puts: Array<number> = []
  const held: Array<() => void> = []
  const state: { policy: PartPolicy } = { policy: () => "pass" }
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request) {
      const url = new URL(request.url)
      const body = request.method === "GET" || request.method === "HEAD" ? undefined : await request.arrayBuffer()
      const part = /\/parts\/(\d+)$/.exec(url.pathname)
      if (request.method === "PUT" && part !== null) {
        const partNumber = Number(part[1])
        const attempt = puts.filter((n) => n === partNumber).length + 1
        puts.push(partNumber)
        const decision = state.policy(partNumber, attempt)
        if (decision === "hold") {
          await new Promise<void>((resolve) => held.push(resolve))
          return new Response(null, { status: 503 })
        }
        if (decision === "unavailable") {
          return Response.json({ _tag: "ServiceUnavailable", message: "try again", component: "storage" }, { status: 503 })
        }
      }
      const headers = new Headers(request.headers)
      headers.delete("host")
      headers.delete("content-length")
      return fetch(`${app.baseUrl}${url.pathname}${url.search}`, {
        method: request.method,
        headers,
        ...(body === undefined ? {} : { body })
      })
    }
  })
  return {
    url: `http://127.0.0.1:${server.port}`,
    puts,
    state,
    heldCount: () => held.length,
    close: async () => {
      for (const release of held.splice(0)) release()
      await server.stop(true)
    }
  }
}

const fileOf = async (token: string, id: string) => {
  const reply = await app.request("GET", `/files/${id}`, { token })
  expect(reply.status).toBe(200)
  return reply.body as { id: string; status: string; sha256: string; original_filename: string; storage_key: string }
}

/** A plain progress line, as printed without a terminal. */
const PROGRESS = /^(upload|download) .+: \d+% \(.+ of .+\), .+\/s, ETA \S+$/

/** The failure: a non-zero exit and one line on stderr (besides progress), no stack, no schema tree. */
const expectOneCleanLine = (run: Run) => {
  expect(run.code).not.toBe(0)
  const lines = run.errorLines.filter((line) => !PROGRESS.test(line))
  expect(lines).toHaveLength(1)
  expect(run.stderr).not.toMatch(/\n\s+at |\x1b\[|└─/)
  expect(run.stdout.trim()).toBe("")
  return lines[0] ?? ""
}

describe("cli upload and download", () => {
  it("uploads a file, prints its id alone on the last line, and downloads the same bytes back", async () => {
    const { token } = await app.createUser()
    const data = bytes(3 * CHUNK + 1234, 7)
    const path = await writeData("round trip.bin", data)

    const uploaded = await cli(["upload", path, "--chunk-size", String(CHUNK), "--parallel", "3"], { token })
    expect(uploaded.code).toBe(0)
    expect(uploaded.stdout.trimEnd().split("\n")).toEqual([uploaded.lastLine])
    expect(uploaded.lastLine).toMatch(UUID)
    // without a terminal: plain progress lines, one per 10 % at most
    expect(uploaded.stderr).not.toMatch(/\x1b|\r/)
    const progress = uploaded.errorLines.filter((line) => PROGRESS.test(line))
    expect(progress.length).toBeGreaterThan(0)
    expect(progress.length).toBeLessThanOrEqual(11)
    expect(progress.at(-1)).toStartWith("upload round trip.bin: 100% (")
    const stored = await fileOf(token, uploaded.lastLine)
    expect(stored).toMatchObject({ status: "STORED", sha256: sha256Hex(data), original_filename: "round trip.bin" })

    const into = await mkdtemp(join(work, "down-"))
    const downloaded = await cli(["download", uploaded.lastLine], { token, cwd: into })
    expect(downloaded.code).toBe(0)
    expect(downloaded.lastLine).toBe(join(into, "round trip.bin"))
    expect(new Uint8Array(await readFile(join(into, "round trip.bin")))).toEqual(data)
    expect(await readdir(into)).toEqual(["round trip.bin"]) // the temporary file is gone

    const again = await cli(["download", uploaded.lastLine], { token, cwd: into })
    expect(expectOneCleanLine(again)).toContain("already exists")
    const forced = await cli(["download", uploaded.lastLine, "-o", join(into, "round trip.bin"), "--force"], { token })
    expect(forced.code).toBe(0)
    expect(new Uint8Array(await readFile(join(into, "round trip.bin")))).toEqual(data)

    expect(await readdir(clientDataDir)).toEqual([])
  })

  it("prints one id per file, the last file's id on the last line", async () => {
    const { token } = await app.createUser()
    const first = await writeData("first.bin", bytes(CHUNK + 1, 11))
    const second = await writeData("second.bin", bytes(100, 12))
    const run = await cli(["upload", first, second], { token })
    expect(run.code).toBe(0)
    const lines = run.stdout.trimEnd().split("\n")
    expect(lines).toHaveLength(2)
    expect((await fileOf(token, lines[0] ?? "")).original_filename).toBe("first.bin")
    expect((await fileOf(token, run.lastLine)).original_filename).toBe("second.bin")
  })

  it("resumes an interrupted upload in the same session, sending only the missing parts", async () => {
    const { token } = await app.createUser()
    const data = bytes(16 * CHUNK + 100, 21) // 17 parts
    const path = await writeData("interrupted.bin", data)
    const args = ["upload", path, "--chunk-size", String(CHUNK), "--parallel", "2"]
    const proxy = startProxy()
    try {
      // first run: five parts get through, then the proxy holds every part, and the CLI is killed
      proxy.state.policy = (_part, _attempt) => (proxy.puts.length <= 5 ? "pass" : "hold")
      const first = start(args, { url: proxy.url, token })
      const session = await until(async () => {
        const list = await app.request("GET", "/uploads/sessions?status=active", { token })
        const found = list.body?.items?.[0]
        return found !== undefined && found.received_parts_count === 5 && proxy.heldCount() === 2 ? found : undefined
      }, "five parts received and two held")
      expect(session.total_parts).toBe(17)
      first.child.kill("SIGKILL")
      const killed = await first.done
      expect(killed.code).not.toBe(0)
      expect(killed.stdout.trim()).toBe("")

      const before = await app.getSession(token, session.id)
      expect(before.body.received_parts).toEqual([[1, 5]])
      expect(before.body.missing_parts).toEqual([[6, 17]])

      // second run: same command, everything passes
      proxy.puts.length = 0
      proxy.state.policy = () => "pass"
      const second = await cli(args, { url: proxy.url, token })
      expect(second.code).toBe(0)
      expect(second.stderr).toContain(`resuming session ${session.id}: 5 of 17 parts already received`)
      expect([...proxy.puts].sort((a, b) => a - b)).toEqual(Array.from({ length: 12 }, (_, i) => i + 6))

      const after = await app.getSession(token, session.id)
      expect(after.body).toMatchObject({ status: "COMPLETE", received_parts_count: 17 })
      expect(after.body.file).toMatchObject({ id: second.lastLine, status: "STORED", sha256: sha256Hex(data) })
      const all = await app.request("GET", "/uploads/sessions", { token })
      expect(all.body.items).toHaveLength(1)

      // a third run finds the completed session and just reports its file
      const third = await cli(args, { url: proxy.url, token })
      expect(third.code).toBe(0)
      expect(third.lastLine).toBe(second.lastLine)
      expect(proxy.puts).toHaveLength(12)
    } finally {
      await proxy.close()
    }
  })

  it("retries a part the server failed with 503 and still stores the file", async () => {
    const { token } = await app.createUser()
    const data = bytes(4 * CHUNK, 31)
    const path = await writeData("flaky.bin", data)
    const proxy = startProxy()
    try {
      proxy.state.policy = (part, attempt) => (part === 2 && attempt <= 2 ? "unavailable" : "pass")
      const run = await cli(["upload", path, "--chunk-size", String(CHUNK)], { url: proxy.url, token })
      expect(run.code).toBe(0)
      expect(proxy.puts.filter((n) => n === 2)).toHaveLength(3)
      expect(await fileOf(token, run.lastLine)).toMatchObject({ status: "STORED", sha256: sha256Hex(data) })
    } finally {
      await proxy.close()
    }
  })

  it("fails with one line about the token when it is refused or missing", async () => {
    const path = await writeData("token.bin", bytes(10))
    const refused = await cli(["upload", path], { token: `ipt_${"x".repeat(43)}` })
    expect(expectOneCleanLine(refused)).toMatch(/refused the token.*PORTAL_TOKEN/)
    const missing = await cli(["upload", path])
    expect(expectOneCleanLine(missing)).toContain("PORTAL_TOKEN is not set")
  })

  it("fails with one line naming the quota and what remains of it", async () => {
    const { token } = await app.createUser({ quota: 1000 })
    const path = await writeData("big.bin", bytes(CHUNK, 41))
    const line = expectOneCleanLine(await cli(["upload", path], { token }))
    expect(line).toContain("quota exceeded")
    expect(line).toContain("only 1000 bytes")
  })

  it("fails with one line naming the URL when the server is unreachable", async () => {
    const closed = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() })
    const url = `http://127.0.0.1:${closed.port}`
    await closed.stop(true)
    const path = await writeData("unreachable.bin", bytes(10))
    const line = expectOneCleanLine(await cli(["upload", path], { url, token: "ipt_whatever" }))
    expect(line).toContain(`cannot reach the portal at ${url}`)
    expect(line).toContain("connection refused")
  })

  it("fails with one line for a local file that does not exist, before any request", async () => {
    const line = expectOneCleanLine(await cli(["upload", join(work, "no-such.bin")], { token: "ipt_whatever" }))
    expect(line).toContain(`cannot upload ${join(work, "no-such.bin")}: no such file`)
  })

  it("fails with one line for an unknown or malformed file id", async () => {
    const { token } = await app.createUser()
    const unknown = Bun.randomUUIDv7()
    expect(expectOneCleanLine(await cli(["download", unknown], { token }))).toContain(`no file ${unknown}`)
    expect(expectOneCleanLine(await cli(["download", "not-an-id"], { token }))).toContain('not a file id: "not-an-id"')
  })

  it("refuses to keep a download whose SHA-256 differs from the file's", async () => {
    const { token } = await app.createUser()
    const data = bytes(2 * CHUNK, 51)
    const uploaded = await cli(["upload", await writeData("corrupt.bin", data)], { token })
    expect(uploaded.code).toBe(0)
    const stored = await fileOf(token, uploaded.lastLine)
    // the object is a folder of its parts: flip the first byte of part 2
    const handle = await open(join(app.dataDir, "storage", stored.storage_key, "2"), "r+")
    await handle.write(new Uint8Array([(data[CHUNK] ?? 0) ^ 0xff]), 0, 1, 0)
    await handle.close()

    const into = await mkdtemp(join(work, "corrupt-"))
    const line = expectOneCleanLine(await cli(["download", stored.id, "-o", into], { token }))
    expect(line).toContain(`not the file's ${sha256Hex(data)}`)
    expect(await readdir(into)).toEqual([])
  })

  it("prints help without ANSI escapes when stdout is not a terminal", async () => {
    const top = await cli(["--help"])
    expect(top.code).toBe(0)
    expect(top.stdout).toContain("upload")
    expect(top.stdout).toContain("download")
    const upload = await cli(["upload", "--help"])
    expect(upload.stdout).toContain("--parallel")
    expect(top.stdout + upload.stdout + top.stderr + upload.stderr).not.toContain("\x1b")
    expect(await readdir(clientDataDir)).toEqual([])
  })
})
