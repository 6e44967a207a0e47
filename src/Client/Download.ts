/**
 * `cli download <file-id> [-o path] [--force]`: streams the content to a temporary file next to
 * the target while hashing it, and gives it the target's name only once its SHA-256 matches
 * the file's. An existing file is replaced only with --force.
 */
import { FileSystem, type HttpClientResponse, Path } from "@effect/platform"
import { Effect, Exit, Option, Schema, Stream } from "effect"
import { FileId } from "../Domain/Ids"
import { ClientError, explain, fileFailure, refusal } from "./Errors"
import { formatBytes } from "./Format"
import { PortalClient } from "./PortalClient"
import { note, withProgress } from "./Progress"

export interface DownloadOptions {
  /** A file or an existing directory; none: the original filename in the current directory. */
  readonly output: Option.Option<string>
  readonly force: boolean
}

const WRITE_BUFFER = 1024 * 1024

/** The last segment of the recorded name, so that a name can never point outside the directory. */
const safeName = (recorded: string): Option.Option<string> =>
  Option.liftPredicate(
    recorded.split(/[\\/]/).at(-1) ?? "",
    (name) => name !== "" && name !== "." && name !== ".."
  )

const parseFileId = (raw: string) =>
  Schema.decodeUnknown(FileId)(raw.trim()).pipe(
    Effect.mapError(() =>
      new ClientError({ message: `not a file id: ${JSON.stringify(raw)} (a file id is a UUID, as upload prints it)` })
    )
  )

/** Streams the response body into `temporary` while hashing it; answers the SHA-256 of what was written. */
const writeHashed = (
  response: HttpClientResponse.HttpClientResponse,
  temporary: string,
  progress: { readonly label: string; readonly total: number }
) =>
  Effect.gen(function*() {
    const client = yield* PortalClient
    const hasher = new Bun.CryptoHasher("sha256")
    const writeFailed = (cause: unknown) =>
      new ClientError({ message: `cannot write ${temporary}: ${cause instanceof Error ? cause.message : String(cause)}` })
    // Bun's file sink gathers the network's small chunks into large writes
    yield* Effect.acquireUseRelease(
      Effect.try({ try: () => Bun.file(temporary).writer({ highWaterMark: WRITE_BUFFER }), catch: writeFailed }),
      (writer) =>
        withProgress({ verb: "download", ...progress }, (bar) =>
          response.stream.pipe(
            Stream.mapError(explain(client.baseUrl)),
            Stream.runForEach((chunk) =>
              Effect.try({ try: () => writer.write(chunk), catch: writeFailed }).pipe(
                Effect.zipRight(Effect.sync(() => hasher.update(chunk))),
                Effect.zipRight(bar.advance(chunk.byteLength))
              )
            )
          )).pipe(Effect.zipRight(Effect.tryPromise({ try: async () => writer.end(), catch: writeFailed }))),
      (writer, exit) => Exit.isSuccess(exit) ? Effect.void : Effect.promise(async () => writer.end()).pipe(Effect.ignore)
    )
    return hasher.digest("hex")
  })

/**
 * Gives the finished temporary file the target's name. Without --force a hard link takes the
 * name only if it is still free (no check-then-write race); where hard links are not supported,
 * check, then rename.
 */
const moveIntoPlace = (temporary: string, target: string, force: boolean) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const rename = fs.rename(temporary, target).pipe(Effect.mapError(fileFailure("write", target)))
    if (force) return yield* rename
    const taken = new ClientError({ message: `${target} already exists; pass --force to replace it` })
    yield* fs.link(temporary, target).pipe(
      Effect.catchAll((error) =>
        error._tag === "SystemError" && error.reason === "AlreadyExists"
          ? Effect.fail(taken)
          : Effect.flatMap(fs.exists(target).pipe(Effect.orElseSucceed(() => false)), (exists) =>
            exists ? Effect.fail(taken) : rename)
      )
    )
  })

/** Downloads a stored file, verified, and answers the path it was written to. */
export const download = (rawId: string, options: DownloadOptions) =>
  Effect.gen(function*() {
    const client = yield* PortalClient
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const id = yield* parseFileId(rawId)

    const file = yield* client.api.files.get({ path: { id } }).pipe(
      Effect.catchTag("NotFound", () => new ClientError({ message: `no file ${id} at ${client.baseUrl}` })),
      Effect.mapError(explain(client.baseUrl))
    )
    if (file.status !== "STORED") {
      const why = file.status === "UPLOADING" ? "its upload is not complete yet" : "its upload failed"
      return yield* new ClientError({ message: `file ${id} has no content: ${why} (${file.status})` })
    }
    const expected = yield* Option.match(file.sha256, {
      onNone: () => new ClientError({ message: `the portal gave no SHA-256 for file ${id}; it cannot be verified` }),
      onSome: Effect.succeed
    })

    const name = Option.getOrElse(safeName(file.original_filename), () => id)
    const isDirectory = (candidate: string) =>
      fs.stat(candidate).pipe(Effect.map((info) => info.type === "Directory"), Effect.orElseSucceed(() => false))
    const target = yield* Option.match(options.output, {
      onNone: () => Effect.succeed(path.resolve(name)),
      onSome: (output) =>
        Effect.map(isDirectory(output), (directory) => path.resolve(directory ? path.join(output, name) : output))
    })
    const exists = yield* fs.exists(target).pipe(Effect.mapError(fileFailure("write", target)))
    if (exists && !options.force) {
      return yield* new ClientError({ message: `${target} already exists; pass --force to replace it` })
    }

    const response = yield* client.http.get(`/files/${id}/content`).pipe(
      Effect.filterOrElse((answer) => answer.status === 200, refusal),
      Effect.mapError(explain(client.baseUrl))
    )
    const temporary = path.join(path.dirname(target), `.${path.basename(target)}.${Bun.randomUUIDv7().slice(-12)}.download`)
    const size = Option.getOrElse(file.size_bytes, () => 0)
    yield* Effect.gen(function*() {
      const actual = yield* writeHashed(response, temporary, { label: name, total: size })
      if (actual !== expected) {
        return yield* new ClientError({
          message: `the downloaded bytes of ${id} have SHA-256 ${actual}, not the file's ${expected}; ` +
            `nothing was written to ${target}`
        })
      }
      yield* moveIntoPlace(temporary, target, options.force)
    }).pipe(Effect.ensuring(fs.remove(temporary, { force: true }).pipe(Effect.ignore)))

    yield* note(`${id}: saved ${formatBytes(size)} to ${target} (SHA-256 verified)`)
    return target
  })
