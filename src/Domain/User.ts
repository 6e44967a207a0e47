import { Schema } from "effect"
import { ByteCount, PlainText, Timestamp } from "./Common"
import { TokenId, UserId } from "./Ids"

export const MAX_USER_NAME_LENGTH = 200

/** What a user is called: unique, 1 to 200 characters, no control characters. */
export const UserName = PlainText.pipe(
  Schema.minLength(1),
  Schema.maxLength(MAX_USER_NAME_LENGTH),
  Schema.annotations({
    identifier: "UserName",
    description: "Unique, 1 to 200 characters, no control characters",
    jsonSchema: { type: "string", minLength: 1, maxLength: 200, description: "Unique, 1 to 200 characters, no control characters" }
  })
)

/** What a token is called, to tell a user's tokens apart (e.g. "laptop", "ci"). */
export const TokenName = PlainText.pipe(
  Schema.minLength(1),
  Schema.maxLength(200),
  Schema.annotations({
    identifier: "TokenName",
    description: "1 to 200 characters, no control characters",
    jsonSchema: { type: "string", minLength: 1, maxLength: 200, description: "1 to 200 characters, no control characters" }
  })
)

/** A quota as a client may ask for it: whole bytes that the database and JavaScript both hold exactly. */
export const QuotaBytes = ByteCount.pipe(
  Schema.lessThanOrEqualTo(Number.MAX_SAFE_INTEGER),
  Schema.annotations({
    description: "Bytes the user may keep stored and reserved at once",
    jsonSchema: {
      type: "integer",
      minimum: 0,
      maximum: Number.MAX_SAFE_INTEGER,
      description: "Bytes the user may keep stored and reserved at once"
    }
  })
)

export class User extends Schema.Class<User>("User")({
  id: UserId,
  name: Schema.String,
  is_admin: Schema.Boolean,
  quota_bytes: ByteCount,
  created_at: Timestamp
}, { description: "A user of the service" }) {}

export class ApiToken extends Schema.Class<ApiToken>("ApiToken")({
  id: TokenId,
  user_id: UserId,
  name: Schema.String,
  created_at: Timestamp,
  revoked_at: Schema.OptionFromNullOr(Timestamp)
}, { description: "An API token, without its secret" }) {}

/** A token as it is issued: the one answer that carries its secret. */
export class IssuedApiToken extends Schema.Class<IssuedApiToken>("IssuedApiToken")({
  ...ApiToken.fields,
  secret: Schema.Redacted(Schema.String).annotations({
    description: "The bearer token (ipt_…), shown this once: only its SHA-256 is kept"
  })
}, { description: "A new API token with its secret, shown this once" }) {}
