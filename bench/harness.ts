/**
 * What the bench scripts share: command-line parsing, /proc readings, the bench database and
 * user, random source files, and starting and stopping servers by their PID. Every process a
 * script starts is registered here and stopped on exit, on failure and on SIGINT/SIGTERM;
 * every wait has a deadline.
 */
import { randomFillSync } from "node:crypto"
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import pg from "pg"

export const ROOT = resolve(import.meta.dir, "..")
export const BUN = process.execPath // the bun binary itself, so a server's PID is bun's
export const KiB = 1024
export const MiB = 2 ** 20
export const GiB = 2 ** 30
export const DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/portal_bench"
export const LOG_DIR = join(tmpdir(), "portal-bench-logs")

export function fail(message: string): never {
  throw new Error(message)
}

/** A bad command line: say so and exit 2 (no stack trace). */
export function badArgument(message: string): never {
  console.error(`error: ${message} (see --help)`)
  process.exit(2)
}

export const parseSize = (text: string): number => {
  const m = /^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|KB|MB|GB)?$/i.exec(text.trim())
  const units: Record<string, number> = { b: 1, kib: KiB, mib: MiB, gib: GiB, kb: 1e3, mb: 1e6, gb: 1e9 }
  const unit = units[(m?.[2] ?? "b").toLowerCase()]
  return m && unit ? Math.round(Number(m[1]) * unit) : badArgument(`bad size ${text}, e.g. 512MiB`)
}
export const positiveInt = (text: string, name: string): number => {
  const n = Number(text)
  return Number.isInteger(n) && n > 0 ? n : badArgument(`--${name} must be a positive integer`)
}
export const positiveNumber = (text: string, name: string): number => {
  const n = Number(text)
  return Number.isFinite(n) && n > 0 ? n : badArgument(`--${name} must be a positive number`)
}
/** `value` if it is one of `choices`, else exit 2. */
export const oneOf = <C extends string>(value: string, name: string, choices: ReadonlyArray<C>): C =>
  choices.find((choice) => choice === value) ?? badArgument(`--${name} must be one of ${choices.join(", ")}`)

/** Prints the script's header comment (its usage) to stderr and exits 0. */
export function printHelp(path: string): never {
  const header = readFileSync(path, "utf8").split("*/")[0] ?? ""
  console.error(header.split("\n").slice(2).map((line) => line.replace(/^ \* ?/, "")).join("\n"))
  process.exit(0)
}

/** Rejects after `ms`; the timer is cleared when `promise` settles, so it never holds the process open. */
export const withTimeout = <A>(promise: Promise<A>, ms: number, what: string): Promise<A> => {
  let timer: ReturnType<typeof setTimeout> | undefined
  const expiry = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms / 1000} s`)), ms)
  })
  return Promise.race([promise, expiry]).finally(() => clearTimeout(timer))
}

export const stamp = () => new Date().toISOString().slice(11, 19)
export const progress = (message: string) => console.error(`[${stamp()}] ${message}`)

// ---------------------------------------------------------------- /proc
export const CLK_TCK = Number(Bun.spawnSync(["getconf", "CLK_TCK"], { timeout: 5000 }).stdout.toString().trim()) || 100
/** utime + stime of `pid` (all its threads), in seconds. */
export const cpuSeconds = (pid: number): number => {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ") // fields[0] is field 3 (state)
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK // utime (14) + stime (15)
}
/** Like cpuSeconds, NaN for a process that is gone. */
export const cpuSecondsOrNaN = (pid: number): number => {
  try {
    return cpuSeconds(pid)
  } catch {
    return NaN
  }
}
export const statusMiB = (pid: number, key: "VmHWM" | "VmRSS"): number => {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"))
  return m ? Number(m[1]) / 1024 : NaN
}
export const resetPeakRss = (pid: number): boolean => {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5") // needs root or CAP_SYS_RESOURCE-ish rights over pid
    return true
  } catch {
    return false
  }
}
/** Flushes earlier runs' dirty pages, outside timing, so one run's writeback does not land in the next. */
export const syncDisks = () => void Bun.spawnSync(["sync"], { timeout: 60_000 })

// ---------------------------------------------------------------- database, source files, token
export async function ensureDatabase(url: string): Promise<void> {
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

export interface Source {
  readonly path: string
  readonly size: number
  readonly sha256: string
}

/** Random bytes, generated once and reused (the name matches ../shared/bench's, which shares it). */
export async function sourceFile(dataDir: string, size: number): Promise<Source> {
  const path = join(dataDir, `src-${size}-0.bin`)
  if (!existsSync(path) || statSync(path).size !== size) {
    console.error(`generating ${path}`)
    mkdirSync(dataDir, { recursive: true })
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

export type Env = Record<string, string | undefined>

/**
 * A user with `quota` bytes, made with the CLI (`users create`) on the database of `env`; the
 * token is alone on the last stdout line. The CLI runs on local storage in a scratch DATA_DIR.
 */
export async function createToken(env: Env, quota: number, prefix = "bench"): Promise<string> {
  const scratch = mkdtempSync(join(tmpdir(), "portal-bench-cli-")) // the CLI's storage layer mkdirs DATA_DIR
  try {
    const name = `${prefix}-${Date.now().toString(36)}-${process.pid}-${Math.floor(Math.random() * 1e6).toString(36)}`
    const proc = Bun.spawn([BUN, "src/cli.ts", "users", "create", name, "--quota", String(quota)], {
      cwd: ROOT,
      env: { ...env, DATA_DIR: scratch, STORAGE_BACKEND: "local", LOG_LEVEL: "warning" },
      stdin: "ignore", stdout: "pipe", stderr: "pipe", timeout: 60_000
    })
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
    const token = out.trim().split("\n").at(-1)?.trim()
    return code === 0 && token ? token : fail(`cli users create exited ${code}: ${err.trim()}`)
  } finally {
    rmSync(scratch, { recursive: true, force: true })
  }
}

// ---------------------------------------------------------------- processes
/** Run at exit, on failure and on SIGINT/SIGTERM, newest first (servers, RGW, S3 prefixes). */
const cleanups: Array<{ readonly name: string; readonly run: () => Promise<void> }> = []
export const onCleanup = (name: string, run: () => Promise<void>) => {
  const entry = { name, run }
  cleanups.push(entry)
  return () => {
    const at = cleanups.indexOf(entry)
    if (at >= 0) cleanups.splice(at, 1)
  }
}
/** Set once a signal asked to stop: no new server is started then. */
let stopping = false
async function runCleanups(): Promise<void> {
  for (let entry = cleanups.pop(); entry; entry = cleanups.pop()) {
    await withTimeout(entry.run(), 60_000, `cleanup ${entry.name}`).catch((error) =>
      console.error(`cleanup ${entry.name} failed: ${error instanceof Error ? error.message : String(error)}`))
  }
}

/** Runs `main`, sets the exit code from it (1 on a throw), and always runs the cleanups. */
export async function runMain(main: () => Promise<number>): Promise<void> {
  const signals: Array<NodeJS.Signals> = ["SIGINT", "SIGTERM"]
  for (const signal of signals) {
    process.on(signal, () => {
      stopping = true
      void runCleanups().finally(() => process.exit(130))
    })
  }
  try {
    process.exitCode = await main()
  } catch (error) {
    console.error(`bench failed: ${error instanceof Error ? error.message : String(error)}`)
    process.exitCode = 1
  } finally {
    await runCleanups()
  }
}

export const freePort = () =>
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

export interface Server {
  readonly proc: Bun.Subprocess
  readonly pid: number
  readonly url: string
  /** Removed when the server is stopped (undefined: nothing to remove). */
  readonly dataDir: string | undefined
  readonly log: string
  /** performance.now() just before the spawn, and when GET /health first answered 200. */
  readonly spawnedAt: number
  readonly healthyAt: number
  /** Stops it (SIGTERM, SIGKILL after 5 s), removes its DATA_DIR; answers the seconds SIGTERM→exit. */
  readonly stop: () => Promise<number>
}

export interface ServerSpec {
  readonly label: string
  /** The command; its first element is exec'd, so the PID is that program's. */
  readonly argv: ReadonlyArray<string>
  readonly env: Env
  readonly port: number
  readonly dataDir?: string
  readonly healthPath?: string
  readonly healthTimeoutMs?: number
  /** Milliseconds between health probes (200). */
  readonly pollMs?: number
  /** Which answer to the probe means ready (status 200). */
  readonly readyWhen?: (status: number) => boolean
}

export const logPath = (label: string) => {
  mkdirSync(LOG_DIR, { recursive: true })
  return join(LOG_DIR, `server-${label.replace(/[^\w.-]+/g, "_")}.log`)
}

/** Spawns the server and waits for GET healthPath = 200; on any failure it is stopped again. */
export async function startServer(spec: ServerSpec): Promise<Server> {
  if (stopping) fail("stopping: no new server")
  const url = `http://127.0.0.1:${spec.port}`
  const log = logPath(spec.label)
  const fd = openSync(log, "w")
  const spawnedAt = performance.now()
  const proc = Bun.spawn([...spec.argv], { cwd: ROOT, env: spec.env, stdin: "ignore", stdout: fd, stderr: fd })
  closeSync(fd)
  let stopped: Promise<number> | undefined
  const stop = () => {
    stopped ??= (async () => {
      unregister()
      const t0 = performance.now()
      proc.kill("SIGTERM")
      const exited = await withTimeout(proc.exited, 5000, "server SIGTERM").then(() => true, () => false)
      if (!exited) {
        proc.kill("SIGKILL")
        await withTimeout(proc.exited, 5000, "server SIGKILL")
      }
      const seconds = (performance.now() - t0) / 1000
      if (spec.dataDir) rmSync(spec.dataDir, { recursive: true, force: true })
      return seconds
    })()
    return stopped
  }
  const unregister = onCleanup(`server ${spec.label} (pid ${proc.pid})`, () => stop().then(() => undefined))
  const pollMs = spec.pollMs ?? 200
  for (const deadline = performance.now() + (spec.healthTimeoutMs ?? 60_000); performance.now() < deadline; await Bun.sleep(pollMs)) {
    if (proc.exitCode !== null || proc.signalCode !== null) break
    const healthy = await fetch(`${url}${spec.healthPath ?? "/health"}`, { signal: AbortSignal.timeout(2000) })
      .then(async (res) => (await res.arrayBuffer(), (spec.readyWhen ?? ((status) => status === 200))(res.status)), () => false)
    if (healthy) {
      return { proc, pid: proc.pid, url, dataDir: spec.dataDir, log, spawnedAt, healthyAt: performance.now(), stop }
    }
  }
  await stop()
  return fail(`${spec.label} did not become healthy; ${log}:\n${readFileSync(log, "utf8").slice(-2000)}`)
}

/** A fresh temporary directory (for a server's DATA_DIR). */
export const scratchDir = (prefix: string) => mkdtempSync(join(tmpdir(), prefix))

// ---------------------------------------------------------------- PostgreSQL backends of the server
/** Local ports of the server's established connections to PostgreSQL's port. */
export function serverPgPorts(serverPid: number, pgPort: number): Array<number> {
  const ss = Bun.spawnSync(["ss", "-Htnp", "state", "established", `( dport = :${pgPort} )`], { timeout: 5000 })
  return ss.stdout.toString().split("\n").flatMap((line) => {
    if (!line.includes(`pid=${serverPid},`)) return []
    const local = line.trim().split(/\s+/)[2] ?? "" // Recv-Q Send-Q Local Peer Process
    const port = Number(local.slice(local.lastIndexOf(":") + 1))
    return Number.isInteger(port) && port > 0 ? [port] : []
  })
}

/** PIDs of the PostgreSQL backends (on this machine) serving the server's connections to `databaseUrl`. */
export async function serverBackends(databaseUrl: string, serverPid: number): Promise<Array<number>> {
  const url = new URL(databaseUrl)
  const ports = serverPgPorts(serverPid, Number(url.port || 5432))
  if (ports.length === 0) return []
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 10_000, query_timeout: 10_000 })
  await client.connect()
  try {
    const found = await client.query(
      "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND client_port = ANY($1::int[])", [ports]
    )
    return found.rows.map((row: unknown) => Number(field(row, "pid")))
  } finally {
    await client.end()
  }
}

/**
 * CPU of the server's PostgreSQL backends from now on: call the answer to read the seconds used
 * since. A backend opened in between counts from 0; one closed in between is lost (a pool keeps
 * its connections).
 */
export async function pgMeter(databaseUrl: string, serverPid: number): Promise<() => Promise<{ seconds: number; backends: number }>> {
  const backends0 = await serverBackends(databaseUrl, serverPid)
  const start = new Map(backends0.map((backend) => [backend, cpuSecondsOrNaN(backend)]))
  return async () => {
    const backends1 = await serverBackends(databaseUrl, serverPid)
    const seconds = [...new Set([...backends0, ...backends1])]
      .reduce((sum, backend) => sum + (cpuSecondsOrNaN(backend) - (start.get(backend) ?? 0)), 0)
    return { seconds, backends: backends1.length }
  }
}

// ---------------------------------------------------------------- HTTP
export const REQUEST_TIMEOUT_MS = 120_000

/** The value at `path` in a decoded JSON value, or undefined. */
export const field = (value: unknown, ...path: Array<string>): unknown =>
  path.reduce<unknown>((o, key) => {
    if (typeof o !== "object" || o === null) return undefined
    const found: unknown = Reflect.get(o, key)
    return found
  }, value)

/** One request; a non-2xx answer throws. The body is always drained, so the connection is reused. */
export async function call(
  method: string, url: string, token: string, signal: AbortSignal, body?: string | Blob, type?: string, extraHeaders: Record<string, string> = {}
): Promise<unknown> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}`, ...(type ? { "content-type": type } : {}), ...extraHeaders }
  const res = await fetch(url, { method, headers, ...(body ? { body } : {}), signal: AbortSignal.any([signal, AbortSignal.timeout(REQUEST_TIMEOUT_MS)]) })
  const text = await res.text()
  if (!res.ok) fail(`${method} ${url} -> ${res.status} ${text.slice(0, 300)}`)
  return text === "" ? null : JSON.parse(text)
}

// ---------------------------------------------------------------- figures
export const median = (xs: ReadonlyArray<number>) => quantile(xs, 0.5)
/** Linear-interpolated quantile (q in 0..1) of `xs`; NaN for none. */
export const quantile = (xs: ReadonlyArray<number>, q: number): number => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b)
  if (s.length === 0) return NaN
  const at = (s.length - 1) * q
  const lo = Math.floor(at)
  const hi = Math.ceil(at)
  return (s[lo] ?? NaN) + ((s[hi] ?? NaN) - (s[lo] ?? NaN)) * (at - lo)
}
export const minOf = (xs: ReadonlyArray<number>) => (xs.length ? Math.min(...xs) : NaN)
export const maxOf = (xs: ReadonlyArray<number>) => (xs.length ? Math.max(...xs) : NaN)
export const fmt = (x: number, digits = 0) => (Number.isFinite(x) ? x.toFixed(digits) : "–")
export const r1 = (x: number) => Math.round(x * 10) / 10
export const r3 = (x: number) => Math.round(x * 1000) / 1000
export const sizeLabel = (bytes: number) =>
  bytes % MiB === 0 ? `${bytes / MiB}MiB` : bytes % KiB === 0 ? `${bytes / KiB}KiB` : `${bytes}B`
/** "min / **median** / max" of `xs`. */
export const spread = (xs: ReadonlyArray<number>, digits = 0) =>
  `${fmt(minOf(xs), digits)} / **${fmt(median(xs), digits)}** / ${fmt(maxOf(xs), digits)}`
export const printTable = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>) => {
  console.log(`| ${header.join(" | ")} |`)
  console.log(`|${header.map(() => "---").join("|")}|`)
  for (const row of rows) console.log(`| ${row.join(" | ")} |`)
}
