/**
 * Operator commands: `bun run cli users create <name> [--admin] [--quota <bytes>]`,
 * `users set-quota <name> <bytes>`, `tokens issue <name>`, `tokens revoke <token-id>`,
 * `sweep` and `migrate`.
 * They use the same configuration (DATABASE_URL / DATA_DIR) as the server.
 */
import { Args, Command, Options, ValidationError } from "@effect/cli"
import { BunContext, BunRuntime } from "@effect/platform-bun"
import { Console, Effect, Layer, Option, Redacted } from "effect"
import { Users } from "./Auth/Users"
import { PortalConfig } from "./Config"
import { TokenId } from "./Domain/Ids"
import { ServicesLive } from "./Layers"
import { Sweeper } from "./Sweeper/Sweeper"
import { LoggerLive } from "./Logging"

const userName = Args.text({ name: "name" }).pipe(Args.withDescription("the user's unique name"))

/** The token is printed alone on the last line, so scripts can take it with `tail -n 1`. */
const printToken = (tokenId: string, userName: string, secret: Redacted.Redacted<string>) =>
  Console.log(`token ${tokenId} issued for ${userName} (shown once, store it now):\n${Redacted.value(secret)}`)

const usersCreate = Command.make(
  "create",
  {
    name: userName,
    admin: Options.boolean("admin").pipe(Options.withDescription("may read every user's uploads and run admin endpoints")),
    quota: Options.integer("quota").pipe(
      Options.optional,
      Options.withDescription("quota in bytes (default: UPLOAD_DEFAULT_QUOTA)")
    )
  },
  ({ admin, name, quota }) =>
    Effect.gen(function*() {
      const users = yield* Users
      const user = yield* users.create({ name, isAdmin: admin, quotaBytes: Option.getOrUndefined(quota) })
      const { secret, token } = yield* users.issueToken(user)
      yield* Console.log(`user ${user.name} (${user.id}) created${user.is_admin ? " as admin" : ""}, quota ${user.quota_bytes} bytes`)
      yield* printToken(token.id, user.name, secret)
    })
).pipe(Command.withDescription("create a user and issue its first token"))

const usersSetQuota = Command.make(
  "set-quota",
  { name: userName, bytes: Args.integer({ name: "bytes" }).pipe(Args.withDescription("the new quota in bytes")) },
  ({ bytes, name }) =>
    Effect.gen(function*() {
      const user = yield* (yield* Users).setQuota(name, bytes)
      yield* Console.log(`user ${user.name} now has a quota of ${user.quota_bytes} bytes`)
    })
).pipe(Command.withDescription("change a user's quota"))

const users = Command.make("users").pipe(
  Command.withDescription("manage users"),
  Command.withSubcommands([usersCreate, usersSetQuota])
)

const tokensIssue = Command.make(
  "issue",
  {
    name: userName,
    label: Options.text("label").pipe(Options.withDefault("default"), Options.withDescription("a name for the token"))
  },
  ({ label, name }) =>
    Effect.gen(function*() {
      const users = yield* Users
      const user = yield* users.findByName(name)
      const { secret, token } = yield* users.issueToken(user, label)
      yield* printToken(token.id, user.name, secret)
    })
).pipe(Command.withDescription("issue a new API token for a user"))

const tokensRevoke = Command.make(
  "revoke",
  { tokenId: Args.text({ name: "token-id" }).pipe(Args.withSchema(TokenId)) },
  ({ tokenId }) =>
    Effect.gen(function*() {
      const token = yield* (yield* Users).revokeToken(tokenId)
      yield* Console.log(`token ${token.id} revoked`)
    })
).pipe(Command.withDescription("revoke an API token; requests using it get 401 from now on"))

const tokens = Command.make("tokens").pipe(
  Command.withDescription("manage API tokens"),
  Command.withSubcommands([tokensIssue, tokensRevoke])
)

const sweep = Command.make("sweep", {}, () =>
  Effect.gen(function*() {
    const report = yield* (yield* Sweeper).sweep
    yield* Console.log(
      `expired sessions ended: ${report.expired_sessions}, leftover staging removed: ${report.staging_removed}`
    )
  })).pipe(Command.withDescription("end expired sessions and remove leftover staging now (instances also do it every SWEEP_INTERVAL)"))

const migrate = Command.make("migrate", {}, () => Console.log("database is migrated")).pipe(
  Command.withDescription("apply pending database migrations (the server also does this at start-up)")
)

const portal = Command.make("portal").pipe(Command.withSubcommands([users, tokens, sweep, migrate]))

const run = Command.run(portal, { name: "Ingest Portal", version: "0.1.0" })

const CliLive = ServicesLive.pipe(
  Layer.provide(PortalConfig.layer),
  Layer.provideMerge(LoggerLive),
  Layer.provideMerge(BunContext.layer)
)

const reportFailure = (error: { readonly message: string }) =>
  Console.error(`error: ${error.message}`).pipe(Effect.zipRight(Effect.sync(() => {
    process.exitCode = 1
  })))

run(process.argv).pipe(
  Effect.catchTags({ NotFound: reportFailure, UserNameTaken: reportFailure }),
  // @effect/cli has already printed what was wrong with the arguments
  Effect.catchIf(ValidationError.isValidationError, () => Effect.sync(() => {
    process.exitCode = 2
  })),
  Effect.provide(CliLive),
  BunRuntime.runMain({ disablePrettyLogger: true })
)
