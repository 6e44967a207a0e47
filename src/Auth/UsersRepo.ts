/** SQL for users and API tokens. */
import { Effect, Schema } from "effect"
import { Timestamp } from "../Domain/Common"
import { UserNameTaken } from "../Domain/Errors"
import { TokenId, UserId } from "../Domain/Ids"
import { ApiToken, User } from "../Domain/User"
import { findAll, findOne, findRowById, insertUnique, repository, single } from "../Repo"

export { UserNameTaken } from "../Domain/Errors"

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

/** An identity of the external identity provider: `iss` ("" when absent) and `sub`. */
const ExternalIdentityKey = Schema.Struct({ external_issuer: Schema.String, external_subject: Schema.String })

const ExternalUser = Schema.Struct({ ...User.fields, ...ExternalIdentityKey.fields })

const Keyset = { beforeId: Schema.NullOr(UserId), limit: Schema.Int }

export class UsersRepo extends Effect.Service<UsersRepo>()("Portal/UsersRepo", {
  effect: repository((sql) => {
    const tokenColumns = sql.unsafe("id, user_id, name, created_at, revoked_at")

    return {
      insertUser: insertUnique(
        { Request: User, Result: User, execute: (user) => sql`INSERT INTO users ${sql.insert(user)} RETURNING *` },
        "users_name_key",
        (user) => UserNameTaken.of(user.name)
      ),

      /**
       * None when nothing was inserted: the name is taken, or another request created a user
       * for this identity first (the caller looks the identity up again to tell which).
       */
      insertExternalUser: findOne({
        Request: ExternalUser,
        Result: User,
        execute: (user) => sql`INSERT INTO users ${sql.insert(user)} ON CONFLICT DO NOTHING RETURNING *`
      }),

      findByExternalIdentity: findOne({
        Request: ExternalIdentityKey,
        Result: User,
        execute: ({ external_issuer, external_subject }) =>
          sql`SELECT * FROM users WHERE external_issuer = ${external_issuer} AND external_subject = ${external_subject}`
      }),

      findByName: findOne({
        Request: Schema.String,
        Result: User,
        execute: (name) => sql`SELECT * FROM users WHERE name = ${name}`
      }),

      findById: findRowById(sql, "users", UserId, User),

      /** Newest first, keyset pagination. */
      list: findAll({
        Request: Schema.Struct(Keyset),
        Result: User,
        execute: ({ beforeId, limit }) =>
          sql`SELECT * FROM users ${beforeId === null ? sql`` : sql`WHERE id < ${beforeId}`}
               ORDER BY id DESC LIMIT ${limit}`
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

      /** Changes what is given (a null leaves the column as it is). */
      update: findOne({
        Request: Schema.Struct({ id: UserId, quota_bytes: Schema.NullOr(Schema.Number), is_admin: Schema.NullOr(Schema.Boolean) }),
        Result: User,
        execute: ({ id, is_admin, quota_bytes }) =>
          sql`UPDATE users SET quota_bytes = coalesce(${quota_bytes}::bigint, quota_bytes),
                               is_admin = coalesce(${is_admin}::boolean, is_admin)
               WHERE id = ${id} RETURNING *`
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

      /** A user's tokens, newest first, keyset pagination; never their digests. */
      listTokens: findAll({
        Request: Schema.Struct({ userId: UserId, beforeId: Schema.NullOr(TokenId), limit: Schema.Int }),
        Result: ApiToken,
        execute: ({ beforeId, limit, userId }) =>
          sql`SELECT ${tokenColumns} FROM api_tokens
               WHERE user_id = ${userId} ${beforeId === null ? sql`` : sql`AND id < ${beforeId}`}
               ORDER BY id DESC LIMIT ${limit}`
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
