/**
 * The command line.
 * - Client commands, over HTTP with PORTAL_URL and PORTAL_TOKEN only (no database):
 *   `upload <path>... [--parallel N] [--chunk-size B]`, `download <file-id> [-o path] [--force]`.
 * - Operator commands, on the database with the server's configuration (DATABASE_URL /
 *   DATA_DIR): `users create <name> [--admin] [--quota <bytes>]`, `users set-quota <name> <bytes>`,
 *   `users list`, `tokens issue <name>`, `tokens revoke <token-id>`, `tokens list <name>`, `sweep`
 *   and `migrate`.
 * Each command gets the layer it needs when it runs, so `--help` and the client commands never
 * open the database.
 */
import { Args, Command, Options, ValidationError } from "@effect/cli"
import { BunContext, BunRuntime } from "@effect/platform-bun"
import { defaultTeardown } from "@effect/platform/Runtime"
import { Cause, Console, Effect, Exit, Layer, Option, Redacted } from "effect"
import { formatTokens, formatUsers } from "./Admin/Listings"
import { Users } from "./Auth/Users"
import * as Download from "./Client/Download"
import { ClientError } from "./Client/Errors"
import { withPlainConsole } from "./Client/PlainConsole"
import { PortalClient } from "./Client/PortalClient"
import * as Upload from "./Client/Upload"
import { PortalConfig } from "./Config"
import { TokenId } from "./Domain/Ids"
import { ServicesLive } from "./Layers"
import { Sweeper } from "./Sweeper/Sweeper"
import { LoggerLive } from "./Logging"

/** What the operator commands run on: the services over the configured database and storage. */
const OperatorLive = ServicesLive.pipe(Layer.provide(PortalConfig.layer))

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

const usersList = Command.make("list", {}, () =>
  Effect.gen(function*() {
    yield* Console.log(formatUsers(yield* (yield* Users).everyUser))
  })).pipe(Command.withDescription("list every user, newest first: id, admin flag, quota, creation time, name"))

const users = Command.make("users").pipe(
  Command.withDescription("manage users"),
  Command.withSubcommands([usersCreate, usersSetQuota, usersList]),
  Command.provide(OperatorLive)
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

const tokensList = Command.make("list", { name: userName }, ({ name }) =>
  Effect.gen(function*() {
    yield* Console.log(formatTokens(yield* (yield* Users).everyTokenOf(name)))
  })).pipe(Command.withDescription("list a user's API tokens, newest first, revoked ones included (never their secrets)"))

const tokens = Command.make("tokens").pipe(
  Command.withDescription("manage API tokens"),
  Command.withSubcommands([tokensIssue, tokensRevoke, tokensList]),
  Command.provide(OperatorLive)
)

const sweep = Command.make("sweep", {}, () =>
  Effect.gen(function*() {
    const report = yield* (yield* Sweeper).sweep()
    yield* Console.log(
      `expired sessions ended: ${report.expired_sessions}, leftover staging removed: ${report.staging_removed}`
    )
  })).pipe(
    Command.withDescription("end expired sessions and remove leftover staging now (instances also do it every SWEEP_INTERVAL)"),
    Command.provide(OperatorLive)
  )

// building OperatorLive applies the migrations
const migrate = Command.make("migrate", {}, () => Console.log("database is migrated")).pipe(
  Command.withDescription("apply pending database migrations (the server also does this at start-up)"),
  Command.provide(OperatorLive)
)

/** A client command fails with one line: a defect is reported as such, without its stack. */
const clientHandler = <A, R>(effect: Effect.Effect<A, ClientError, R>) =>
  effect.pipe(
    Effect.asVoid,
    Effect.catchAllDefect((defect) =>
      new ClientError({ message: `unexpected failure: ${Cause.pretty(Cause.die(defect)).split("\n")[0] ?? ""}` })
    )
  )

const upload = Command.make(
  "upload",
  {
    paths: Args.file({ name: "path", exists: "either" }).pipe(
      Args.atLeast(1),
      Args.withDescription("the files to upload, one after the other")
    ),
    parallel: Options.integer("parallel").pipe(
      Options.filterMap(Option.liftPredicate((n) => n >= 1 && n <= 64), "--parallel must be between 1 and 64"),
      Options.withDefault(4),
      Options.withDescription("parts in flight at once (1 to 64)")
    ),
    chunkSize: Options.integer("chunk-size").pipe(
      Options.filterMap(Option.liftPredicate((n) => n >= 1), "--chunk-size must be a positive number of bytes"),
      Options.optional,
      Options.withDescription("bytes in every part but the last (default: the portal's UPLOAD_CHUNK_SIZE_DEFAULT)")
    )
  },
  ({ chunkSize, parallel, paths }) => clientHandler(Upload.upload(paths, { parallel, chunkSize }))
).pipe(
  Command.withDescription(
    "upload files to the portal at PORTAL_URL with PORTAL_TOKEN; prints each file id alone on a line of " +
      "stdout; running it again after an interruption resumes the same session and sends only the missing parts"
  ),
  Command.provide(PortalClient.Default)
)

const download = Command.make(
  "download",
  {
    fileId: Args.text({ name: "file-id" }).pipe(Args.withDescription("the id that upload printed")),
    output: Options.text("output").pipe(
      Options.withAlias("o"),
      Options.optional,
      Options.withDescription("where to write it: a file, or a directory (default: the original filename here)")
    ),
    force: Options.boolean("force").pipe(Options.withDescription("replace the output file if it exists"))
  },
  ({ fileId, force, output }) =>
    clientHandler(Download.download(fileId, { output, force }).pipe(Effect.flatMap((path) => Console.log(path))))
).pipe(
  Command.withDescription(
    "download a stored file from the portal at PORTAL_URL with PORTAL_TOKEN, verifying its SHA-256; prints the " +
      "path written"
  ),
  Command.provide(PortalClient.Default)
)

const portal = Command.make("portal").pipe(Command.withSubcommands([users, tokens, sweep, migrate, upload, download]))

const run = Command.run(portal, { name: "Ingest Portal", version: "0.1.0" })

const CliLive = Layer.merge(LoggerLive, BunContext.layer)

const reportFailure = (error: { readonly message: string }) =>
  Console.error(`error: ${error.message}`).pipe(Effect.zipRight(Effect.sync(() => {
    process.exitCode = 1
  })))

run(process.argv).pipe(
  Effect.catchTags({ NotFound: reportFailure, UserNameTaken: reportFailure, InvalidRequest: reportFailure, ClientError: reportFailure }),
  // @effect/cli has already printed what was wrong with the arguments
  Effect.catchIf(ValidationError.isValidationError, () => Effect.sync(() => {
    process.exitCode = 2
  })),
  withPlainConsole,
  Effect.provide(CliLive),
  BunRuntime.runMain({
    disablePrettyLogger: true,
    // Ctrl-C (or SIGTERM) ends with the conventional 130, not with success
    teardown: (exit, onExit) =>
      Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause) ? onExit(130) : defaultTeardown(exit, onExit)
  })
)
