#!/usr/bin/env bun
/**
 * Upload benchmark of the real service. For every configuration (size x fsync x parallel) it
 * starts `bun src/main.ts` on PostgreSQL with a fresh DATA_DIR, uploads a random file through
 * the session API (create, PUT parts 1..n, complete) --reps times, then stops the server.
 * Prints one JSON line per run on stdout, then a markdown table; progress goes to stderr.
 *
 *   bun bench/upload.ts [--size 512MiB[,128MiB]] [--chunk 8MiB] [--parallel 1,4]
 *                       [--fsync both|on|off] [--reps 3] [--timeout 600 (s per upload)]
 *                       [--data-dir /tmp/upload-bench/data (source files, shared with ../shared/bench)]
 *   bun bench/upload.ts --token-only     # create the bench database and a user, print its token
 *
 * MB/s = 10^6 bytes/s over the wall time from the create request to the complete response.
 * Server CPU is utime+stime of the server's PID; peak RSS is VmHWM, reset before every run.
 * DATABASE_URL defaults to postgres://postgres@127.0.0.1:5432/portal_bench (created if missing).
 */
import { randomFillSync } from "node:crypto"
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { parseArgs } from "node:util"
import pg from "pg"

const ROOT = resolve(import.meta.dir, "..")
const BUN = process.execPath // the bun binary itself, so the server's PID is bun's
const MiB = 2 ** 20
const GiB = 2 ** 30

const { values: opt } = parseArgs({
  options: {
    size: { type: "string", default: "512MiB" },
    chunk: { type: "string", default: "8MiB" },
    parallel: { type: "string", default: "1,4" },
    fsync: { type: "string", default: "both" },
    reps: { type: "string", default: "3" },
    timeout: { type: "string", default: "600" },
    "data-dir": { type: "string", default: "/tmp/upload-bench/data" },
    "token-only": { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false }
  },
  strict: true
})

function fail(message: string): never {
  throw new Error(message)
}

/** A bad command line: say so and exit 2 (no stack trace). */
function badArgument(message: string): never {
  console.error(`error: ${message} (see --help)`)
  process.exit(2)
}

const parseSize = (text: string): number => {
  const m = /^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|KB|MB|GB)?$/i.exec(text.trim())
  const units: Record<string, number> = { b: 1, kib: 1024, mib: MiB, gib: GiB, kb: 1e3, mb: 1e6, gb: 1e9 }
  const unit = units[(m?.[2] ?? "b").toLowerCase()]
  return m && unit ? Math.round(Number(m[1]) * unit) : badArgument(`bad size ${text}, e.g. 512MiB`)
}
const positiveInt = (text: string, name: string): number => {
  const n = Number(text)
  return Number.isInteger(n) && n > 0 ? n : badArgument(`--${name} must be a positive integer`)
}

if (opt.help) {
  const header = readFileSync(import.meta.path, "utf8").split("*/")[0] ?? ""
  console.error(header.split("\n").slice(2).map((line) => line.replace(/^ \* ?/, "")).join("\n"))
  process.exit(0)
}
const sizes = opt.size.split(",").map(parseSize)
const chunk = parseSize(opt.chunk)
const parallels = opt.parallel.split(",").map((p) => positiveInt(p, "parallel"))
const fsyncs = ({ both: [true, false], on: [true], off: [false] } as Record<string, Array<boolean>>)[opt.fsync] ??
  badArgument("--fsync must be on, off or both")
const reps = positiveInt(opt.reps, "reps")
const uploadTimeoutMs = positiveInt(opt.timeout, "timeout") * 1000
const REQUEST_TIMEOUT_MS = 120_000
const DATABASE_URL = process.env["DATABASE_URL"] || "postgres://postgres@127.0.0.1:5432/portal_bench"
const LOG_DIR = join(tmpdir(), "portal-bench-logs")

/** Rejects after `ms`; the timer is cleared when `promise` settles, so it never holds the process open. */
const withTimeout = <A>(promise: Promise<A>, ms: number, what: string): Promise<A> => {
  let timer: ReturnType<typeof setTimeout> | undefined
  const expiry = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms / 1000} s`)), ms)
  })
  return Promise.race([promise, expiry]).finally(() => clearTimeout(timer))
}

// ---------------------------------------------------------------- /proc
const CLK_TCK = Number(Bun.spawnSync(["getconf", "CLK_TCK"], { timeout: 5000 }).stdout.toString().trim()) || 100
const cpuSeconds = (pid: number): number => {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ") // fields[0] is field 3 (state)
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK // utime (14) + stime (15)
}
const statusMiB = (pid: number, key: "VmHWM" | "VmRSS"): number => {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"))
  return m ? Number(m[1]) / 1024 : NaN
}
const resetPeakRss = (pid: number): boolean => {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5") // needs root or CAP_SYS_RESOURCE-ish rights over pid
    return true
  } catch {
    return false
  }
}

// ---------------------------------------------------------------- database, source file, token
async function ensureDatabase(url: string): Promise<void> {
  const name = decodeURIComponent(new URL(url).pathname.slice(1))
  const maintenance = new URL(url)
  maintenance.pathname = "/postgres"
  const client = new pg.Client({ connectionString: maintenance.toString(), connectionTimeoutMillis: 10_000, query_timeout: 30_000 })
  await client.connect()
  try {
    const found = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [name])
    if (found.rowCount === 0) {
      await client.query(`CREATE DATABASE "${name.replaceAll("\"", "\"\"")}"`)
      console.error(`created database ${name}`)
    }
  } finally {
    await client.end()
  }
}

interface Source {
  readonly path: string
  readonly size: number
  readonly sha256: string
}

/** Random bytes, generated once and reused (the name matches ../shared/bench's, which shares it). */
async function sourceFile(size: number): Promise<Source> {
  const path = join(opt["data-dir"], `src-${size}-0.bin`)
  if (!existsSync(path) || statSync(path).size !== size) {
    console.error(`generating ${path}`)
    mkdirSync(opt["data-dir"], { recursive: true })
    const temporary = `${path}.tmp${process.pid}`
    const fd = openSync(temporary, "w")
    const buffer = Buffer.allocUnsafe(Math.min(size, 8 * MiB))
    for (let left = size; left > 0; left -= buffer.length) {
      const n = Math.min(left, buffer.length)
      writeSync(fd, randomFillSync(buffer, 0, n), 0, n)
    }
    closeSync(fd)
    renameSync(temporary, path)
  }
  const hasher = new Bun.CryptoHasher("sha256")
  for await (const piece of Bun.file(path).stream()) hasher.update(piece)
  return { path, size, sha256: hasher.digest("hex") }
}

const serverEnv = (extra: Record<string, string>): Record<string, string | undefined> => ({
  ...process.env,
  DATABASE_URL,
  HOST: "127.0.0.1",
  LOG_LEVEL: "warning",
  UPLOAD_CHUNK_SIZE_DEFAULT: String(chunk),
  UPLOAD_CHUNK_SIZE_MIN: String(Math.min(chunk, 5 * MiB)),
  UPLOAD_CHUNK_SIZE_MAX: String(Math.max(chunk, 64 * MiB)),
  UPLOAD_MAX_FILE_SIZE: String(Math.max(...sizes, 5 * GiB)),
  ...extra
})

/** A user with a 1 TiB quota, made with the CLI; the token is alone on its last stdout line. */
async function createToken(): Promise<string> {
  const scratch = mkdtempSync(join(tmpdir(), "portal-bench-cli-")) // the CLI's storage layer mkdirs DATA_DIR
  try {
    const name = `bench-${Date.now().toString(36)}-${process.pid}`
    const proc = Bun.spawn([BUN, "src/cli.ts", "users", "create", name, "--quota", String(2 ** 40)], {
      cwd: ROOT, env: serverEnv({ DATA_DIR: scratch }), stdin: "ignore", stdout: "pipe", stderr: "pipe", timeout: 60_000
    })
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
    const token = out.trim().split("\n").at(-1)?.trim()
    return code === 0 && token ? token : fail(`cli users create exited ${code}: ${err.trim()}`)
  } finally {
    rmSync(scratch, { recursive: true, force: true })
  }
}

// ---------------------------------------------------------------- server lifecycle
interface Server {
  readonly proc: Bun.Subprocess
  readonly url: string
  readonly dataDir: string
  readonly log: string
}
let running: Server | undefined

const freePort = () =>
  withTimeout(
    new Promise<number>((ok, ko) => {
      const probe = createServer().once("error", ko)
      probe.listen(0, "127.0.0.1", () => {
        const address = probe.address()
        probe.close(() => typeof address === "object" && address ? ok(address.port) : ko(new Error("no port")))
      })
    }),
    5000,
    "free port"
  )

async function startServer(fsync: boolean, label: string): Promise<Server> {
  const port = await freePort()
  const dataDir = mkdtempSync(join(tmpdir(), "portal-bench-data-"))
  mkdirSync(LOG_DIR, { recursive: true })
  const log = join(LOG_DIR, `server-${label.replace(/[^\w.-]+/g, "_")}.log`)
  const fd = openSync(log, "w")
  const proc = Bun.spawn([BUN, "src/main.ts"], {
    cwd: ROOT,
    env: serverEnv({ DATA_DIR: dataDir, PORT: String(port), STORAGE_FSYNC: String(fsync) }),
    stdin: "ignore", stdout: fd, stderr: fd
  })
  closeSync(fd)
  running = { proc, url: `http://127.0.0.1:${port}`, dataDir, log }
  for (const deadline = Date.now() + 60_000; Date.now() < deadline; await Bun.sleep(200)) {
    if (proc.exitCode !== null || proc.signalCode !== null) break
    const healthy = await fetch(`${running.url}/health`, { signal: AbortSignal.timeout(2000) })
      .then(async (res) => (await res.arrayBuffer(), res.status === 200), () => false)
    if (healthy) return running
  }
  await stopServer()
  return fail(`server did not become healthy; ${log}:\n${readFileSync(log, "utf8").slice(-2000)}`)
}

/** SIGTERM, SIGKILL after 5 s, then delete the DATA_DIR. */
async function stopServer(): Promise<void> {
  const server = running
  if (!server) return
  running = undefined
  server.proc.kill("SIGTERM")
  const stopped = await withTimeout(server.proc.exited, 5000, "server SIGTERM").then(() => true, () => false)
  if (!stopped) {
    server.proc.kill("SIGKILL")
    await withTimeout(server.proc.exited, 5000, "server SIGKILL")
  }
  rmSync(server.dataDir, { recursive: true, force: true })
}

// ---------------------------------------------------------------- one upload
const field = (value: unknown, ...path: Array<string>): unknown =>
  path.reduce<unknown>((o, key) => (typeof o === "object" && o !== null ? (o as Record<string, unknown>)[key] : undefined), value)

async function call(method: string, url: string, token: string, signal: AbortSignal, body?: string | Blob, type?: string): Promise<unknown> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}`, ...(type ? { "content-type": type } : {}) }
  const res = await fetch(url, { method, headers, ...(body ? { body } : {}), signal: AbortSignal.any([signal, AbortSignal.timeout(REQUEST_TIMEOUT_MS)]) })
  const text = await res.text() // always drained, so the connection is reused
  if (!res.ok) fail(`${method} ${url} -> ${res.status} ${text.slice(0, 300)}`)
  return text === "" ? null : JSON.parse(text)
}

interface Run {
  readonly mb_s: number
  readonly server_cpu_s_per_gib: number
  readonly server_peak_rss_mib: number
  readonly complete_seconds: number
}

async function uploadOnce(
  server: Server, token: string, src: Source, parallel: number, tags: Record<string, unknown>
): Promise<Record<string, unknown> & Run> {
  const pid = server.proc.pid
  const deadline = AbortSignal.timeout(uploadTimeoutMs)
  const rssStart = statusMiB(pid, "VmRSS")
  const peakReset = resetPeakRss(pid)
  const cpu0 = cpuSeconds(pid)
  const client0 = process.cpuUsage()
  const t0 = performance.now()
  const created = await call("POST", `${server.url}/uploads/sessions`, token, deadline, JSON.stringify({
    filename: `bench-${src.size}.bin`, content_type: "application/octet-stream", total_size_bytes: src.size, chunk_size_bytes: chunk
  }), "application/json")
  const id = field(created, "id")
  if (typeof id !== "string") fail(`no id in create response: ${JSON.stringify(created).slice(0, 300)}`)
  const session = `${server.url}/uploads/sessions/${encodeURIComponent(id)}`
  const parts = Math.ceil(src.size / chunk)
  let next = 0 // parts are 1-based; `parallel` workers take the next one until none is left
  const worker = async () => {
    for (let k = next++; k < parts; k = next++) {
      const body = Bun.file(src.path).slice(k * chunk, Math.min(src.size, (k + 1) * chunk))
      await call("PUT", `${session}/parts/${k + 1}`, token, deadline, body, "application/octet-stream")
    }
  }
  await Promise.all(Array.from({ length: Math.min(parallel, parts) }, worker))
  const tc = performance.now()
  const done = await call("POST", `${session}/complete`, token, deadline)
  const t1 = performance.now()
  const cpu = cpuSeconds(pid) - cpu0
  const client = process.cpuUsage(client0)
  const sha = field(done, "file", "sha256")
  if (sha !== src.sha256) fail(`complete returned sha256 ${String(sha)}, source is ${src.sha256}`)
  const seconds = (t1 - t0) / 1000
  const r3 = (x: number) => Math.round(x * 1000) / 1000
  return {
    tool: "portal-upload-bench", ok: true, ...tags, size: src.size, chunk, parts, parallel,
    seconds: r3(seconds), mb_s: Math.round((src.size / seconds / 1e6) * 10) / 10,
    complete_seconds: r3((t1 - tc) / 1000),
    server_pid: pid, server_cpu_s: r3(cpu), server_cpu_s_per_gib: r3(cpu / (src.size / GiB)),
    server_peak_rss_mib: Math.round(statusMiB(pid, "VmHWM") * 10) / 10, server_peak_rss_reset: peakReset,
    server_rss_start_mib: Math.round(rssStart * 10) / 10, server_rss_end_mib: Math.round(statusMiB(pid, "VmRSS") * 10) / 10,
    client_cpu_s: r3((client.user + client.system) / 1e6), runtime: `bun ${Bun.version}`, at: new Date().toISOString()
  }
}

// ---------------------------------------------------------------- main
const median = (xs: Array<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}
const fmt = (x: number, digits = 0) => (Number.isFinite(x) ? x.toFixed(digits) : "–")
const sizeLabel = (bytes: number) => (bytes % MiB === 0 ? `${bytes / MiB}MiB` : `${bytes}B`)

async function main(): Promise<number> {
  await withTimeout(ensureDatabase(DATABASE_URL), 60_000, "database setup")
  const token = await createToken()
  if (opt["token-only"]) {
    console.log(token)
    return 0
  }
  const rows: Array<string> = []
  let failures = 0
  for (const size of sizes) {
    const src = await sourceFile(size)
    for (const fsync of fsyncs) {
      for (const parallel of parallels) {
        const label = `${sizeLabel(size)} p=${parallel} fsync=${fsync ? "on" : "off"}`
        console.error(`[${new Date().toISOString().slice(11, 19)}] ${label}: starting server`)
        const server = await startServer(fsync, label)
        const runs: Array<Run> = []
        try {
          for (let rep = 1; rep <= reps; rep++) {
            Bun.spawnSync(["sync"], { timeout: 60_000 }) // flush earlier runs' dirty pages outside timing
            await Bun.sleep(500)
            try {
              const run = await uploadOnce(server, token, src, parallel, { label, fsync })
              console.log(JSON.stringify(run))
              runs.push(run)
            } catch (error) {
              failures++
              console.log(JSON.stringify({ tool: "portal-upload-bench", ok: false, label, error: String(error) }))
              break // the server's state is unknown: go on with the next configuration
            }
          }
        } finally {
          await stopServer()
        }
        const mbs = runs.map((r) => r.mb_s)
        const rss = runs.map((r) => r.server_peak_rss_mib)
        rows.push(`| ${sizeLabel(size)} | ${parallel} | ${fsync ? "on" : "off"} | ${runs.length}/${reps} | ` +
          `${fmt(Math.min(...mbs))} / **${fmt(median(mbs))}** / ${fmt(Math.max(...mbs))} | ` +
          `${fmt(median(runs.map((r) => r.server_cpu_s_per_gib)), 2)} | ${fmt(median(rss))} / ${fmt(Math.max(...rss))} | ` +
          `${fmt(median(runs.map((r) => r.complete_seconds)), 2)} |`)
      }
    }
  }
  console.log(`\nportal upload bench: chunk ${sizeLabel(chunk)}, ${reps} rep(s), bun ${Bun.version}, ${new Date().toISOString()}\n`)
  console.log("| size | parallel | fsync | ok runs | MB/s min / **median** / max | srv CPU s/GiB (med) | srv peak RSS MiB med / max | complete s (med) |")
  console.log("|---|---|---|---|---|---|---|---|")
  for (const row of rows) console.log(row)
  return failures === 0 ? 0 : 1
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => void stopServer().finally(() => process.exit(130)))
}
try {
  process.exitCode = await main()
} catch (error) {
  console.error(`bench failed: ${error instanceof Error ? error.message : String(error)}`)
  process.exitCode = 1
} finally {
  await stopServer()
}
