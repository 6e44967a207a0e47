/**
 * The wire format of a delivered event, and its signature:
 *   body   {"event_id", "event_type", "occurred_at", "data"}
 *   X-Portal-Signature: sha256=<hex HMAC-SHA256 of `${X-Portal-Timestamp}.${body}` with WEBHOOK_SECRET>
 * A receiver recomputes the HMAC over the raw body it got, compares in constant time, and
 * rejects timestamps far from its own clock (replays).
 */
import { createHmac, timingSafeEqual } from "node:crypto"
import type { OutboxEvent } from "../Domain/Outbox"
import { DateTime } from "effect"

export const EVENT_ID_HEADER = "x-portal-event-id"
export const EVENT_TYPE_HEADER = "x-portal-event-type"
export const TIMESTAMP_HEADER = "x-portal-timestamp"
export const SIGNATURE_HEADER = "x-portal-signature"

export const webhookBody = (event: OutboxEvent): string =>
  JSON.stringify({
    event_id: event.event_id,
    event_type: event.event_type,
    occurred_at: DateTime.formatIso(event.occurred_at),
    data: event.payload
  })

export const sign = (secret: string, timestamp: string, body: string): string =>
  `sha256=${createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex")}`

/** What a receiver does; also used by the tests. */
export const verifySignature = (secret: string, timestamp: string, body: string, signature: string): boolean => {
  const expected = Buffer.from(sign(secret, timestamp, body))
  const given = Buffer.from(signature)
  return expected.byteLength === given.byteLength && timingSafeEqual(expected, given)
}
