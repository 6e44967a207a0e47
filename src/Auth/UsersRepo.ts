/** SQL for users and API tokens. Infrastructure failures become defects here. */
import { SqlClient, SqlSchema } from "@effect/sql"
import { Data, Effect, Schema } from "effect"
import { TokenId, UserId } from "../Domain/Ids"
import { ApiToken, User } from "../Domain/User"
import { isUniqueViolation } from "../Sql"

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
  created_at: Schema.DateFromSelf
})

const TOKEN_COLUMNS = "id, user_id, name, created_at, revoked_at"

export class UsersRepo extends Effect.Service<UsersRepo>()("Portal/UsersRepo", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const tokenColumns = sql.unsafe(TOKEN_COLUMNS)

    const insertUser = SqlSchema.single({
      Request: User,
      Result: User,
      execute: (user) => sql`INSERT INTO users ${sql.insert(user)} RETURNING *`
    })

    const findByName = SqlSchema.findOne({
      Request: Schema.String,
      Result: User,
      execute: (name) => sql`SELECT * FROM users WHERE name = ${name}`
    })

    const findById = SqlSchema.findOne({
      Request: UserId,
      Result: User,
      execute: (id) => sql`SELECT * FROM users WHERE id = ${id}`
    })

    /** Row lock on the user for the rest of the transaction (serializes quota reservations). */
    const lock = SqlSchema.findOne({
      Request: UserId,
      Result: User,
      execute: (id) => sql`SELECT * FROM users WHERE id = ${id} FOR UPDATE`
    })

    const setQuota = SqlSchema.findOne({
      Request: Schema.Struct({ name: Schema.String, quota_bytes: Schema.Number }),
      Result: User,
      execute: ({ name, quota_bytes }) =>
        sql`UPDATE users SET quota_bytes = ${quota_bytes} WHERE name = ${name} RETURNING *`
    })

    const insertToken = SqlSchema.single({
      Request: NewToken,
      Result: ApiToken,
      execute: (token) => sql`INSERT INTO api_tokens ${sql.insert(token)} RETURNING ${tokenColumns}`
    })

    const findTokenOwner = SqlSchema.findOne({
      Request: Schema.Uint8ArrayFromSelf,
      Result: TokenOwner,
      execute: (secretSha256) =>
        sql`SELECT u.*, t.id AS token_id, t.secret_sha256, t.revoked_at AS token_revoked_at
              FROM api_tokens t JOIN users u ON u.id = t.user_id
             WHERE t.secret_sha256 = ${secretSha256}`
    })

    const revokeToken = SqlSchema.findOne({
      Request: Schema.Struct({ id: TokenId, now: Schema.DateFromSelf }),
      Result: ApiToken,
      execute: ({ id, now }) =>
        sql`UPDATE api_tokens SET revoked_at = coalesce(revoked_at, ${now}) WHERE id = ${id}
            RETURNING ${tokenColumns}`
    })

    const listTokens = SqlSchema.findAll({
      Request: UserId,
      Result: ApiToken,
      execute: (userId) => sql`SELECT ${tokenColumns} FROM api_tokens WHERE user_id = ${userId} ORDER BY id`
    })

    return {
      insertUser: (user: User) =>
        insertUser(user).pipe(
          Effect.catchTag("SqlError", (error) =>
            isUniqueViolation(error, "users_name_key") ? new UserNameTaken({ name: user.name }) : Effect.die(error)),
          Effect.catchTags({ ParseError: Effect.die, NoSuchElementException: Effect.die })
        ),
      findByName: (name: string) => Effect.orDie(findByName(name)),
      findById: (id: UserId) => Effect.orDie(findById(id)),
      lock: (id: UserId) => Effect.orDie(lock(id)),
      count: sql<{ count: number }>`SELECT count(*)::int AS count FROM users`.pipe(
        Effect.map((rows) => rows[0]?.count ?? 0),
        Effect.orDie
      ),
      setQuota: (name: string, quotaBytes: number) => Effect.orDie(setQuota({ name, quota_bytes: quotaBytes })),
      insertToken: (token: typeof NewToken.Type) => Effect.orDie(insertToken(token)),
      findTokenOwner: (secretSha256: Uint8Array) => Effect.orDie(findTokenOwner(secretSha256)),
      revokeToken: (id: TokenId, now: Date) => Effect.orDie(revokeToken({ id, now })),
      listTokens: (userId: UserId) => Effect.orDie(listTokens(userId))
    } as const
  })
}) {}
