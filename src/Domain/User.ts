import { Schema } from "effect"
import { ByteCount, Timestamp } from "./Common"
import { TokenId, UserId } from "./Ids"

export class User extends Schema.Class<User>("User")({
  id: UserId,
  name: Schema.String,
  is_admin: Schema.Boolean,
  quota_bytes: ByteCount,
  created_at: Timestamp
}) {}

export class ApiToken extends Schema.Class<ApiToken>("ApiToken")({
  id: TokenId,
  user_id: UserId,
  name: Schema.String,
  created_at: Timestamp,
  revoked_at: Schema.OptionFromNullOr(Timestamp)
}) {}
