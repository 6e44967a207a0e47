#!/usr/bin/env bun
/**
 * Upload benchmark of the real service. For every configuration (size x storage x fsync x
 * parallel) it starts `bun src/main.ts` on PostgreSQL with a fresh DATA_DIR, uploads a random
 * file through the session API (create, PUT parts 1..n, complete) --reps times, then stops the
 * server. Prints one JSON line per run on stdout, then a markdown table; progress goes to stderr.
 *
 *   bun bench/upload.ts [--size 512MiB[,128MiB]] [--chunk 8MiB] [--parallel 1,4]
 *                       [--fsync both|on|off] [--reps 3] [--timeout 600 (s per upload)]
 *                       [--storage local|s3|both] [--raw-s3 auto|on|off] [--keep-rgw]
 *                       [--data-dir /tmp/upload-bench/data (source files, shared with ../shared/bench)]
 *   bun bench/upload.ts --token-only     # create the bench database and a user, print its token
 *
 * --storage s3 starts (or reuses) the Ceph RGW of test/s3/start-rgw.sh and runs the server with
 * STORAGE_BACKEND=s3 and a fresh S3_PREFIX per configuration (fsync does not apply there: one
 * configuration per size x parallel); what a configuration leaves under its prefix is deleted
 * afterwards (objects deleted, multipart uploads aborted). --raw-s3 (auto: whenever s3 is
 * benchmarked) adds the ceiling: the same file uploaded by this process straight to RGW as an S3
 * multipart upload (aws4fetch), same chunk and parts in flight, timed the same way. RGW CPU
 * (radosgw + ceph-osd, from /proc by the pid files in $RGW_DIR/run) is reported for both, and a
 * second table gives portal-on-S3 / raw for every size x parallel. An RGW this run had to start
 * is stopped at the end (test/s3/stop-rgw.sh) unless --keep-rgw.
 *
 * MB/s = 10^6 bytes/s over the wall time from the create request to the complete response.
 * Server CPU is utime+stime of the server's PID; peak RSS is VmHWM, reset before every run.
 * DATABASE_URL defaults to postgres://postgres@127.0.0.1:5432/portal_bench (created if missing).
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { parseArgs } from "node:util"
import {
  badArgument, BUN, call, cpuSeconds, createToken, DEFAULT_DATABASE_URL, ensureDatabase, type Env, fail, field, fmt,
  freePort, GiB, maxOf, median, MiB, oneOf, parseSize, positiveInt, printHelp, printTable, progress, r1, r3, resetPeakRss,
  runMain, type Server, sizeLabel, type Source, sourceFile, spread, startServer, statusMiB, syncDisks, withTimeout
} from "./harness"
import {
  cleanPrefixLater, objectSize, partMd5s, rawMultipartUpload, rgwCpu, rgwCpuSince, rgwPids, type RgwSettings, s3Client,
  s3Env, startRgw
} from "./rgw"

const { values: opt } = parseArgs({
  options: {
    size: { type: "string", default: "512MiB" },
    chunk: { type: "string", default: "8MiB" },
    parallel: { type: "string", default: "1,4" },
    fsync: { type: "string", default: "both" },
    reps: { type: "string", default: "3" },
    timeout: { type: "string", default: "600" },
    storage: { type: "string", default: "local" },
    "raw-s3": { type: "string", default: "auto" },
    "keep-rgw": { type: "boolean", default: false },
    "data-dir": { type: "string", default: "/tmp/upload-bench/data" },
    "token-only": { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false }
  },
  strict: true
})

if (opt.help) printHelp(import.meta.path)
const sizes = opt.size.split(",").map(parseSize)
const chunk = parseSize(opt.chunk)
const parallels = opt.parallel.split(",").map((p) => positiveInt(p, "parallel"))
const fsyncChoice = oneOf(opt.fsync, "fsync", ["both", "on", "off"])
const fsyncs: Array<boolean> = fsyncChoice === "both" ? [true, false] : [fsyncChoice === "on"]
const reps = positiveInt(opt.reps, "reps")
const uploadTimeoutMs = positiveInt(opt.timeout, "timeout") * 1000
const storage = oneOf(opt.storage, "storage", ["local", "s3", "both"])
const rawChoice = oneOf(opt["raw-s3"], "raw-s3", ["auto", "on", "off"])
const benchLocal = storage !== "s3"
const benchS3 = storage !== "local"
const benchRaw = rawChoice === "on" || (rawChoice === "auto" && benchS3)
if (chunk <= 0) badArgument("--chunk must be positive")
const DATABASE_URL = process.env["DATABASE_URL"] || DEFAULT_DATABASE_URL
const RUN_ID = `${new Date().toISOString().replace(/[-:]/g, "").slice(0, 15)}-${process.pid}`

const serverEnv = (extra: Record<string, string>): Env => ({
  ...process.env,
  DATABASE_URL,
  HOST: "127.0.0.1",
  LOG_LEVEL: "warning",
  STORAGE_BACKEND: "local",
  UPLOAD_CHUNK_SIZE_DEFAULT: String(chunk),
  UPLOAD_CHUNK_SIZE_MIN: String(Math.min(chunk, 5 * MiB)),
  UPLOAD_CHUNK_SIZE_MAX: String(Math.max(chunk, 64 * MiB)),
  UPLOAD_MAX_FILE_SIZE: String(Math.max(...sizes, 5 * GiB)),
  ...extra
})

type StorageKind = "local" | "s3" | "raw-s3"

/** One upload's figures; NaN where a figure does not apply (no server for raw-s3, no RGW for local). */
interface Run {
  readonly mb_s: number
  readonly server_cpu_s_per_gib: number
  readonly rgw_cpu_s_per_gib: number
  readonly client_cpu_s_per_gib: number
  readonly server_peak_rss_mib: number
  readonly parts_seconds: number
  readonly complete_seconds: number
}

interface S3Context {
  readonly rgw: RgwSettings
  readonly s3: ReturnType<typeof s3Client>
}

/** RGW CPU over an upload: started before it, read after it (NaN when not measured). */
const rgwMeter = (measure: boolean) => {
  if (!measure) return () => ({ rgw_cpu_s: NaN })
  const pids = rgwPids()
  const start = rgwCpu(pids)
  return () => {
    const used = rgwCpuSince(pids, start)
    return {
      rgw_cpu_s: r3(used.radosgw + used.osd), radosgw_cpu_s: r3(used.radosgw), osd_cpu_s: r3(used.osd), mon_cpu_s: r3(used.mon),
      rgw_pids: [...pids.radosgw, ...pids.osd]
    }
  }
}

async function uploadOnce(
  server: Server, token: string, src: Source, parallel: number, measureRgw: boolean, tags: Record<string, unknown>
): Promise<Record<string, unknown> & Run> {
  const pid = server.pid
  const deadline = AbortSignal.timeout(uploadTimeoutMs)
  const rssStart = statusMiB(pid, "VmRSS")
  const peakReset = resetPeakRss(pid)
  const rgwDone = rgwMeter(measureRgw)
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
  const tp = performance.now()
  const putMs: Array<number> = []
  let next = 0 // parts are 1-based; `parallel` workers take the next one until none is left
  const worker = async () => {
    for (let k = next++; k < parts; k = next++) {
      const body = Bun.file(src.path).slice(k * chunk, Math.min(src.size, (k + 1) * chunk))
      const t = performance.now()
      await call("PUT", `${session}/parts/${k + 1}`, token, deadline, body, "application/octet-stream")
      putMs.push(performance.now() - t)
    }
  }
  await Promise.all(Array.from({ length: Math.min(parallel, parts) }, worker))
  const tc = performance.now()
  const done = await call("POST", `${session}/complete`, token, deadline)
  const t1 = performance.now()
  const cpu = cpuSeconds(pid) - cpu0
  const client = process.cpuUsage(client0)
  const rgw = rgwDone()
  const sha = field(done, "file", "sha256")
  if (sha !== src.sha256) fail(`complete returned sha256 ${String(sha)}, source is ${src.sha256}`)
  const seconds = (t1 - t0) / 1000
  const gib = src.size / GiB
  const clientCpu = (client.user + client.system) / 1e6
  return {
    tool: "portal-upload-bench", ok: true, ...tags, size: src.size, chunk, parts, parallel,
    seconds: r3(seconds), mb_s: r1(src.size / seconds / 1e6),
    create_seconds: r3((tp - t0) / 1000), parts_seconds: r3((tc - tp) / 1000), complete_seconds: r3((t1 - tc) / 1000),
    put_ms_p50: r1(median(putMs)), put_ms_max: r1(maxOf(putMs)),
    server_pid: pid, server_cpu_s: r3(cpu), server_cpu_s_per_gib: r3(cpu / gib),
    server_peak_rss_mib: r1(statusMiB(pid, "VmHWM")), server_peak_rss_reset: peakReset,
    server_rss_start_mib: r1(rssStart), server_rss_end_mib: r1(statusMiB(pid, "VmRSS")),
    ...rgw, rgw_cpu_s_per_gib: r3(rgw.rgw_cpu_s / gib),
    client_cpu_s: r3(clientCpu), client_cpu_s_per_gib: r3(clientCpu / gib), runtime: `bun ${Bun.version}`, at: new Date().toISOString()
  }
}

/** The ceiling: this process uploads `src` straight to RGW, as the server would, and nothing else. */
async function rawOnce(
  ctx: S3Context, key: string, src: Source, parallel: number, md5s: ReadonlyArray<string>, tags: Record<string, unknown>
): Promise<Record<string, unknown> & Run> {
  const rgwDone = rgwMeter(true)
  const client0 = process.cpuUsage()
  const timing = await rawMultipartUpload(ctx.s3, key, src, chunk, parallel, md5s, uploadTimeoutMs)
  const client = process.cpuUsage(client0)
  const rgw = rgwDone()
  const stored = await objectSize(ctx.s3, key) // outside timing
  if (stored !== src.size) fail(`raw upload: the object has ${stored} bytes, the source ${src.size}`)
  const gib = src.size / GiB
  const clientCpu = (client.user + client.system) / 1e6
  return {
    tool: "portal-upload-bench", ok: true, ...tags, size: src.size, chunk, parts: timing.parts, parallel, key,
    seconds: r3(timing.seconds), mb_s: r1(src.size / timing.seconds / 1e6),
    create_seconds: r3(timing.createSeconds), parts_seconds: r3(timing.partsSeconds), complete_seconds: r3(timing.completeSeconds),
    put_ms_p50: r1(median(timing.putMs)), put_ms_max: r1(maxOf(timing.putMs)),
    server_cpu_s_per_gib: NaN, server_peak_rss_mib: NaN,
    ...rgw, rgw_cpu_s_per_gib: r3(rgw.rgw_cpu_s / gib),
    client_cpu_s: r3(clientCpu), client_cpu_s_per_gib: r3(clientCpu / gib), runtime: `bun ${Bun.version}`, at: new Date().toISOString()
  }
}

interface Row {
  readonly storage: StorageKind
  readonly size: number
  readonly parallel: number
  readonly fsync: boolean | undefined
  readonly runs: ReadonlyArray<Run>
}

const prefixFor = (label: string) => `bench-${RUN_ID}/${label.replace(/[^A-Za-z0-9]+/g, "-")}/`

/** Runs `reps` uploads of one configuration; a failed upload ends the configuration (its state is unknown). */
async function repeat(label: string, once: (rep: number) => Promise<Record<string, unknown> & Run>): Promise<{ runs: Array<Run>; failed: boolean }> {
  const runs: Array<Run> = []
  for (let rep = 1; rep <= reps; rep++) {
    syncDisks() // flush earlier runs' dirty pages outside timing
    await Bun.sleep(500)
    try {
      const run = await once(rep)
      console.log(JSON.stringify(run))
      runs.push(run)
    } catch (error) {
      console.log(JSON.stringify({ tool: "portal-upload-bench", ok: false, label, error: String(error) }))
      return { runs, failed: true }
    }
  }
  return { runs, failed: false }
}

async function portalConfig(
  token: string, src: Source, parallel: number, fsync: boolean, ctx: S3Context | undefined
): Promise<{ row: Row; failed: boolean }> {
  const kind: StorageKind = ctx ? "s3" : "local"
  const label = ctx ? `${sizeLabel(src.size)} p=${parallel} s3` : `${sizeLabel(src.size)} p=${parallel} fsync=${fsync ? "on" : "off"}`
  const prefix = prefixFor(label)
  progress(`${label}: starting server${ctx ? ` (S3_PREFIX=${prefix})` : ""}`)
  const clean = ctx ? cleanPrefixLater(ctx.s3, ctx.rgw, prefix) : async () => undefined
  const dataDir = mkdtempSync(join(tmpdir(), "portal-bench-data-"))
  let result: { runs: Array<Run>; failed: boolean } = { runs: [], failed: true }
  try {
    const port = await freePort()
    const server = await startServer({
      label,
      argv: [BUN, "src/main.ts"],
      env: serverEnv({ DATA_DIR: dataDir, PORT: String(port), STORAGE_FSYNC: String(fsync), ...(ctx ? s3Env(ctx.rgw, prefix) : {}) }),
      port,
      dataDir
    })
    try {
      result = await repeat(label, () =>
        uploadOnce(server, token, src, parallel, ctx !== undefined, { label, storage: kind, fsync: ctx ? null : fsync, ...(ctx ? { s3_prefix: prefix } : {}) }))
    } finally {
      await server.stop()
    }
  } catch (error) {
    console.log(JSON.stringify({ tool: "portal-upload-bench", ok: false, label, error: String(error) }))
  } finally {
    rmSync(dataDir, { recursive: true, force: true }) // when the server never started (server.stop removes it too)
    await clean()
  }
  return { row: { storage: kind, size: src.size, parallel, fsync: ctx ? undefined : fsync, runs: result.runs }, failed: result.failed }
}

async function rawConfig(ctx: S3Context, src: Source, parallel: number, md5s: ReadonlyArray<string>): Promise<{ row: Row; failed: boolean }> {
  const label = `${sizeLabel(src.size)} p=${parallel} raw-s3`
  const prefix = prefixFor(label)
  progress(`${label}: uploading straight to ${ctx.rgw.endpoint} (prefix ${prefix})`)
  const clean = cleanPrefixLater(ctx.s3, ctx.rgw, prefix)
  let result: { runs: Array<Run>; failed: boolean } = { runs: [], failed: true }
  try {
    result = await repeat(label, (rep) => rawOnce(ctx, `${prefix}raw-${rep}`, src, parallel, md5s, { label, storage: "raw-s3", fsync: null }))
  } finally {
    await clean()
  }
  return { row: { storage: "raw-s3", size: src.size, parallel, fsync: undefined, runs: result.runs }, failed: result.failed }
}

const med = (runs: ReadonlyArray<Run>, pick: (run: Run) => number) => median(runs.map(pick))

async function main(): Promise<number> {
  await withTimeout(ensureDatabase(DATABASE_URL), 60_000, "database setup")
  const token = await createToken(serverEnv({}), 2 ** 40)
  if (opt["token-only"]) {
    console.log(token)
    return 0
  }
  let ctx: S3Context | undefined
  if (benchS3 || benchRaw) {
    const rgw = await startRgw(opt["keep-rgw"])
    ctx = { rgw, s3: s3Client(rgw) }
  }
  const rows: Array<Row> = []
  let failures = 0
  const add = (outcome: { row: Row; failed: boolean }) => {
    rows.push(outcome.row)
    if (outcome.failed) failures++
  }
  for (const size of sizes) {
    const src = await sourceFile(opt["data-dir"], size)
    if (benchLocal) {
      for (const fsync of fsyncs) {
        for (const parallel of parallels) add(await portalConfig(token, src, parallel, fsync, undefined))
      }
    }
    if (ctx) {
      const md5s = benchRaw ? await partMd5s(src, chunk) : []
      for (const parallel of parallels) {
        if (benchS3) add(await portalConfig(token, src, parallel, false, ctx))
        if (benchRaw) add(await rawConfig(ctx, src, parallel, md5s))
      }
    }
  }

  console.log(`\nportal upload bench: chunk ${sizeLabel(chunk)}, ${reps} rep(s), bun ${Bun.version}, ${new Date().toISOString()}\n`)
  printTable(
    ["storage", "size", "parallel", "fsync", "ok runs", "MB/s min / **median** / max", "srv CPU s/GiB (med)", "RGW CPU s/GiB (med)",
      "client CPU s/GiB (med)", "srv peak RSS MiB med / max", "parts s / complete s (med)"],
    rows.map((row) => {
      const rss = row.runs.map((r) => r.server_peak_rss_mib)
      return [
        row.storage === "raw-s3" ? "raw S3 (ceiling)" : row.storage === "s3" ? "portal, S3" : "portal, local",
        sizeLabel(row.size), String(row.parallel), row.fsync === undefined ? "n/a" : row.fsync ? "on" : "off",
        `${row.runs.length}/${reps}`, spread(row.runs.map((r) => r.mb_s)),
        fmt(med(row.runs, (r) => r.server_cpu_s_per_gib), 2), fmt(med(row.runs, (r) => r.rgw_cpu_s_per_gib), 2),
        fmt(med(row.runs, (r) => r.client_cpu_s_per_gib), 2),
        row.storage === "raw-s3" ? "–" : `${fmt(median(rss))} / ${fmt(Math.max(...rss))}`,
        `${fmt(med(row.runs, (r) => r.parts_seconds), 2)} / ${fmt(med(row.runs, (r) => r.complete_seconds), 2)}`
      ]
    })
  )

  const pairs = rows.flatMap((row) => {
    if (row.storage !== "s3") return []
    const raw = rows.find((other) => other.storage === "raw-s3" && other.size === row.size && other.parallel === row.parallel)
    return raw ? [{ portal: row, raw }] : []
  })
  if (pairs.length > 0) {
    console.log("\nportal on S3 against the raw multipart ceiling (medians; ratio = portal / raw)\n")
    printTable(
      ["size", "parallel", "portal MB/s", "raw MB/s", "**MB/s ratio**", "portal srv CPU s/GiB", "RGW CPU s/GiB portal / raw", "RGW CPU ratio",
        "parts s portal / raw", "complete s portal / raw"],
      pairs.map(({ portal, raw }) => {
        const [portalMbs, rawMbs] = [med(portal.runs, (r) => r.mb_s), med(raw.runs, (r) => r.mb_s)]
        const [portalRgw, rawRgw] = [med(portal.runs, (r) => r.rgw_cpu_s_per_gib), med(raw.runs, (r) => r.rgw_cpu_s_per_gib)]
        return [
          sizeLabel(portal.size), String(portal.parallel), fmt(portalMbs), fmt(rawMbs), `**${fmt(portalMbs / rawMbs, 2)}**`,
          fmt(med(portal.runs, (r) => r.server_cpu_s_per_gib), 2), `${fmt(portalRgw, 2)} / ${fmt(rawRgw, 2)}`, fmt(portalRgw / rawRgw, 2),
          `${fmt(med(portal.runs, (r) => r.parts_seconds), 2)} / ${fmt(med(raw.runs, (r) => r.parts_seconds), 2)}`,
          `${fmt(med(portal.runs, (r) => r.complete_seconds), 2)} / ${fmt(med(raw.runs, (r) => r.complete_seconds), 2)}`
        ]
      })
    )
  }
  return failures === 0 ? 0 : 1
}

await runMain(main)
