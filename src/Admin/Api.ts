/** Operator endpoints; admins only. */
import { HttpApiEndpoint, HttpApiSchema } from "@effect/platform"
import { Schema } from "effect"
import { operation } from "../ApiDocs/Operation"
import { authenticatedGroup } from "../Auth/Authentication"
import { EventNotRetryable, Forbidden, InvalidRequest, NotFound, UserNameTaken } from "../Domain/Errors"
import { EventId, TokenId, UserId } from "../Domain/Ids"
import { OutboxEvent, OutboxStatus } from "../Domain/Outbox"
import { PAGINATION, pageOf, pageParams } from "../Domain/Page"
import { SweepReport } from "../Domain/Sweep"
import { ApiToken, IssuedApiToken, QuotaBytes, TokenName, User, UserName } from "../Domain/User"

export class OutboxPage extends Schema.Class<OutboxPage>("OutboxPage")(pageOf(OutboxEvent), {
  description: "A page of outbox events, newest first"
}) {}

export class UserPage extends Schema.Class<UserPage>("UserPage")(pageOf(User), {
  description: "A page of users, newest first"
}) {}

export class TokenPage extends Schema.Class<TokenPage>("TokenPage")(pageOf(ApiToken), {
  description: "A page of API tokens, newest first"
}) {}

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

export class AdminApi extends authenticatedGroup("admin", {
  title: "Admin",
  description: "Operators' endpoints: users, tokens, the outbox and the sweeper. Admins only; others get 403"
})
  // admins only
  .addError(Forbidden)
  .add(
    HttpApiEndpoint.post("sweep", "/admin/sweep")
      .addSuccess(SweepReport)
      .annotateContext(operation("runSweep", {
        summary: "Run the sweeper now: end expired sessions, remove leftover staging",
        description: "What every instance does each SWEEP_INTERVAL; several may run at once."
      }))
  )
  .add(
    HttpApiEndpoint.get("outbox", "/admin/outbox")
      .setUrlParams(Schema.Struct({ status: Schema.optional(OutboxStatus), ...pageParams(EventId) }))
      .addSuccess(OutboxPage)
      .annotateContext(operation("listOutboxEvents", {
        summary: "Outbox events, newest first, optionally of one status (PENDING, SENDING, DELIVERED, FAILED)",
        description: PAGINATION
      }))
  )
  .add(
    HttpApiEndpoint.post("retryEvent")`/admin/outbox/${HttpApiSchema.param("id", EventId)}/retry`
      .addSuccess(OutboxEvent)
      .addError(NotFound)
      .addError(EventNotRetryable)
      .annotateContext(operation("retryOutboxEvent", {
        summary: "Send a FAILED event again: back to PENDING, due now, with a full set of attempts",
        description: "Only a FAILED event can be retried; any other is 409."
      }))
  )
  .add(
    HttpApiEndpoint.get("listUsers", "/admin/users")
      .setUrlParams(Schema.Struct(pageParams(UserId)))
      .addSuccess(UserPage)
      .annotateContext(operation("listUsers", {
        summary: "Users, newest first",
        description: PAGINATION
      }))
  )
  .add(
    HttpApiEndpoint.post("createUser", "/admin/users")
      .setPayload(CreateUserRequest)
      .addSuccess(CreatedUser, { status: 201 })
      .addError(InvalidRequest)
      .addError(UserNameTaken)
      .annotateContext(operation("createUser", {
        summary: "Create a user, with its first API token unless issue_token is false (the secret is shown once, here)",
        description: "Names are unique (409 otherwise); the quota defaults to UPLOAD_DEFAULT_QUOTA."
      }))
  )
  .add(
    HttpApiEndpoint.patch("updateUser")`/admin/users/${userPath}`
      .setPayload(UpdateUserRequest)
      .addSuccess(User)
      .addError(NotFound)
      .addError(InvalidRequest)
      .annotateContext(operation("updateUser", {
        summary: "Change a user's quota, admin flag or both",
        description: "Fields left out stay as they are."
      }))
  )
  .add(
    HttpApiEndpoint.get("listTokens")`/admin/users/${userPath}/tokens`
      .setUrlParams(Schema.Struct(pageParams(TokenId)))
      .addSuccess(TokenPage)
      .addError(NotFound)
      .annotateContext(operation("listUserTokens", {
        summary: "A user's API tokens, newest first, revoked ones included; never their secrets",
        description: PAGINATION
      }))
  )
  .add(
    HttpApiEndpoint.post("issueToken")`/admin/users/${userPath}/tokens`
      .setPayload(IssueTokenRequest)
      .addSuccess(IssuedApiToken, { status: 201 })
      .addError(NotFound)
      .annotateContext(operation("issueToken", {
        summary: "Issue an API token for a user; the secret is shown once, in this answer",
        description: "Only the secret's SHA-256 is kept: a lost secret cannot be shown again, only replaced."
      }))
  )
  .add(
    HttpApiEndpoint.del("revokeToken")`/admin/tokens/${HttpApiSchema.param("id", TokenId)}`
      .addSuccess(ApiToken)
      .addError(NotFound)
      .annotateContext(operation("revokeToken", {
        summary: "Revoke an API token: requests with it get 401 from now on; the token stays listed with its revoked_at",
        description: "Revoking it again is harmless: it keeps its first revoked_at."
      }))
  )
{}
