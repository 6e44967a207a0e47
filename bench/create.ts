#!/usr/bin/env bun
/**
 * Session-create throughput on PostgreSQL: --clients concurrent clients (each one request at a
 * time) POST /uploads/sessions with a small total_size_bytes, for --seconds or until --count
 * creates, against `bun src/main.ts` (local storage, fresh DATA_DIR). Prints one JSON line
 * with the figures (and creates per second over the run), then a markdown table; progress goes
 * to stderr.
 *
 *   bun bench/create.ts [--clients 32] [--seconds 10 | --count N] [--warmup 200 (creates, untimed)]
 *                       [--idempotency unique|none] [--users 1] [--size 1KiB] [--pool N]
 *                       [--reps 1] [--database-url URL] [--keep-db] [--timeout 30 (s per request)]
 *
 * --idempotency unique sends a fresh Idempotency-Key with every create (the server then also
 * looks it up), none sends none. --users N spreads the clients over N bench users (a token each,
 * made with the CLI; each has a 1 TiB quota), since the creates of one user are serialised by the
 * lock on that user's row. --pool sets the server's DATABASE_POOL_SIZE (default: its own, 10).
 *
 * By default every run gets a database of its own (portal_bench_create_<run>, created, migrated
 * by the server, and dropped at the end unless --keep-db): the sessions it leaves open would
 * otherwise stay behind for later benches' sweepers. --database-url uses the given database (it
 * is created if missing, never dropped).
 *
 * creates/s = creates answered 201 in the timed window / its length. Latency is each request's
 * round trip (fetch to body read), in ms. srv CPU is utime+stime of the server's PID over the
 * window; pg CPU that of the PostgreSQL backends serving the server's connections (found through
 * `ss` and pg_stat_activity.client_port).
 */
import { parseArgs } from "node:util"
import pg from "pg"
import {
  badArgument, BUN, cpuSeconds, createToken, ensureDatabase, type Env, fail, field, fmt, freePort,
  KiB, maxOf, median, oneOf, parseSize, positiveInt, positiveNumber, printHelp, printTable, progress, quantile, r1, r3,
  onCleanup, resetPeakRss, runMain, scratchDir, type Server, pgMeter, startServer, statusMiB, withTimeout
} from "./harness"

const { values: opt } = parseArgs({
  options: {
    clients: { type: "string", default: "32" },
    seconds: { type: "string", default: "10" },
    count: { type: "string" },
    warmup: { type: "string", default: "200" },
    idempotency: { type: "string", default: "unique" },
    users: { type: "string", default: "1" },
    size: { type: "string", default: "1KiB" },
    pool: { type: "string" },
    reps: { type: "string", default: "1" },
    "database-url": { type: "string" },
    "keep-db": { type: "boolean", default: false },
    timeout: { type: "string", default: "30" },
    help: { type: "boolean", short: "h", default: false }
  },
  strict: true
})

if (opt.help) printHelp(import.meta.path)
const clients = positiveInt(opt.clients, "clients")
const seconds = positiveNumber(opt.seconds, "seconds")
const count = opt.count === undefined ? undefined : positiveInt(opt.count, "count")
const warmup = opt.warmup === "0" ? 0 : positiveInt(opt.warmup, "warmup")
const idempotency = oneOf(opt.idempotency, "idempotency", ["unique", "none"])
const users = positiveInt(opt.users, "users")
const totalSize = parseSize(opt.size)
const pool = opt.pool === undefined ? undefined : positiveInt(opt.pool, "pool")
const reps = positiveInt(opt.reps, "reps")
const requestTimeoutMs = positiveInt(opt.timeout, "timeout") * 1000
if (users > clients) badArgument("--users must not exceed --clients")
const RUN_ID = `${new Date().toISOString().replace(/[-:T]/g, "").slice(0, 14)}_${process.pid}`
const ownDatabase = opt["database-url"] === undefined
const DATABASE_URL = opt["database-url"] ?? `postgres://postgres@127.0.0.1:5432/portal_bench_create_${RUN_ID}`
/** Hard bound on the requests of one phase, whatever --seconds and --count say. */
const MAX_REQUESTS = 10_000_000

const serverEnv = (extra: Record<string, string>): Env => ({
  ...process.env,
  DATABASE_URL,
  HOST: "127.0.0.1",
  LOG_LEVEL: "warning",
  STORAGE_BACKEND: "local",
  ...(pool === undefined ? {} : { DATABASE_POOL_SIZE: String(pool) }),
  ...extra
})

async function dropDatabase(url: string): Promise<void> {
  const name = decodeURIComponent(new URL(url).pathname.slice(1))
  const maintenance = new URL(url)
  maintenance.pathname = "/postgres"
  const client = new pg.Client({ connectionString: maintenance.toString(), connectionTimeoutMillis: 10_000, query_timeout: 60_000 })
  await client.connect()
  try {
    await client.query(`DROP DATABASE IF EXISTS "${name.replaceAll("\"", "\"\"")}" WITH (FORCE)`)
    progress(`dropped database ${name}`)
  } finally {
    await client.end()
  }
}

// ---------------------------------------------------------------- load
interface Phase {
  readonly latencies: Array<number>
  readonly doneAt: Array<number>
  readonly failures: number
  readonly firstError: string | undefined
  readonly seconds: number
}

/** `clients` loops, each one create at a time, until the deadline or `limit` creates in all. */
async function load(server: Server, tokens: ReadonlyArray<string>, durationMs: number, limit: number | undefined): Promise<Phase> {
  const latencies: Array<number> = []
  const doneAt: Array<number> = []
  let issued = 0
  let failures = 0
  let firstError: string | undefined
  const cap = Math.min(limit ?? MAX_REQUESTS, MAX_REQUESTS)
  const t0 = performance.now()
  const end = t0 + durationMs
  const body = JSON.stringify({ filename: "create-bench.bin", content_type: "application/octet-stream", total_size_bytes: totalSize })
  const client = async (index: number) => {
    const token = tokens[index % tokens.length] ?? fail("no token")
    while (issued < cap && performance.now() < end) {
      issued++
      const headers: Record<string, string> = {
        authorization: `Bearer ${token}`, "content-type": "application/json",
        ...(idempotency === "unique" ? { "idempotency-key": `create-bench-${RUN_ID}-${index}-${issued}-${crypto.randomUUID()}` } : {})
      }
      const t = performance.now()
      try {
        const res = await fetch(`${server.url}/uploads/sessions`, { method: "POST", headers, body, signal: AbortSignal.timeout(requestTimeoutMs) })
        const text = await res.text()
        const now = performance.now()
        if (res.status !== 201 || typeof field(JSON.parse(text), "id") !== "string") {
          failures++
          firstError ??= `${res.status} ${text.slice(0, 300)}`
        } else {
          latencies.push(now - t)
          doneAt.push(now - t0)
        }
      } catch (error) {
        failures++
        firstError ??= String(error)
      }
    }
  }
  await Promise.all(Array.from({ length: clients }, (_, index) => client(index)))
  return { latencies, doneAt, failures, firstError, seconds: (performance.now() - t0) / 1000 }
}

interface Run {
  readonly creates_per_s: number
  readonly p50: number
  readonly p95: number
  readonly p99: number
  readonly max: number
  readonly server_cpu_ms_per_create: number
  readonly pg_cpu_ms_per_create: number
  readonly server_peak_rss_mib: number
  readonly failures: number
}

async function runOnce(rep: number, tokens: ReadonlyArray<string>): Promise<Record<string, unknown> & Run> {
  const port = await freePort()
  const dataDir = scratchDir("portal-bench-data-")
  const label = `create c=${clients} users=${users} idem=${idempotency}`
  progress(`rep ${rep}: starting server`)
  const server = await startServer({ label: `create-${rep}`, argv: [BUN, "src/main.ts"], env: serverEnv({ DATA_DIR: dataDir, PORT: String(port) }), port, dataDir })
  try {
    if (warmup > 0) {
      progress(`rep ${rep}: ${warmup} warm-up creates`)
      const warm = await load(server, tokens, 120_000, warmup)
      if (warm.failures > 0) fail(`warm-up: ${warm.failures} failed creates, first: ${warm.firstError}`)
    }
    const pid = server.pid
    const pgDone = await pgMeter(DATABASE_URL, pid)
    const peakReset = resetPeakRss(pid)
    const cpu0 = cpuSeconds(pid)
    progress(`rep ${rep}: ${count === undefined ? `${seconds} s` : `${count} creates`} of ${clients} clients`)
    const phase = await load(server, tokens, count === undefined ? seconds * 1000 : 600_000, count)
    const cpu = cpuSeconds(pid) - cpu0
    const pgUsed = await pgDone()
    const pgCpu = pgUsed.seconds
    const ok = phase.latencies.length
    const window = Math.max(...phase.doneAt, 1) / 1000 // first request to last answer
    const perSecond = Array.from({ length: Math.ceil(window) }, () => 0)
    for (const at of phase.doneAt) {
      const second = Math.min(perSecond.length - 1, Math.floor(at / 1000))
      perSecond[second] = (perSecond[second] ?? 0) + 1
    }
    return {
      tool: "portal-create-bench", ok: phase.failures === 0, label, rep, clients, users, idempotency, total_size_bytes: totalSize,
      pool: pool ?? null, creates: ok, failures: phase.failures, first_error: phase.firstError ?? null,
      seconds: r3(window), creates_per_s: r1(ok / window),
      p50: r3(median(phase.latencies)), p95: r3(quantile(phase.latencies, 0.95)), p99: r3(quantile(phase.latencies, 0.99)),
      max: r3(maxOf(phase.latencies)), mean: r3(phase.latencies.reduce((a, b) => a + b, 0) / Math.max(ok, 1)),
      per_second: perSecond,
      server_pid: pid, server_cpu_s: r3(cpu), server_cpu_ms_per_create: r3((cpu * 1000) / ok),
      pg_backends: pgUsed.backends, pg_cpu_s: r3(pgCpu), pg_cpu_ms_per_create: r3((pgCpu * 1000) / ok),
      server_peak_rss_mib: r1(statusMiB(pid, "VmHWM")), server_peak_rss_reset: peakReset,
      database: new URL(DATABASE_URL).pathname.slice(1), runtime: `bun ${Bun.version}`, at: new Date().toISOString()
    }
  } finally {
    await server.stop()
  }
}

async function main(): Promise<number> {
  if (ownDatabase && !opt["keep-db"]) onCleanup("drop the bench database", () => dropDatabase(DATABASE_URL))
  await withTimeout(ensureDatabase(DATABASE_URL), 60_000, "database setup")
  // the first CLI run migrates the new database; then one user (token) per --users
  const tokens: Array<string> = []
  for (let u = 0; u < users; u++) tokens.push(await createToken(serverEnv({}), 2 ** 40, "bench-create"))
  const runs: Array<Run> = []
  let failures = 0
  for (let rep = 1; rep <= reps; rep++) {
    try {
      const run = await runOnce(rep, tokens)
      console.log(JSON.stringify(run))
      runs.push(run)
      if (run.failures > 0) failures++
    } catch (error) {
      failures++
      console.log(JSON.stringify({ tool: "portal-create-bench", ok: false, rep, error: String(error) }))
    }
  }
  const med = (pick: (run: Run) => number) => median(runs.map(pick))
  console.log(`\nsession creates: ${clients} clients, ${users} user(s), Idempotency-Key ${idempotency}, total_size_bytes ${totalSize}` +
    `${totalSize % KiB === 0 ? ` (${totalSize / KiB} KiB)` : ""}, ${count === undefined ? `${seconds} s` : `${count} creates`}, ` +
    `${reps} rep(s), bun ${Bun.version}, ${new Date().toISOString()}\n`)
  printTable(
    ["clients", "users", "idem. key", "ok runs", "creates/s (med)", "p50 ms", "p95 ms", "p99 ms", "max ms", "srv CPU ms/create", "pg CPU ms/create",
      "srv peak RSS MiB", "failed"],
    [[String(clients), String(users), idempotency, `${runs.filter((r) => r.failures === 0).length}/${reps}`,
      `**${fmt(med((r) => r.creates_per_s))}**`, fmt(med((r) => r.p50), 1), fmt(med((r) => r.p95), 1), fmt(med((r) => r.p99), 1),
      fmt(med((r) => r.max), 1), fmt(med((r) => r.server_cpu_ms_per_create), 2), fmt(med((r) => r.pg_cpu_ms_per_create), 2),
      fmt(med((r) => r.server_peak_rss_mib)), String(runs.reduce((sum, r) => sum + r.failures, 0))]]
  )
  return failures === 0 ? 0 : 1
}

await runMain(main)
