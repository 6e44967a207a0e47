/** Users, their API tokens, and turning a presented bearer token (API token or JWT) into a user. */
import { DateTime, Effect, Option, Redacted, Schema } from "effect"
import { PortalConfig } from "../Config"
import { InvalidRequest, NotFound, Unauthorized } from "../Domain/Errors"
import { newId, TokenId, UserId } from "../Domain/Ids"
import { fetchPage, type PageRequest } from "../Domain/Page"
import { ApiToken, MAX_USER_NAME_LENGTH, User, UserName } from "../Domain/User"
import { someOrDie, someOrFail } from "../Repo"
import { type ExternalIdentity, JwtVerifier, looksLikeJwt } from "./Jwt"
import { digestsEqual, generateSecret, hashSecret, isWellFormed } from "./Tokens"
import { UsersRepo } from "./UsersRepo"

export interface IssuedToken {
  readonly token: ApiToken
  /** Shown once; only its SHA-256 is stored. */
  readonly secret: Redacted.Redacted<string>
}

/** `name` cut to fit the longest user name with `suffix` after it. */
const withSuffix = (name: string, suffix: string): string =>
  `${name.slice(0, MAX_USER_NAME_LENGTH - suffix.length)}${suffix}`

/**
 * The names a new external user may get, in order: its preferred name, then that name
 * numbered, then with a random suffix (which cannot all be taken).
 */
const nameCandidates = (preferred: string): ReadonlyArray<string> => [
  preferred,
  ...Array.from({ length: 8 }, (_, i) => withSuffix(preferred, `-${i + 2}`)),
  withSuffix(preferred, `-${Bun.randomUUIDv7().slice(-8)}`)
]

const EVERY_ROW_PAGE = 500

/** Rows read a page at a time until the last one, for listings that want them all (the CLI's). */
const everyRow = <A extends { readonly id: Id }, Id, R>(
  fetchPage: (beforeId: Id | null, limit: number) => Effect.Effect<ReadonlyArray<A>, never, R>
) =>
  Effect.gen(function*() {
    const all: Array<A> = []
    let beforeId: Id | null = null
    while (true) {
      const rows: ReadonlyArray<A> = yield* fetchPage(beforeId, EVERY_ROW_PAGE)
      all.push(...rows)
      const last = rows.at(-1)
      if (rows.length < EVERY_ROW_PAGE || last === undefined) return all
      beforeId = last.id
    }
  })

const userNotFound = (id: UserId) => new NotFound({ message: `no user ${id}`, resource: "user", id })

export class Users extends Effect.Service<Users>()("Portal/Users", {
  effect: Effect.gen(function*() {
    const repo = yield* UsersRepo
    const jwt = yield* JwtVerifier
    const config = yield* PortalConfig

    const create = (
      input: { readonly name: string; readonly isAdmin?: boolean | undefined; readonly quotaBytes?: number | undefined }
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

    const findById = (id: UserId) => repo.findById(id).pipe(someOrFail(() => userNotFound(id)))

    /** Newest first. */
    const list = (page: PageRequest<UserId>) =>
      fetchPage(page.limit, (limit) => repo.list({ beforeId: page.cursor ?? null, limit }), (user) => user.id)

    /** A user's tokens, newest first, without their secrets (only digests are kept anyway). */
    const listTokens = (userId: UserId, page: PageRequest<TokenId>) =>
      Effect.gen(function*() {
        yield* findById(userId)
        return yield* fetchPage(
          page.limit,
          (limit) => repo.listTokens({ userId, beforeId: page.cursor ?? null, limit }),
          (token) => token.id
        )
      })

    /** Every user, newest first. */
    const everyUser = everyRow((beforeId: UserId | null, limit) => repo.list({ beforeId, limit }))

    /** Every token of the user named `name`, newest first. */
    const everyTokenOf = (name: string) =>
      Effect.flatMap(findByName(name), (user) =>
        everyRow((beforeId: TokenId | null, limit) => repo.listTokens({ userId: user.id, beforeId, limit })))

    const update = (id: UserId, change: { readonly quotaBytes?: number | undefined; readonly isAdmin?: boolean | undefined }) =>
      Effect.gen(function*() {
        if (change.quotaBytes === undefined && change.isAdmin === undefined) {
          return yield* new InvalidRequest({ message: "nothing to change: give quota_bytes, is_admin or both" })
        }
        return yield* repo.update({ id, quota_bytes: change.quotaBytes ?? null, is_admin: change.isAdmin ?? null }).pipe(
          someOrFail(() => userNotFound(id))
        )
      })

    /**
     * The user of an external identity, created on first sight with the default quota and the
     * first free name among its candidates. Only the identity (iss, sub) finds a user: a name
     * never does, so a JWT cannot take over a user that happens to have the same name.
     */
    const externalUser = (identity: ExternalIdentity) =>
      Effect.gen(function*() {
        const key = { external_issuer: identity.issuer, external_subject: identity.subject }
        const found = yield* repo.findByExternalIdentity(key)
        if (Option.isSome(found)) return found.value
        const preferred = identity.names[0] ?? withSuffix("user", `-${Bun.randomUUIDv7().slice(-8)}`)
        for (const name of nameCandidates(preferred)) {
          const inserted = yield* repo.insertExternalUser({
            id: yield* newId(UserId),
            name,
            is_admin: Option.getOrElse(identity.isAdmin, () => false),
            quota_bytes: config.defaultQuota,
            created_at: yield* DateTime.now,
            ...key
          })
          if (Option.isSome(inserted)) {
            yield* Effect.logInfo("user created for a JWT subject", { user_id: inserted.value.id, name })
            return inserted.value
          }
          // another request created this identity's user meanwhile, or the name is taken
          const raced = yield* repo.findByExternalIdentity(key)
          if (Option.isSome(raced)) return raced.value
        }
        return yield* Effect.dieMessage(`no free user name for ${JSON.stringify(preferred)}`)
      }).pipe(Effect.withSpan("Users.externalUser"))

    /** With AUTH_JWT_ADMIN_GROUP set, the token's groups decide the admin flag, on every request. */
    const followAdminGroup = (user: User, isAdmin: Option.Option<boolean>) =>
      Option.match(isAdmin, {
        onNone: () => Effect.succeed(user),
        onSome: (admin) =>
          admin === user.is_admin
            ? Effect.succeed(user)
            : repo.update({ id: user.id, quota_bytes: null, is_admin: admin }).pipe(
              someOrDie(() => `user ${user.id} vanished while its admin flag was set`)
            )
      })

    const unauthorized = (message: string) => Effect.fail(new Unauthorized({ message }))

    const authenticateApiToken = (secret: string) =>
      Effect.gen(function*() {
        if (!isWellFormed(secret)) return yield* unauthorized("malformed bearer token")
        const digest = hashSecret(secret)
        const found = yield* repo.findTokenOwner(digest)
        if (Option.isNone(found) || !digestsEqual(found.value.secret_sha256, digest)) {
          return yield* unauthorized("unknown bearer token")
        }
        const { token_id: _, secret_sha256: __, token_revoked_at, ...user } = found.value
        if (token_revoked_at !== null) return yield* unauthorized("this token has been revoked")
        return new User(user, { disableValidation: true }) // decoded from its row already
      })

    const authenticateJwt = (token: string) =>
      Effect.flatMap(
        jwt.verify(token),
        (identity) => Effect.flatMap(externalUser(identity), (user) => followAdminGroup(user, identity.isAdmin))
      )

    /** A JWT (three base64url segments) goes to JWT verification, anything else to the API tokens. */
    const authenticate = (presented: Redacted.Redacted<string>) => {
      const secret = Redacted.value(presented)
      if (secret === "") return unauthorized("missing bearer token: send Authorization: Bearer <token>")
      return looksLikeJwt(secret) ? authenticateJwt(secret) : authenticateApiToken(secret)
    }

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
      findById,
      list,
      listTokens,
      everyUser,
      everyTokenOf,
      update,
      authenticate,
      revokeToken,
      setQuota: (name: string, quotaBytes: number) =>
        repo.setQuota({ name, quota_bytes: quotaBytes }).pipe(someOrFail(() => NotFound.user(name))),
      bootstrapAdmin
    } as const
  }),
  dependencies: [UsersRepo.Default, JwtVerifier.Default]
}) {}
