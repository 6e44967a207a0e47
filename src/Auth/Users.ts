/** Users, their API tokens, and turning a presented bearer token into a user. */
import { DateTime, Effect, Option, Redacted, Schema } from "effect"
import { PlainText } from "../Domain/Common"
import { PortalConfig } from "../Config"
import { InvalidRequest, NotFound, Unauthorized } from "../Domain/Errors"
import { newId, TokenId, UserId } from "../Domain/Ids"
import { ApiToken, User } from "../Domain/User"
import { digestsEqual, generateSecret, hashSecret, isWellFormed } from "./Tokens"
import { UsersRepo } from "./UsersRepo"
import { someOrFail } from "../Repo"

const UserName = PlainText.pipe(Schema.minLength(1), Schema.maxLength(200))

export interface IssuedToken {
  readonly token: ApiToken
  /** Shown once; only its SHA-256 is stored. */
  readonly secret: Redacted.Redacted<string>
}

export class Users extends Effect.Service<Users>()("Portal/Users", {
  effect: Effect.gen(function*() {
    const repo = yield* UsersRepo
    const config = yield* PortalConfig

    const create = (
      input: { readonly name: string; readonly isAdmin?: boolean; readonly quotaBytes?: number | undefined }
    ) =>
      Effect.gen(function*() {
        if (!Schema.is(UserName)(input.name)) {
          return yield* new InvalidRequest({ message: "a user name is 1 to 200 characters, without control characters" })
        }
        const user = new User({
          id: yield* newId(UserId),
          name: input.name,
          is_admin: input.isAdmin ?? false,
          quota_bytes: input.quotaBytes ?? config.defaultQuota,
          created_at: yield* DateTime.now
        })
        return yield* repo.insertUser(user)
      }).pipe(Effect.withSpan("Users.create"))

    const issueToken = (user: User, name = "default") =>
      Effect.gen(function*() {
        const secret = generateSecret()
        const token = yield* repo.insertToken({
          id: yield* newId(TokenId),
          user_id: user.id,
          name,
          secret_sha256: hashSecret(Redacted.value(secret)),
          created_at: yield* DateTime.now
        })
        return { token, secret } satisfies IssuedToken
      }).pipe(Effect.withSpan("Users.issueToken"))

    const findByName = (name: string) => repo.findByName(name).pipe(someOrFail(() => NotFound.user(name)))

    const unauthorized = (message: string) => Effect.fail(new Unauthorized({ message }))

    const authenticate = (presented: Redacted.Redacted<string>) =>
      Effect.gen(function*() {
        const secret = Redacted.value(presented)
        if (secret === "") return yield* unauthorized("missing bearer token: send Authorization: Bearer <token>")
        if (!isWellFormed(secret)) return yield* unauthorized("malformed bearer token")
        const digest = hashSecret(secret)
        const found = yield* repo.findTokenOwner(digest)
        if (Option.isNone(found) || !digestsEqual(found.value.secret_sha256, digest)) {
          return yield* unauthorized("unknown bearer token")
        }
        const { token_id: _, secret_sha256: __, token_revoked_at, ...user } = found.value
        if (token_revoked_at !== null) return yield* unauthorized("this token has been revoked")
        return new User(user)
      })

    const revokeToken = (id: TokenId) =>
      Effect.flatMap(DateTime.now, (now) => repo.revokeToken({ id, now })).pipe(someOrFail(() => NotFound.token(id)))

    /**
     * On a database without users, creates the admin and its first token. When several
     * instances start at once, the unique user name lets exactly one of them do it.
     */
    const bootstrapAdmin = Effect.gen(function*() {
      if ((yield* repo.count) > 0) return Option.none<IssuedToken & { readonly user: User }>()
      return yield* create({ name: "admin", isAdmin: true }).pipe(
        Effect.flatMap((user) => Effect.map(issueToken(user, "bootstrap"), (issued) => Option.some({ ...issued, user }))),
        Effect.catchTag("UserNameTaken", () => Effect.succeedNone)
      )
    })

    return {
      create,
      issueToken,
      findByName,
      authenticate,
      revokeToken,
      setQuota: (name: string, quotaBytes: number) =>
        repo.setQuota({ name, quota_bytes: quotaBytes }).pipe(someOrFail(() => NotFound.user(name))),
      bootstrapAdmin
    } as const
  }),
  dependencies: [UsersRepo.Default]
}) {}
