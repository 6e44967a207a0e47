/** Stored files: metadata with access control, and their bytes. */
import { Effect, Option } from "effect"
import { requireReader } from "../Auth/Policy"
import { FileNotStored, NotFound } from "../Domain/Errors"
import type { FileId } from "../Domain/Ids"
import { Storage, type ByteWindow } from "../Storage/Storage"
import { FilesRepo } from "./FilesRepo"
import { someOrFail } from "../Found"

export class Files extends Effect.Service<Files>()("Portal/Files", {
  effect: Effect.gen(function*() {
    const repo = yield* FilesRepo
    const storage = yield* Storage

    const get = (id: FileId) =>
      Effect.gen(function*() {
        const file = yield* repo.findById(id).pipe(someOrFail(() => NotFound.file(id)))
        yield* requireReader("file", file.uploaded_by)
        return file
      })

    /** A readable file: STORED, with its digest, size and location. */
    const getStored = (id: FileId) =>
      Effect.gen(function*() {
        const file = yield* get(id)
        if (file.status === "STORED" && Option.isSome(file.sha256) && Option.isSome(file.size_bytes) &&
          Option.isSome(file.storage_key)) {
          return { file, sha256: file.sha256.value, size: file.size_bytes.value, key: file.storage_key.value }
        }
        return yield* new FileNotStored({
          message: `file ${id} is ${file.status} and has no content to download`,
          file_id: id,
          status: file.status
        })
      })

    const read = (key: string, window?: ByteWindow) => Effect.orDie(storage.read(key, window))

    return { get, getStored, read } as const
  }),
  dependencies: [FilesRepo.Default]
}) {}
