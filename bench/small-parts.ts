#!/usr/bin/env bun
/**
 * Per-request overhead: one file in many small parts (default 64 MiB in parts of 64 KiB = 1024
 * PUTs), through the real service (`bun src/main.ts` on PostgreSQL, local storage) and through
 * the shared harness's portal-ref (plain Bun.serve, no framework, no database) in the same run,
 * uploads alternating between the two. Prints one JSON line per upload on stdout, then a
 * markdown table with portal / portal-ref ratios; progress goes to stderr.
 *
 *   bun bench/small-parts.ts [--size 64MiB] [--part 64KiB] [--parallel 4] [--reps 3] [--warmup 1]
 *                            [--fsync off|on] [--servers portal,portal-ref] [--ref-final-hash]
 *                            [--shared-bench ../shared/bench] [--timeout 600 (s per upload)] [--cpu-prof DIR]
 *                            [--data-dir /tmp/upload-bench/data]
 *
 * Each upload: POST /uploads/sessions (chunk_size_bytes = --part), PUT parts 1..n (Bun.file().slice()
 * bodies, --parallel in flight), POST …/complete. portal-ref runs with --first-part 1, so the client
 * is the same, and with BENCH_TOKEN set to the bench user's token, so it checks the bearer too.
 * Both servers start once and serve every upload; --warmup uploads per server come first and are
 * not in the table (a fresh process pays its JIT warm-up there).
 *
 * parts/s = parts / the wall time from the first PUT to the last PUT's response (create and
 * complete are timed apart). srv CPU ms/part = utime+stime of the server's PID over that phase
 * / parts; pg CPU ms/part that of the PostgreSQL backends serving the portal's connections (found
 * through `ss` and pg_stat_activity.client_port). The server gets UPLOAD_CHUNK_SIZE_MIN = --part and STORAGE_FSYNC from --fsync.
 * --cpu-prof DIR runs the portal under `bun --cpu-prof --cpu-prof-md`: its profile (.cpuprofile and
 * a markdown summary) is written to DIR when it is stopped; the figures then include the profiler's cost.
 * DATABASE_URL defaults to postgres://postgres@127.0.0.1:5432/portal_bench (created if missing).
 */
import { join, resolve } from "node:path"
import { parseArgs } from "node:util"
import {
  BUN, call, cpuSeconds, createToken, DEFAULT_DATABASE_URL, ensureDatabase, type Env, fail, field, fmt, freePort, GiB,
  maxOf, median, MiB, oneOf, parseSize, pgMeter, positiveInt, printHelp, printTable, progress, quantile, r1, r3, resetPeakRss,
  ROOT, runMain, scratchDir, type Server, sizeLabel, type Source, sourceFile, spread, startServer, statusMiB, syncDisks,
  withTimeout
} from "./harness"

const { values: opt } = parseArgs({
  options: {
    size: { type: "string", default: "64MiB" },
    part: { type: "string", default: "64KiB" },
    parallel: { type: "string", default: "4" },
    reps: { type: "string", default: "3" },
    warmup: { type: "string", default: "1" },
    fsync: { type: "string", default: "off" },
    servers: { type: "string", default: "portal,portal-ref" },
    "ref-final-hash": { type: "boolean", default: false },
    "cpu-prof": { type: "string" },
    "shared-bench": { type: "string", default: join(ROOT, "..", "shared", "bench") },
    timeout: { type: "string", default: "600" },
    "data-dir": { type: "string", default: "/tmp/upload-bench/data" },
    help: { type: "boolean", short: "h", default: false }
  },
  strict: true
})

if (opt.help) printHelp(import.meta.path)
const size = parseSize(opt.size)
const part = parseSize(opt.part)
const parallel = positiveInt(opt.parallel, "parallel")
const reps = positiveInt(opt.reps, "reps")
const warmups = opt.warmup === "0" ? 0 : positiveInt(opt.warmup, "warmup")
const fsync = oneOf(opt.fsync, "fsync", ["on", "off"]) === "on"
type Kind = "portal" | "portal-ref"
const kinds: Array<Kind> = opt.servers.split(",").map((name) => oneOf(name.trim(), "servers", ["portal", "portal-ref"]))
const uploadTimeoutMs = positiveInt(opt.timeout, "timeout") * 1000
const REF_SERVER = resolve(opt["shared-bench"], "servers", "portal-ref.ts")
const DATABASE_URL = process.env["DATABASE_URL"] || DEFAULT_DATABASE_URL
const parts = Math.ceil(size / part)
const profiling = opt["cpu-prof"] === undefined ? [] : ["--cpu-prof", "--cpu-prof-md", `--cpu-prof-dir=${resolve(opt["cpu-prof"])}`]
if (part > size) fail("--part is larger than --size")

const portalEnv = (extra: Record<string, string>): Env => ({
  ...process.env,
  DATABASE_URL,
  HOST: "127.0.0.1",
  LOG_LEVEL: "warning",
  STORAGE_BACKEND: "local",
  STORAGE_FSYNC: String(fsync),
  UPLOAD_CHUNK_SIZE_MIN: String(Math.min(part, 5 * MiB)),
  UPLOAD_CHUNK_SIZE_DEFAULT: String(Math.max(part, 8 * MiB)),
  UPLOAD_CHUNK_SIZE_MAX: String(Math.max(part, 64 * MiB)),
  UPLOAD_MAX_FILE_SIZE: String(Math.max(size, 5 * GiB)),
  UPLOAD_MAX_CONCURRENT_PER_USER: String(Math.max(32, parallel)),
  ...extra
})

async function start(kind: Kind, token: string): Promise<Server> {
  const port = await freePort()
  const dataDir = scratchDir(kind === "portal" ? "portal-bench-data-" : "portal-ref-data-")
  progress(`starting ${kind} on port ${port}`)
  return kind === "portal"
    ? startServer({ label: `small-parts-portal`, argv: [BUN, ...profiling, "src/main.ts"], env: portalEnv({ DATA_DIR: dataDir, PORT: String(port) }), port, dataDir })
    : startServer({
      label: "small-parts-portal-ref",
      argv: [BUN, REF_SERVER, "--port", String(port), "--dir", dataDir, "--first-part", "1", ...(opt["ref-final-hash"] ? ["--final-hash"] : [])],
      env: { ...process.env, BENCH_TOKEN: token },
      port,
      dataDir,
      // portal-ref has no /health: any HTTP answer (401 without the token) means it listens
      readyWhen: (status) => status > 0
    })
}

interface Run {
  readonly parts_per_s: number
  readonly server_cpu_ms_per_part: number
  readonly client_cpu_ms_per_part: number
  readonly pg_cpu_ms_per_part: number
  readonly put_ms_p50: number
  readonly put_ms_p99: number
  readonly complete_seconds: number
  readonly mb_s: number
  readonly server_peak_rss_mib: number
}

async function uploadOnce(kind: Kind, server: Server, token: string, src: Source, tags: Record<string, unknown>): Promise<Record<string, unknown> & Run> {
  const pid = server.pid
  const deadline = AbortSignal.timeout(uploadTimeoutMs)
  const peakReset = resetPeakRss(pid)
  const t0 = performance.now()
  const created = await call("POST", `${server.url}/uploads/sessions`, token, deadline, JSON.stringify({
    filename: `small-parts-${src.size}.bin`, content_type: "application/octet-stream", total_size_bytes: src.size, chunk_size_bytes: part
  }), "application/json")
  const id = field(created, "id")
  if (typeof id !== "string") fail(`no id in create response: ${JSON.stringify(created).slice(0, 300)}`)
  const session = `${server.url}/uploads/sessions/${encodeURIComponent(id)}`
  const pgDone = kind === "portal" ? await pgMeter(DATABASE_URL, pid) : async () => ({ seconds: 0, backends: 0 })
  const cpu0 = cpuSeconds(pid)
  const client0 = process.cpuUsage()
  const tp = performance.now()
  const putMs: Array<number> = []
  let next = 0 // parts are 1-based for both servers; `parallel` workers take the next one until none is left
  const worker = async () => {
    for (let k = next++; k < parts; k = next++) {
      const body = Bun.file(src.path).slice(k * part, Math.min(src.size, (k + 1) * part))
      const t = performance.now()
      await call("PUT", `${session}/parts/${k + 1}`, token, deadline, body, "application/octet-stream")
      putMs.push(performance.now() - t)
    }
  }
  await Promise.all(Array.from({ length: Math.min(parallel, parts) }, worker))
  const tc = performance.now()
  const cpuParts = cpuSeconds(pid) - cpu0
  const client = process.cpuUsage(client0)
  const pgParts = await pgDone()
  const done = await call("POST", `${session}/complete`, token, deadline)
  const t1 = performance.now()
  const cpuAll = cpuSeconds(pid) - cpu0
  // the portal answers the file's SHA-256; portal-ref only with --final-hash
  const sha = kind === "portal" ? field(done, "file", "sha256") : field(done, "sha256")
  if ((kind === "portal" || opt["ref-final-hash"]) && sha !== src.sha256) fail(`complete returned sha256 ${String(sha)}, source is ${src.sha256}`)
  const partsSeconds = (tc - tp) / 1000
  return {
    tool: "portal-small-parts-bench", ok: true, ...tags, server: kind, size: src.size, part, parts, parallel, fsync,
    parts_seconds: r3(partsSeconds), parts_per_s: r1(parts / partsSeconds),
    create_seconds: r3((tp - t0) / 1000), complete_seconds: r3((t1 - tc) / 1000), seconds: r3((t1 - t0) / 1000),
    mb_s: r1(src.size / ((t1 - t0) / 1000) / 1e6),
    put_ms_p50: r3(median(putMs)), put_ms_p99: r3(quantile(putMs, 0.99)), put_ms_max: r3(maxOf(putMs)),
    server_pid: pid, server_cpu_s_parts: r3(cpuParts), server_cpu_ms_per_part: r3((cpuParts * 1000) / parts),
    server_cpu_s_with_complete: r3(cpuAll),
    pg_backends: pgParts.backends, pg_cpu_s_parts: r3(pgParts.seconds), pg_cpu_ms_per_part: r3((pgParts.seconds * 1000) / parts),
    client_cpu_ms_per_part: r3(((client.user + client.system) / 1000) / parts),
    server_peak_rss_mib: r1(statusMiB(pid, "VmHWM")), server_peak_rss_reset: peakReset, server_rss_end_mib: r1(statusMiB(pid, "VmRSS")),
    runtime: `bun ${Bun.version}`, at: new Date().toISOString()
  }
}

async function main(): Promise<number> {
  const src = await sourceFile(opt["data-dir"], size)
  let token = "bench-small-parts" // portal-ref alone takes any token it is given
  if (kinds.includes("portal")) {
    await withTimeout(ensureDatabase(DATABASE_URL), 60_000, "database setup")
    token = await createToken(portalEnv({}), 2 ** 40)
  }
  const servers = new Map<Kind, Server>()
  for (const kind of kinds) servers.set(kind, await start(kind, token))
  const runs = new Map<Kind, Array<Run>>(kinds.map((kind) => [kind, []]))
  let failures = 0
  const once = async (kind: Kind, rep: number, warmup: boolean) => {
    const server = servers.get(kind) ?? fail(`no ${kind} server`)
    syncDisks()
    await Bun.sleep(300)
    const label = `${sizeLabel(size)} in ${sizeLabel(part)} p=${parallel} ${kind}`
    try {
      const run = await uploadOnce(kind, server, token, src, { label, rep, warmup })
      console.log(JSON.stringify(run))
      if (!warmup) runs.get(kind)?.push(run)
    } catch (error) {
      failures++
      console.log(JSON.stringify({ tool: "portal-small-parts-bench", ok: false, label, server: kind, rep, error: String(error) }))
    }
  }
  for (let rep = 1; rep <= warmups; rep++) for (const kind of kinds) await once(kind, rep, true)
  for (let rep = 1; rep <= reps; rep++) {
    progress(`rep ${rep}/${reps}`)
    // alternate the order so neither server always runs right after the other's writeback
    for (const kind of rep % 2 ? kinds : [...kinds].reverse()) await once(kind, rep, false)
  }
  for (const server of servers.values()) await server.stop()

  const med = (kind: Kind, pick: (run: Run) => number) => median((runs.get(kind) ?? []).map(pick))
  console.log(`\nsmall parts: ${sizeLabel(size)} in ${parts} parts of ${sizeLabel(part)}, ${parallel} in flight, ` +
    `fsync ${fsync ? "on" : "off"}, ${reps} rep(s) after ${warmups} warm-up, bun ${Bun.version}, ${new Date().toISOString()}\n`)
  printTable(
    ["server", "ok runs", "parts/s min / **median** / max", "srv CPU ms/part (med)", "pg CPU ms/part (med)", "client CPU ms/part (med)", "PUT ms p50 / p99 (med)",
      "complete s (med)", "MB/s incl. complete (med)", "srv peak RSS MiB (med)"],
    kinds.map((kind) => {
      const list = runs.get(kind) ?? []
      return [
        kind === "portal" ? "portal" : `portal-ref${opt["ref-final-hash"] ? " +final-hash" : ""}`, `${list.length}/${reps}`,
        spread(list.map((r) => r.parts_per_s)), fmt(med(kind, (r) => r.server_cpu_ms_per_part), 3),
        kind === "portal" ? fmt(med(kind, (r) => r.pg_cpu_ms_per_part), 3) : "–",
        fmt(med(kind, (r) => r.client_cpu_ms_per_part), 3),
        `${fmt(med(kind, (r) => r.put_ms_p50), 2)} / ${fmt(med(kind, (r) => r.put_ms_p99), 2)}`,
        fmt(med(kind, (r) => r.complete_seconds), 3), fmt(med(kind, (r) => r.mb_s)), fmt(med(kind, (r) => r.server_peak_rss_mib))
      ]
    })
  )
  if (kinds.includes("portal") && kinds.includes("portal-ref")) {
    const ratio = (pick: (run: Run) => number, digits = 2) => fmt(med("portal", pick) / med("portal-ref", pick), digits)
    console.log("\nportal / portal-ref (medians)\n")
    printTable(
      ["parts/s", "srv CPU ms/part", "PUT ms p50", "PUT ms p99", "complete s"],
      [[`**${ratio((r) => r.parts_per_s)}**`, `**${ratio((r) => r.server_cpu_ms_per_part)}**`, ratio((r) => r.put_ms_p50),
        ratio((r) => r.put_ms_p99), ratio((r) => r.complete_seconds)]]
    )
  }
  return failures === 0 ? 0 : 1
}

await runMain(main)
