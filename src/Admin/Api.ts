/** Operator endpoints; admins only. */
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "@effect/platform"
import { Schema } from "effect"
import { Authentication } from "../Auth/Authentication"
import { EventNotRetryable, Forbidden, InvalidRequest, NotFound, UserNameTaken } from "../Domain/Errors"
import { EventId, TokenId, UserId } from "../Domain/Ids"
import { OutboxEvent, OutboxStatus } from "../Domain/Outbox"
import { PageLimit } from "../Domain/Page"
import { SweepReport } from "../Domain/Sweep"
import { ApiToken, IssuedApiToken, QuotaBytes, TokenName, User, UserName } from "../Domain/User"

export class OutboxPage extends Schema.Class<OutboxPage>("OutboxPage")({
  items: Schema.Array(OutboxEvent),
  next_cursor: Schema.NullOr(Schema.String).annotations({ description: "Pass as ?cursor= for the next page" })
}, { description: "A page of outbox events, newest first" }) {}

export class UserPage extends Schema.Class<UserPage>("UserPage")({
  items: Schema.Array(User),
  next_cursor: Schema.NullOr(Schema.String).annotations({ description: "Pass as ?cursor= for the next page" })
}, { description: "A page of users, newest first" }) {}

export class TokenPage extends Schema.Class<TokenPage>("TokenPage")({
  items: Schema.Array(ApiToken),
  next_cursor: Schema.NullOr(Schema.String).annotations({ description: "Pass as ?cursor= for the next page" })
}, { description: "A page of API tokens, newest first" }) {}

export class CreateUserRequest extends Schema.Class<CreateUserRequest>("CreateUserRequest")({
  name: UserName,
  is_admin: Schema.optional(Schema.Boolean).annotations({ description: "Default false" }),
  quota_bytes: Schema.optional(QuotaBytes).annotations({ description: "Default UPLOAD_DEFAULT_QUOTA" }),
  issue_token: Schema.optional(Schema.Boolean).annotations({
    description: "Issue the user's first API token with it (default true); its secret is in this answer only"
  }),
  token_name: Schema.optional(TokenName).annotations({ description: "Name of that first token (default \"default\")" })
}) {}

export class CreatedUser extends Schema.Class<CreatedUser>("CreatedUser")({
  user: User,
  token: Schema.NullOr(IssuedApiToken).annotations({
    description: "The first API token with its secret, shown this once; null with issue_token: false"
  })
}, { description: "The new user, and its first API token" }) {}

export class UpdateUserRequest extends Schema.Class<UpdateUserRequest>("UpdateUserRequest")({
  quota_bytes: Schema.optional(QuotaBytes),
  is_admin: Schema.optional(Schema.Boolean).annotations({
    description: "With AUTH_JWT_ADMIN_GROUP set, a user created from a JWT gets it from its groups again at its next request"
  })
}) {}

export class IssueTokenRequest extends Schema.Class<IssueTokenRequest>("IssueTokenRequest")({
  name: Schema.optional(TokenName).annotations({ description: "Default \"default\"" })
}) {}

const userPath = HttpApiSchema.param("id", UserId)

export class AdminApi extends HttpApiGroup.make("admin")
  .add(
    HttpApiEndpoint.post("sweep", "/admin/sweep")
      .addSuccess(SweepReport)
      .addError(Forbidden)
      .annotate(OpenApi.Identifier, "runSweep")
      .annotate(OpenApi.Summary, "Run the sweeper now: end expired sessions, remove leftover staging")
      .annotate(OpenApi.Description, "What every instance does each SWEEP_INTERVAL; several may run at once.")
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
      .annotate(OpenApi.Identifier, "listOutboxEvents")
      .annotate(OpenApi.Summary, "Outbox events, newest first, optionally of one status (PENDING, SENDING, DELIVERED, FAILED)")
      .annotate(OpenApi.Description, "Cursor pagination: pass next_cursor as ?cursor= until it is null.")
  )
  .add(
    HttpApiEndpoint.post("retryEvent")`/admin/outbox/${HttpApiSchema.param("id", EventId)}/retry`
      .addSuccess(OutboxEvent)
      .addError(Forbidden)
      .addError(NotFound)
      .addError(EventNotRetryable)
      .annotate(OpenApi.Identifier, "retryOutboxEvent")
      .annotate(OpenApi.Summary, "Send a FAILED event again: back to PENDING, due now, with a full set of attempts")
      .annotate(OpenApi.Description, "Only a FAILED event can be retried; any other is 409.")
  )
  .add(
    HttpApiEndpoint.get("listUsers", "/admin/users")
      .setUrlParams(Schema.Struct({ cursor: Schema.optional(UserId), limit: Schema.optional(PageLimit) }))
      .addSuccess(UserPage)
      .addError(Forbidden)
      .annotate(OpenApi.Identifier, "listUsers")
      .annotate(OpenApi.Summary, "Users, newest first")
      .annotate(OpenApi.Description, "Cursor pagination: pass next_cursor as ?cursor= until it is null.")
  )
  .add(
    HttpApiEndpoint.post("createUser", "/admin/users")
      .setPayload(CreateUserRequest)
      .addSuccess(CreatedUser, { status: 201 })
      .addError(Forbidden)
      .addError(InvalidRequest)
      .addError(UserNameTaken)
      .annotate(OpenApi.Identifier, "createUser")
      .annotate(
        OpenApi.Summary,
        "Create a user, with its first API token unless issue_token is false (the secret is shown once, here)"
      )
      .annotate(OpenApi.Description, "Names are unique (409 otherwise); the quota defaults to UPLOAD_DEFAULT_QUOTA.")
  )
  .add(
    HttpApiEndpoint.patch("updateUser")`/admin/users/${userPath}`
      .setPayload(UpdateUserRequest)
      .addSuccess(User)
      .addError(Forbidden)
      .addError(NotFound)
      .addError(InvalidRequest)
      .annotate(OpenApi.Identifier, "updateUser")
      .annotate(OpenApi.Summary, "Change a user's quota, admin flag or both")
      .annotate(OpenApi.Description, "Fields left out stay as they are.")
  )
  .add(
    HttpApiEndpoint.get("listTokens")`/admin/users/${userPath}/tokens`
      .setUrlParams(Schema.Struct({ cursor: Schema.optional(TokenId), limit: Schema.optional(PageLimit) }))
      .addSuccess(TokenPage)
      .addError(Forbidden)
      .addError(NotFound)
      .annotate(OpenApi.Identifier, "listUserTokens")
      .annotate(OpenApi.Summary, "A user's API tokens, newest first, revoked ones included; never their secrets")
      .annotate(OpenApi.Description, "Cursor pagination: pass next_cursor as ?cursor= until it is null.")
  )
  .add(
    HttpApiEndpoint.post("issueToken")`/admin/users/${userPath}/tokens`
      .setPayload(IssueTokenRequest)
      .addSuccess(IssuedApiToken, { status: 201 })
      .addError(Forbidden)
      .addError(NotFound)
      .annotate(OpenApi.Identifier, "issueToken")
      .annotate(OpenApi.Summary, "Issue an API token for a user; the secret is shown once, in this answer")
      .annotate(OpenApi.Description, "Only the secret's SHA-256 is kept: a lost secret cannot be shown again, only replaced.")
  )
  .add(
    HttpApiEndpoint.del("revokeToken")`/admin/tokens/${HttpApiSchema.param("id", TokenId)}`
      .addSuccess(ApiToken)
      .addError(Forbidden)
      .addError(NotFound)
      .annotate(OpenApi.Identifier, "revokeToken")
      .annotate(
        OpenApi.Summary,
        "Revoke an API token: requests with it get 401 from now on; the token stays listed with its revoked_at"
      )
      .annotate(OpenApi.Description, "Revoking it again is harmless: it keeps its first revoked_at.")
  )
  .middleware(Authentication)
  .annotate(OpenApi.Title, "Admin")
  .annotate(OpenApi.Description, "Operators' endpoints: users, tokens, the outbox and the sweeper. Admins only; others get 403")
{}
