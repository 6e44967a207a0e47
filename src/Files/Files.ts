/** Ingest files: their records as sessions create and end them, metadata with access control, bytes. */
import { type DateTime, Effect, Option, Schema } from "effect"
import { requireReader } from "../Auth/Policy"
import { FileNotStored, NotFound } from "../Domain/Errors"
import type { BatchId, FileId } from "../Domain/Ids"
import { someOrFail } from "../Repo"
import { type ByteWindow, Storage, type StoredObject } from "../Storage/Storage"
import { FilesRepo, MarkStored } from "./FilesRepo"

const validateMarkStored = Schema.validate(MarkStored)

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

    /**
     * UPLOADING → STORED with its object. An object that lacks what the STORED invariant asks
     * for fails here (ParseError) without touching the database; None if the file had
     * already left UPLOADING.
     */
    const markStored = (id: FileId, object: StoredObject, now: DateTime.Utc) =>
      validateMarkStored({
        id,
        sha256: object.sha256,
        size_bytes: object.size,
        storage_backend: object.backend,
        storage_bucket: Option.getOrNull(object.bucket),
        storage_key: object.key,
        now
      }).pipe(Effect.flatMap(repo.markStored))

    return {
      create: repo.insert,
      get,
      getStored,
      markStored,
      markFailed: (id: FileId, now: DateTime.Utc, sha256: Option.Option<string>) =>
        repo.markFailed({ id, now, sha256: Option.getOrNull(sha256) }),
      listByBatch: (batchId: BatchId, afterId: Option.Option<FileId>, limit: number) =>
        repo.listByBatch({ batchId, afterId: Option.getOrNull(afterId), limit }),
      open: (key: string, window?: ByteWindow) => Effect.orDie(storage.open(key, window))
    } as const
  }),
  dependencies: [FilesRepo.Default]
}) {}

