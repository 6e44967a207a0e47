/**
 * Delivers outbox events to WEBHOOK_URL, at least once. Each round claims the due events
 * (FOR UPDATE SKIP LOCKED, marked SENDING with a lease), POSTs each as signed JSON, and
 * records the outcome: DELIVERED on a 2xx; otherwise back to PENDING with an exponential,
 * jittered delay, or FAILED after the last attempt. Several instances relay side by side
 * without sending one event twice at the same time; an event held by an instance that died
 * is claimed again when its lease runs out. A log line per delivered or given-up event, and
 * for failures that will be retried, one summary line a minute. Errors are stored and logged
 * without the secrets of WEBHOOK_URL.
 */
import { FetchHttpClient, HttpClient, HttpClientRequest } from "@effect/platform"
import { Clock, DateTime, Duration, Effect, Option, Random, Redacted } from "effect"
import { hostname } from "node:os"
import { PortalConfig } from "../Config"
import type { OutboxEvent } from "../Domain/Outbox"
import { leaseTiming, renewingWhile } from "../Lease"
import { Metrics } from "../Operations/Metrics"
import { redactorConfig } from "../Redaction"
import { OutboxRepo } from "./OutboxRepo"
import {
  EVENT_ID_HEADER,
  EVENT_TYPE_HEADER,
  SIGNATURE_HEADER,
  sign,
  TIMESTAMP_HEADER,
  webhookBody
} from "./Webhook"

/** Events sent at the same time by one relay. */
const CONCURRENCY = 4

/** At most one warning about failed attempts this often. */
const FAILURE_LOG_INTERVAL = Duration.minutes(1)

/**
 * The wait before attempt `attempt + 1`: base · 2^(attempt-1), capped, times a random factor in
 * [0.75, 1]; consecutive ranges do not overlap, so the waits grow while relays spread out.
 */
export const backoffMillis = (base: Duration.Duration, max: Duration.Duration, attempt: number, random: number) =>
  Math.min(Duration.toMillis(max), Duration.toMillis(base) * 2 ** (attempt - 1)) * (0.75 + 0.25 * random)

export class Relay extends Effect.Service<Relay>()("Portal/Relay", {
  effect: Effect.gen(function*() {
    const { webhook } = yield* PortalConfig
    const { scrub } = yield* redactorConfig
    const repo = yield* OutboxRepo
    const client = yield* HttpClient.HttpClient
    const metrics = yield* Metrics
    /** Who holds a lease: recorded in leased_by, for operators and for the lease checks. */
    const relayId = `${hostname()}:${process.pid}:${Bun.randomUUIDv7().slice(-8)}`

    /** One POST; fails with a short description of what went wrong. */
    const send = (url: string, event: OutboxEvent) =>
      Effect.gen(function*() {
        const body = webhookBody(event)
        const timestamp = String(Math.floor((yield* Clock.currentTimeMillis) / 1000))
        const request = HttpClientRequest.post(url).pipe(
          HttpClientRequest.setHeaders({
            [EVENT_ID_HEADER]: event.event_id,
            [EVENT_TYPE_HEADER]: event.event_type,
            [TIMESTAMP_HEADER]: timestamp,
            ...Option.match(webhook.secret, {
              onNone: () => ({}),
              onSome: (secret) => ({ [SIGNATURE_HEADER]: sign(Redacted.value(secret), timestamp, body) })
            })
          }),
          HttpClientRequest.bodyText(body, "application/json")
        )
        const response = yield* client.execute(request)
        // read the body so the connection can be reused; its content does not matter
        yield* Effect.ignore(response.text)
        if (response.status < 200 || response.status > 299) return yield* Effect.fail(`HTTP ${response.status}`)
        return response.status
      }).pipe(
        Effect.timeoutFail({ duration: webhook.timeout, onTimeout: () => `no answer within ${Duration.format(webhook.timeout)}` }),
        Effect.mapError((error) => (typeof error === "string" ? error : error.message))
      )

    /**
     * Sends one event and records the outcome. Delivered and given-up events get a log line
     * each; a failure that will be retried is logged at debug level only, and counted for the
     * round's summary line (see `logFailures`).
     */
    const deliver = (url: string, event: OutboxEvent) =>
      Effect.gen(function*() {
        const attempt = event.attempt_count + 1
        const started = yield* Clock.currentTimeMillis
        const outcome = yield* Effect.either(send(url, event))
        const now = yield* DateTime.now
        const duration_ms = DateTime.toEpochMillis(now) - started
        if (outcome._tag === "Right") {
          yield* metrics.deliveryAttempt("delivered")
          const marked = yield* repo.markDelivered({ id: event.id, relay: relayId, now })
          yield* Effect.logInfo("webhook delivery").pipe(Effect.annotateLogs({
            outcome: Option.isSome(marked) ? "delivered" : "delivered-lease-lost",
            http_status: outcome.right,
            duration_ms
          }))
          return Option.none<string>()
        }
        const error = scrub(outcome.left).slice(0, 1000)
        const wait = backoffMillis(webhook.backoffBase, webhook.backoffMax, attempt, yield* Random.next)
        const marked = yield* repo.markAttemptFailed({
          id: event.id,
          relay: relayId,
          error,
          retryAt: DateTime.addDuration(now, Duration.millis(wait)),
          maxAttempts: webhook.maxAttempts
        })
        const gaveUp = Option.exists(marked, (row) => row.status === "FAILED")
        yield* metrics.deliveryAttempt(gaveUp ? "gave_up" : "failed")
        const line = Effect.annotateLogs({
          outcome: Option.isNone(marked) ? "failed-lease-lost" : gaveUp ? "gave-up" : "retry",
          error,
          duration_ms,
          ...(gaveUp ? {} : { retry_in_ms: Math.round(wait) })
        })
        yield* (gaveUp ? Effect.logWarning("webhook delivery") : Effect.logDebug("webhook delivery")).pipe(line)
        return gaveUp ? Option.none<string>() : Option.some(error)
      }).pipe(Effect.annotateLogs({ event_id: event.event_id, event_type: event.event_type, attempt: event.attempt_count + 1 }))

    /**
     * One warning for failed attempts, at most every FAILURE_LOG_INTERVAL: with a receiver down
     * for an hour the log gets a line a minute saying how many attempts failed and why, not a
     * line per attempt per event.
     */
    let failuresSinceLine = { attempts: 0, errors: new Map<string, number>() }
    let lastFailureLine = Number.NEGATIVE_INFINITY
    const logFailures = (errors: ReadonlyArray<string>) =>
      Effect.gen(function*() {
        for (const error of errors) {
          failuresSinceLine.attempts++
          failuresSinceLine.errors.set(error, (failuresSinceLine.errors.get(error) ?? 0) + 1)
        }
        const now = yield* Clock.currentTimeMillis
        if (failuresSinceLine.attempts === 0 || now - lastFailureLine < Duration.toMillis(FAILURE_LOG_INTERVAL)) return
        const { attempts, errors: seen } = failuresSinceLine
        failuresSinceLine = { attempts: 0, errors: new Map() }
        lastFailureLine = now
        yield* Effect.logWarning("webhook deliveries failed; they will be retried").pipe(Effect.annotateLogs({
          outcome: "retry",
          failed_attempts: attempts,
          errors: [...seen].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([error, n]) => `${n}× ${error}`).join("; ")
        }))
      })

    const lease = leaseTiming(webhook.lease)

    /**
     * One round: claim what is due and send it, renewing the leases of what is still being
     * sent for as long as the round lasts. Answers how many events it handled.
     */
    const deliverDue = Effect.gen(function*() {
      if (Option.isNone(webhook.url)) return 0
      const url = webhook.url.value
      const claimed = yield* repo.claimDue({ relay: relayId, now: yield* DateTime.now, limit: webhook.batchSize, lease: webhook.lease })
      const sending = new Set(claimed.map((event) => event.id))
      const sendAll = Effect.forEach(
        claimed,
        (event) => deliver(url, event).pipe(Effect.ensuring(Effect.sync(() => sending.delete(event.id)))),
        { concurrency: CONCURRENCY }
      )
      const renew = Effect.suspend(() =>
        sending.size === 0 ? Effect.void : repo.renewLeases({ relay: relayId, ids: [...sending], lease: webhook.lease })
      )
      const failures = yield* sendAll.pipe(renewingWhile(lease, renew))
      yield* logFailures(failures.flatMap(Option.toArray))
      return claimed.length
    }).pipe(Effect.withSpan("Relay.deliverDue"))

    return { deliverDue } as const
  }),
  dependencies: [OutboxRepo.Default, FetchHttpClient.layer, Metrics.Default]
}) {}

/** Relays while the instance runs, when WEBHOOK_URL is set; a full round goes again at once. */
export const RelayBackground = Effect.gen(function*() {
  const { webhook } = yield* PortalConfig
  if (Option.isNone(webhook.url)) {
    return yield* Effect.logInfo("WEBHOOK_URL is not set: events are kept in the outbox, not delivered")
  }
  if (Option.isNone(webhook.secret)) yield* Effect.logWarning("WEBHOOK_SECRET is not set: webhooks are sent unsigned")
  const relay = yield* Relay
  while (true) {
    const handled = yield* relay.deliverDue.pipe(
      Effect.catchAllCause((cause) => Effect.as(Effect.logError("relay round failed", cause), 0))
    )
    if (handled < webhook.batchSize) yield* Effect.sleep(webhook.pollInterval)
  }
})
