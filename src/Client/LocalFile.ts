/** The file on disk that `cli upload` sends: checked before any request is made, and hashed. */
import { FileSystem } from "@effect/platform"
import { Effect, Stream } from "effect"
import { ClientError, fileFailure } from "./Errors"
import { withProgress } from "./Progress"

export interface LocalFile {
  readonly path: string
  /** The name the portal records: the path's last segment. */
  readonly name: string
  readonly size: number
  readonly contentType: string
}

/** Checks that `path` is a non-empty regular file that can be read, before any request is made. */
export const localFile = (path: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const info = yield* fs.stat(path).pipe(Effect.mapError(fileFailure("upload", path)))
    if (info.type !== "File") {
      return yield* new ClientError({ message: `cannot upload ${path}: it is not a regular file` })
    }
    if (info.size === BigInt(0)) {
      return yield* new ClientError({
        message: `cannot upload ${path}: it is empty (the portal stores files of 1 byte or more)`
      })
    }
    yield* fs.access(path, { readable: true }).pipe(Effect.mapError(fileFailure("read", path)))
    const blob = Bun.file(path)
    const file: LocalFile = {
      path,
      name: path.split(/[\\/]/).filter((segment) => segment !== "").at(-1) ?? path,
      size: Number(info.size),
      contentType: blob.type === "" ? "application/octet-stream" : blob.type
    }
    return file
  })

/** The file's SHA-256, streamed from disk (with a bar on a terminal: large files take a while). */
export const sha256Of = (file: LocalFile) =>
  withProgress({ verb: "hashing", label: file.name, total: file.size, plain: false }, (progress) => {
    const hasher = new Bun.CryptoHasher("sha256")
    return Stream.fromReadableStream(
      () => Bun.file(file.path).stream(),
      (cause) => new ClientError({ message: `cannot read ${file.path}: ${String(cause)}` })
    ).pipe(
      Stream.runForEach((chunk) =>
        Effect.zipRight(Effect.sync(() => hasher.update(chunk)), progress.advance(chunk.byteLength))
      ),
      Effect.map(() => hasher.digest("hex"))
    )
  })
