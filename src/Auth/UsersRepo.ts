/** SQL for users and API tokens. */
import { SqlClient } from "@effect/sql"
import { Data, Effect, Schema } from "effect"
import { Timestamp } from "../Domain/Common"
import { TokenId, UserId } from "../Domain/Ids"
import { ApiToken, User } from "../Domain/User"
import { findOne, insertUnique, single } from "../Repo"

export class UserNameTaken extends Data.TaggedError("UserNameTaken")<{ readonly name: string }> {
  override get message() {
    return `a user named ${JSON.stringify(this.name)} already exists`
  }
}

/** A token joined with its owner, as authentication needs it. */
export const TokenOwner = Schema.Struct({
  ...User.fields,
  token_id: TokenId,
  secret_sha256: Schema.Uint8ArrayFromSelf,
  token_revoked_at: Schema.NullOr(Schema.String)
})

const NewToken = Schema.Struct({
  id: TokenId,
  user_id: UserId,
  name: Schema.String,
  secret_sha256: Schema.Uint8ArrayFromSelf,
  created_at: Timestamp
})

export class UsersRepo extends Effect.Service<UsersRepo>()("Portal/UsersRepo", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const tokenColumns = sql.unsafe("id, user_id, name, created_at, revoked_at")

    return {
      insertUser: insertUnique(
        { Request: User, Result: User, execute: (user) => sql`INSERT INTO users ${sql.insert(user)} RETURNING *` },
        "users_name_key",
        (user) => new UserNameTaken({ name: user.name })
      ),

      findByName: findOne({
        Request: Schema.String,
        Result: User,
        execute: (name) => sql`SELECT * FROM users WHERE name = ${name}`
      }),

      count: sql<{ count: number }>`SELECT count(*)::int AS count FROM users`.pipe(
        Effect.map((rows) => rows[0]?.count ?? 0),
        Effect.orDie
      ),

      setQuota: findOne({
        Request: Schema.Struct({ name: Schema.String, quota_bytes: Schema.Number }),
        Result: User,
        execute: ({ name, quota_bytes }) =>
          sql`UPDATE users SET quota_bytes = ${quota_bytes} WHERE name = ${name} RETURNING *`
      }),

      insertToken: single({
        Request: NewToken,
        Result: ApiToken,
        execute: (token) => sql`INSERT INTO api_tokens ${sql.insert(token)} RETURNING ${tokenColumns}`
      }),

      findTokenOwner: findOne({
        Request: Schema.Uint8ArrayFromSelf,
        Result: TokenOwner,
        execute: (secretSha256) =>
          sql`SELECT u.*, t.id AS token_id, t.secret_sha256, t.revoked_at AS token_revoked_at
                FROM api_tokens t JOIN users u ON u.id = t.user_id
               WHERE t.secret_sha256 = ${secretSha256}`
      }),

      revokeToken: findOne({
        Request: Schema.Struct({ id: TokenId, now: Timestamp }),
        Result: ApiToken,
        execute: ({ id, now }) =>
          sql`UPDATE api_tokens SET revoked_at = coalesce(revoked_at, ${now}) WHERE id = ${id}
              RETURNING ${tokenColumns}`
      })
    } as const
  })
}) {}
