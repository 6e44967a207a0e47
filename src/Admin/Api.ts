/** Operator endpoints; admins only. */
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "@effect/platform"
import { Schema } from "effect"
import { Authentication } from "../Auth/Authentication"
import { EventNotRetryable, Forbidden, NotFound } from "../Domain/Errors"
import { EventId } from "../Domain/Ids"
import { OutboxEvent, OutboxStatus } from "../Domain/Outbox"
import { PageLimit } from "../Domain/Page"
import { SweepReport } from "../Domain/Sweep"

export class OutboxPage extends Schema.Class<OutboxPage>("OutboxPage")({
  items: Schema.Array(OutboxEvent),
  next_cursor: Schema.NullOr(Schema.String).annotations({ description: "Pass as ?cursor= for the next page" })
}) {}

export class AdminApi extends HttpApiGroup.make("admin")
  .add(
    HttpApiEndpoint.post("sweep", "/admin/sweep")
      .addSuccess(SweepReport)
      .addError(Forbidden)
      .annotate(OpenApi.Summary, "Run the sweeper now: end expired sessions, remove leftover staging")
  )
  .add(
    HttpApiEndpoint.get("outbox", "/admin/outbox")
      .setUrlParams(Schema.Struct({
        status: Schema.optional(OutboxStatus),
        cursor: Schema.optional(EventId),
        limit: Schema.optional(PageLimit)
      }))
      .addSuccess(OutboxPage)
      .addError(Forbidden)
      .annotate(OpenApi.Summary, "Outbox events, newest first, optionally of one status (PENDING, SENDING, DELIVERED, FAILED)")
  )
  .add(
    HttpApiEndpoint.post("retryEvent")`/admin/outbox/${HttpApiSchema.param("id", EventId)}/retry`
      .addSuccess(OutboxEvent)
      .addError(Forbidden)
      .addError(NotFound)
      .addError(EventNotRetryable)
      .annotate(OpenApi.Summary, "Send a FAILED event again: back to PENDING, due now, with a full set of attempts")
  )
  .middleware(Authentication)
  .annotate(OpenApi.Description, "For admins only; other users get 403")
{}
