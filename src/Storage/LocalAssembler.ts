/**
 * Assembles local final objects. An object is a directory of its own,
 * `files/<xx>/<file>.<holder>/`, holding hard links to the recorded part files (`1`, `2`, …)
 * and a manifest of their sizes: nothing is copied, and the bytes are the very files that
 * were received, which nothing writes any more (each claim wrote a file of its own, and a
 * writer whose claim lapsed writes only into its own, unrecorded file). The finalize lease's
 * holder builds the directory under a temporary name and renames it into place.
 *
 * The object's SHA-256 comes from the hashing worker reading the parts back in order. While
 * parts are still arriving, whenever one is recorded here the parts now contiguous from part 1
 * are hashed in the background, so that completing only has to hash what is left. That is an
 * optimization of one process and nothing more: when there is no work in progress (another
 * instance received the parts, the process restarted, something failed), completion hashes
 * everything from the recorded parts.
 */
import { Effect, FiberSet, Option, Schema } from "effect"
import * as fsp from "node:fs/promises"
import * as NodePath from "node:path"
import { makeKeyedLock } from "../KeyedLock"
import { type Durable, fsyncFile } from "./Durable"
import type { RegionDigest, RegionHasher } from "./RegionHasher"
import { type ReceivedPart, StorageError, type StoredObject, type UploadTarget } from "./Storage"

/** The file in an object's directory that lists its parts' sizes. */
export const MANIFEST = "manifest.json"

export const ObjectManifest = Schema.Struct({
  /** Sizes of the parts, in order; part n is the file `n`. */
  sizes: Schema.Array(Schema.Int.pipe(Schema.nonNegative()))
})
export type ObjectManifest = typeof ObjectManifest.Type

/** Sessions followed at once; beyond this, completion does all the work (bounded memory and files). */
const MAX_FOLLOWED = 256

interface Assembly {
  readonly key: string
  readonly digest: RegionDigest
}

interface Followed {
  readonly fileId: string
  assembly: Option.Option<Assembly>
  /** The locators of the parts appended so far, in part-number order. */
  readonly appended: Array<string>
  /** Parts recorded here that are not appended yet, by part number. */
  readonly recorded: Map<number, ReceivedPart>
  broken: boolean
}

export const makeLocalAssembler = (deps: {
  readonly hasher: RegionHasher
  readonly durable: Durable
  readonly pathOf: (key: string) => string
  readonly objectKey: (fileId: string, holder: string) => string
  readonly fsync: boolean
}) =>
  Effect.gen(function*() {
    const { durable, hasher, pathOf } = deps
    const followed = new Map<string, Followed>()
    const background = yield* FiberSet.make()
    // one step at a time per session: appending in the background, finishing, forgetting
    const perSession = yield* makeKeyedLock<string>()

    const failed = (operation: string, key: string) => (cause: unknown) => new StorageError({ operation, key, cause })

    const abandon = (state: Followed) =>
      Effect.suspend(() => {
        state.broken = true
        const assembly = state.assembly
        state.assembly = Option.none()
        return Option.match(assembly, { onNone: () => Effect.void, onSome: (a) => a.digest.drop })
      })

    yield* Effect.addFinalizer(() => Effect.forEach(followed.values(), abandon, { discard: true }))

    const start = (target: UploadTarget) =>
      Effect.map(hasher.begin().pipe(Effect.mapError(failed("assemble", target.ref))), (digest) => ({ key: target.ref, digest }))

    const appendTo = (state: Followed, target: UploadTarget, part: ReceivedPart) =>
      Effect.gen(function*() {
        const assembly = Option.isSome(state.assembly) ? state.assembly.value : yield* start(target)
        state.assembly = Option.some(assembly)
        yield* assembly.digest.append(pathOf(part.locator), 0, part.size).pipe(Effect.mapError(failed("assemble", part.locator)))
        state.appended.push(part.locator)
      })

    /** Appends recorded parts for as long as the next one in order is known here. */
    const catchUp = (target: UploadTarget, state: Followed) =>
      Effect.gen(function*() {
        while (!state.broken) {
          const partNumber = state.appended.length + 1
          const next = state.recorded.get(partNumber)
          if (next === undefined) return
          yield* appendTo(state, target, next)
          state.recorded.delete(partNumber)
        }
      })

    const partRecorded = (target: UploadTarget, part: ReceivedPart) =>
      Effect.suspend(() => {
        let state = followed.get(target.sessionId)
        if (state === undefined) {
          if (followed.size >= MAX_FOLLOWED) return Effect.void
          state = { fileId: target.fileId, assembly: Option.none(), appended: [], recorded: new Map(), broken: false }
          followed.set(target.sessionId, state)
        }
        const current = state
        current.recorded.set(part.partNumber, part)
        return FiberSet.run(
          background,
          perSession.withLock(target.sessionId, catchUp(target, current)).pipe(
            Effect.catchAllCause((cause) =>
              Effect.logWarning("background assembly stopped; completion will assemble in full", cause).pipe(
                Effect.zipRight(abandon(current))
              ))
          )
        ).pipe(Effect.asVoid)
      })

    /** Stops following a session: its work in progress is dropped. */
    const forget = (sessionId: string) =>
      Effect.suspend(() => {
        const state = followed.get(sessionId)
        followed.delete(sessionId)
        return state === undefined ? Effect.void : perSession.withLock(sessionId, abandon(state))
      })

    /**
     * Makes the object `key` from `parts`: links them into a new directory with the manifest,
     * syncs it, and renames it into place. The name is this holder's own, so the rename can
     * replace nobody's object.
     */
    const linkObject = async (key: string, target: UploadTarget, parts: ReadonlyArray<ReceivedPart>) => {
      const building = `${target.ref}/object.${Bun.randomUUIDv7()}`
      await fsp.mkdir(pathOf(building))
      await Promise.all(parts.map((part) => fsp.link(pathOf(part.locator), pathOf(`${building}/${part.partNumber}`))))
      const manifest: ObjectManifest = { sizes: parts.map((part) => part.size) }
      await Bun.write(pathOf(`${building}/${MANIFEST}`), JSON.stringify(manifest))
      if (deps.fsync) {
        await fsyncFile(pathOf(`${building}/${MANIFEST}`))
        await durable.entries(building)
      }
      const directory = NodePath.dirname(key)
      await durable.directory(directory)
      await fsp.rename(pathOf(building), pathOf(key)).catch(async (error: NodeJS.ErrnoException) => {
        // this holder made the object already (a complete repeated): the same parts, the same bytes
        if (error.code !== "ENOTEMPTY" && error.code !== "EEXIST") throw error
        await fsp.rm(pathOf(building), { recursive: true, force: true })
      })
      await durable.entries(directory)
    }

    /** The object from `parts` (all of them, in order); what was hashed early is kept when it is a prefix. */
    const assemble = (target: UploadTarget, holder: string, parts: ReadonlyArray<ReceivedPart>) =>
      perSession.withLock(target.sessionId, Effect.gen(function*() {
        const earlier = followed.get(target.sessionId)
        followed.delete(target.sessionId)
        const state: Followed = earlier !== undefined && !earlier.broken && Option.isSome(earlier.assembly) &&
            earlier.appended.length <= parts.length && earlier.appended.every((locator, i) => parts[i]?.locator === locator)
          ? earlier
          : { fileId: target.fileId, assembly: Option.none(), appended: [], recorded: new Map(), broken: false }
        if (earlier !== undefined && earlier !== state) yield* abandon(earlier)
        return yield* Effect.gen(function*() {
          for (const part of parts.slice(state.appended.length)) yield* appendTo(state, target, part)
          const assembly = Option.isSome(state.assembly) ? state.assembly.value : yield* start(target)
          state.assembly = Option.none()
          const sha256 = yield* assembly.digest.digest.pipe(Effect.mapError(failed("assemble", assembly.key)))
          const key = deps.objectKey(target.fileId, holder)
          yield* Effect.tryPromise({ try: () => linkObject(key, target, parts), catch: failed("store", key) })
          const size = parts.reduce((sum, part) => sum + part.size, 0)
          const stored: StoredObject = { backend: "local", bucket: Option.none(), key, size, sha256 }
          return stored
        }).pipe(Effect.onError(() => abandon(state)))
      }))

    /** The sessions followed here, so that those ended elsewhere can be released. */
    const followedSessions = Effect.sync((): ReadonlyArray<string> => [...followed.keys()])

    return { partRecorded, forget, assemble, followedSessions } as const
  })
