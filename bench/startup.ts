#!/usr/bin/env bun
/**
 * Start-up of the embedded default (no DATABASE_URL: PGlite under DATA_DIR): the time from
 * spawning `bun src/main.ts` on an empty DATA_DIR until GET /health answers 200, and the peak RSS
 * at that moment; then, after a SIGTERM, the same for later starts on the same DATA_DIR. Prints
 * one JSON line per start on stdout, then a markdown table (min / median / max); progress goes
 * to stderr.
 *
 *   bun bench/startup.ts [--reps 3] [--restarts 1 (later starts per rep)] [--fsync on|off]
 *                        [--poll 10 (ms between probes)] [--timeout 120 (s to healthy)]
 *
 * Each rep: a fresh empty DATA_DIR, a first start (creates the database, migrates, creates the
 * admin), SIGTERM, then --restarts later starts on that DATA_DIR, each stopped with SIGTERM; the
 * DATA_DIR is removed at the end of the rep. GET /health is probed every --poll ms (each probe has
 * a 1 s limit); "listening" is the first probe that got any HTTP answer, "healthy" the first 200.
 * Peak RSS is VmHWM of the server's PID (bun's: no wrapper), read right after the first 200
 * (RSS is also sampled at every probe: "rss max sampled"). CPU is utime+stime up to healthy; the
 * stop time is SIGTERM → exit. STORAGE_FSYNC is --fsync (default on, the service's default).
 */
import { closeSync, openSync, readFileSync, rmSync } from "node:fs"
import { parseArgs } from "node:util"
import {
  BUN, cpuSecondsOrNaN, type Env, fail, fmt, freePort, logPath, median, oneOf, onCleanup, positiveInt, printHelp,
  printTable, progress, r1, r3, ROOT, runMain, scratchDir, spread, statusMiB, withTimeout
} from "./harness"

const { values: opt } = parseArgs({
  options: {
    reps: { type: "string", default: "3" },
    restarts: { type: "string", default: "1" },
    fsync: { type: "string", default: "on" },
    poll: { type: "string", default: "10" },
    timeout: { type: "string", default: "120" },
    help: { type: "boolean", short: "h", default: false }
  },
  strict: true
})

if (opt.help) printHelp(import.meta.path)
const reps = positiveInt(opt.reps, "reps")
const restarts = positiveInt(opt.restarts, "restarts")
const fsync = oneOf(opt.fsync, "fsync", ["on", "off"]) === "on"
const pollMs = positiveInt(opt.poll, "poll")
const healthTimeoutMs = positiveInt(opt.timeout, "timeout") * 1000

/** The environment without anything that points the server elsewhere (DATABASE_URL, S3). */
const embeddedEnv = (extra: Record<string, string>): Env => {
  const env: Env = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (key !== "DATABASE_URL" && key !== "STORAGE_BACKEND" && !key.startsWith("S3_")) env[key] = value
  }
  return { ...env, HOST: "127.0.0.1", LOG_LEVEL: "warning", STORAGE_FSYNC: String(fsync), ...extra }
}

const KINDS: ReadonlyArray<"first" | "later"> = ["first", "later"]

interface Start {
  readonly kind: "first" | "later"
  readonly healthy_ms: number
  readonly listening_ms: number
  readonly peak_rss_mib: number
  readonly rss_at_healthy_mib: number
  readonly cpu_s: number
  readonly stop_s: number
}

/** One start on `dataDir`: spawn, probe until 200, read VmHWM, SIGTERM, wait for the exit. */
async function startOnce(dataDir: string, kind: "first" | "later", rep: number, index: number): Promise<Record<string, unknown> & Start> {
  const port = await freePort()
  const label = `startup-${kind}-${rep}-${index}`
  const log = logPath(label)
  const fd = openSync(log, "w")
  const t0 = performance.now()
  const proc = Bun.spawn([BUN, "src/main.ts"], {
    cwd: ROOT, env: embeddedEnv({ DATA_DIR: dataDir, PORT: String(port) }), stdin: "ignore", stdout: fd, stderr: fd
  })
  closeSync(fd)
  const pid = proc.pid
  const stop = async (): Promise<number> => {
    const t = performance.now()
    proc.kill("SIGTERM")
    const exited = await withTimeout(proc.exited, 10_000, "server SIGTERM").then(() => true, () => false)
    if (!exited) {
      proc.kill("SIGKILL")
      await withTimeout(proc.exited, 5000, "server SIGKILL")
      fail(`${label}: did not exit within 10 s of SIGTERM; ${log}`)
    }
    return (performance.now() - t) / 1000
  }
  const unregister = onCleanup(`server ${label} (pid ${pid})`, () => stop().then(() => undefined))
  let listening = NaN
  let healthy = NaN
  let rssMax = 0
  let lastStatus = 0
  for (const deadline = t0 + healthTimeoutMs; performance.now() < deadline; await Bun.sleep(pollMs)) {
    if (proc.exitCode !== null || proc.signalCode !== null) break
    try {
      rssMax = Math.max(rssMax, statusMiB(pid, "VmRSS"))
    } catch {
      // not in /proc yet or gone: the exit check above decides
    }
    lastStatus = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(1000) })
      .then(async (res) => (await res.arrayBuffer(), res.status), () => 0)
    const now = performance.now()
    if (lastStatus > 0 && Number.isNaN(listening)) listening = now - t0
    if (lastStatus === 200) {
      healthy = now - t0
      break
    }
  }
  const peak = Number.isNaN(healthy) ? NaN : statusMiB(pid, "VmHWM")
  const rssNow = Number.isNaN(healthy) ? NaN : statusMiB(pid, "VmRSS")
  const cpu = cpuSecondsOrNaN(pid)
  const exitedEarly = proc.exitCode !== null || proc.signalCode !== null
  unregister()
  const stopSeconds = exitedEarly ? NaN : await stop()
  if (Number.isNaN(healthy)) {
    fail(`${label}: ${exitedEarly ? `exited (${proc.exitCode ?? proc.signalCode})` : `not healthy within ${healthTimeoutMs / 1000} s (last status ${lastStatus})`}` +
      ` before GET /health answered 200; ${log}:\n${readFileSync(log, "utf8").slice(-2000)}`)
  }
  return {
    tool: "portal-startup-bench", ok: true, kind, rep, start: index, fsync,
    healthy_ms: r1(healthy), listening_ms: r1(listening), peak_rss_mib: r1(peak), rss_at_healthy_mib: r1(rssNow), rss_max_sampled_mib: r1(rssMax),
    cpu_s: r3(cpu), stop_s: r3(stopSeconds), exit_code: proc.exitCode, server_pid: pid, log,
    runtime: `bun ${Bun.version}`, at: new Date().toISOString()
  }
}

async function main(): Promise<number> {
  const starts: Array<Start> = []
  let failures = 0
  for (let rep = 1; rep <= reps; rep++) {
    const dataDir = scratchDir("portal-startup-")
    const removeDir = onCleanup(`remove ${dataDir}`, async () => rmSync(dataDir, { recursive: true, force: true }))
    try {
      for (let index = 0; index <= restarts; index++) {
        const kind = index === 0 ? "first" : "later"
        progress(`rep ${rep}: ${kind} start${index > 0 ? ` ${index}` : ""} on ${dataDir}`)
        try {
          const run = await startOnce(dataDir, kind, rep, index)
          console.log(JSON.stringify(run))
          starts.push(run)
        } catch (error) {
          failures++
          console.log(JSON.stringify({ tool: "portal-startup-bench", ok: false, kind, rep, start: index, error: String(error) }))
          break // the later starts of this DATA_DIR would measure something else
        }
      }
    } finally {
      removeDir()
      rmSync(dataDir, { recursive: true, force: true })
    }
  }
  console.log(`\nstart-up, embedded database (PGlite), STORAGE_FSYNC=${fsync}, ${reps} rep(s) x (1 first + ${restarts} later), ` +
    `probe every ${pollMs} ms, bun ${Bun.version}, ${new Date().toISOString()}\n`)
  printTable(
    ["start", "ok", "to healthy ms min / **median** / max", "listening ms (med)", "peak RSS MiB min / **median** / max", "RSS at healthy MiB (med)", "CPU s to healthy (med)",
      "SIGTERM → exit s (med)"],
    KINDS.map((kind) => {
      const list = starts.filter((s) => s.kind === kind)
      return [
        kind === "first" ? "first (empty DATA_DIR)" : "later (same DATA_DIR)", `${list.length}/${kind === "first" ? reps : reps * restarts}`,
        spread(list.map((s) => s.healthy_ms), 0), fmt(median(list.map((s) => s.listening_ms))),
        spread(list.map((s) => s.peak_rss_mib), 0), fmt(median(list.map((s) => s.rss_at_healthy_mib))), fmt(median(list.map((s) => s.cpu_s)), 2), fmt(median(list.map((s) => s.stop_s)), 2)
      ]
    })
  )
  return failures === 0 ? 0 : 1
}

await runMain(main)
