/**
 * The service's Prometheus metrics, served by GET /metrics (MetricsHttp.ts). Each instance of
 * the application has a prom-client Registry of its own, so several apps in one process (tests,
 * embedders) count apart. Features count what happens where it happens, with one-line calls
 * that only touch counters in memory; the request series come from the request log
 * (RequestLog.ts); what the database and the pool know is read at scrape time (MetricsHttp.ts).
 */
import { Effect } from "effect"
import { Counter, Gauge, Histogram, Registry } from "prom-client"
import { noteBytesIn } from "./CurrentRequest"

/** Up to two minutes: a large part on a slow link is still a request. */
const REQUEST_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120]
/** Assembling a file of several GiB takes a while. */
const FINALIZE_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600]

const STORED = { outcome: "stored" } as const
const ALREADY_RECEIVED = { outcome: "already_received" } as const

/** What became of one webhook delivery attempt: sent, failed (to be retried), or the last one failed. */
export type DeliveryOutcome = "delivered" | "failed" | "gave_up"

export class Metrics extends Effect.Service<Metrics>()("Portal/Metrics", {
  sync: () => {
    const registry = new Registry()
    const registers = [registry]
    const counter = <L extends string = never>(name: string, help: string, labelNames: ReadonlyArray<L> = []) =>
      new Counter<L>({ name, help, labelNames, registers })

    const requests = counter("http_requests_total", "HTTP requests answered, by method, route template and status", [
      "method",
      "route",
      "status"
    ])
    const requestDuration = new Histogram({
      name: "http_request_duration_seconds",
      help: "Time from a request's arrival to its answer, by method, route template and status",
      labelNames: ["method", "route", "status"],
      buckets: REQUEST_BUCKETS,
      registers
    })
    const partBytes = counter("portal_part_bytes_received_total", "Bytes of part bodies accepted", ["outcome"])
    const parts = counter(
      "portal_parts_received_total",
      "Parts accepted: stored, or already_received (a retry with the same bytes, counted once in the session)",
      ["outcome"]
    )
    const created = counter("portal_sessions_created_total", "Upload sessions created")
    const completed = counter("portal_sessions_completed_total", "Upload sessions completed: their file STORED")
    const aborted = counter("portal_sessions_aborted_total", "Upload sessions aborted by their owner")
    const expired = counter("portal_sessions_expired_total", "Upload sessions ended by the sweeper past their expiry")
    const failed = counter("portal_sessions_failed_total", "Upload sessions failed at completion (SHA-256 mismatch)")
    const finalizeDuration = new Histogram({
      name: "portal_finalize_duration_seconds",
      help: "Time to assemble, hash and commit a completed session's file",
      buckets: FINALIZE_BUCKETS,
      registers
    })
    const quotaRefusals = counter("portal_quota_refusals_total", "Session creations refused for the owner's quota (429)")
    const deliveries = counter("portal_outbox_delivery_attempts_total", "Webhook delivery attempts, by outcome", ["outcome"])

    // the process series prom-client's collectDefaultMetrics would give, those Bun reports truly
    new Counter({
      name: "process_cpu_seconds_total",
      help: "User and system CPU time spent, in seconds",
      registers,
      collect() {
        const { system, user } = process.cpuUsage()
        this.reset()
        this.inc((user + system) / 1e6)
      }
    })
    new Gauge({ name: "process_start_time_seconds", help: "Start time of the process since the Unix epoch, in seconds", registers })
      .set(Math.round(Date.now() / 1000 - process.uptime()))
    new Gauge({
      name: "process_resident_memory_bytes",
      help: "Resident memory size, in bytes",
      registers,
      collect() {
        this.set(process.memoryUsage.rss())
      }
    })

    /** A request answered; called by the request log, once per request. */
    const observeRequest = (method: string, route: string, status: number, seconds: number) => {
      const labels = { method, route, status: String(status) }
      requests.inc(labels)
      requestDuration.observe(labels, seconds)
    }

    /** A part body accepted; the request log counts it as bytes in when no Content-Length said. */
    const partReceived = (part: { readonly size_bytes: number; readonly already_received: boolean }) =>
      Effect.suspend(() => {
        const labels = part.already_received ? ALREADY_RECEIVED : STORED
        parts.inc(labels)
        partBytes.inc(labels, part.size_bytes)
        return noteBytesIn(part.size_bytes)
      })

    const inc = (metric: Counter, by = 1) => Effect.sync(() => metric.inc(by))

    /** Observes how long `assemble` takes, however it ends. */
    const timeFinalize = <A, E, R>(assemble: Effect.Effect<A, E, R>) =>
      Effect.suspend(() => {
        const end = finalizeDuration.startTimer()
        return Effect.ensuring(assemble, Effect.sync(() => void end()))
      })

    return {
      /** Where the scrape-time gauges (MetricsHttp.ts) register too. */
      registry,
      observeRequest,
      partReceived,
      sessionCreated: inc(created),
      sessionCompleted: inc(completed),
      sessionAborted: inc(aborted),
      sessionFailed: inc(failed),
      sessionsExpired: (count: number) => (count > 0 ? inc(expired, count) : Effect.void),
      quotaRefused: inc(quotaRefusals),
      deliveryAttempt: (outcome: DeliveryOutcome) => Effect.sync(() => deliveries.inc({ outcome })),
      timeFinalize,
      /** The exposition text, and its content type. */
      render: Effect.promise(() => registry.metrics()).pipe(
        Effect.map((text) => ({ text, contentType: registry.contentType }))
      )
    } as const
  }
}) {}
