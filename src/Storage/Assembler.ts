/**
 * Builds a session's final object while its parts are still arriving: whenever a part is
 * recorded, the parts that are now contiguous from part 1 are appended (and hashed) in the
 * background, so completing only has to append what is left instead of the whole file.
 *
 * This is an optimization of one process and nothing more. Parts are immutable once
 * recorded, so what was appended stays valid; if there is no work in progress (another
 * instance received the parts, the process restarted, something failed), completion
 * assembles everything from the recorded parts, as it would without this service.
 */
import { Effect, FiberSet, Option } from "effect"
import type { FileId, SessionId } from "../Domain/Ids"
import { makeKeyedLock } from "../KeyedLock"
import { type Assembly, assembleAll, type PartLocation, Storage } from "./Storage"

/** Sessions followed at once; beyond this, completion does all the work (bounded memory and files). */
const MAX_FOLLOWED = 256

interface Followed {
  readonly fileId: FileId
  assembly: Option.Option<Assembly>
  /** Where the parts appended so far were, in part-number order. */
  readonly appended: Array<string>
  /** Parts this process recorded that are not appended yet, by part number. */
  readonly recorded: Map<number, PartLocation>
  broken: boolean
}

const where = (part: PartLocation) => `${part.key}@${part.offset}+${part.size}`

export class Assembler extends Effect.Service<Assembler>()("Portal/Assembler", {
  scoped: Effect.gen(function*() {
    const storage = yield* Storage
    const followed = new Map<SessionId, Followed>()
    const background = yield* FiberSet.make()
    // one step at a time per session: appending in the background, finishing, forgetting
    const perSession = yield* makeKeyedLock<SessionId>()

    const abandon = (state: Followed) =>
      Effect.suspend(() => {
        state.broken = true
        const assembly = state.assembly
        state.assembly = Option.none()
        return Option.match(assembly, { onNone: () => Effect.void, onSome: (a) => a.abort })
      })

    yield* Effect.addFinalizer(() => Effect.forEach(followed.values(), abandon, { discard: true }))

    const appendTo = (state: Followed, sessionId: SessionId, part: PartLocation) =>
      Effect.gen(function*() {
        const assembly = Option.isSome(state.assembly)
          ? state.assembly.value
          : yield* storage.beginAssembly({ fileId: state.fileId, sessionId })
        state.assembly = Option.some(assembly)
        yield* assembly.append(part)
        state.appended.push(where(part))
      })

    /**
     * Appends recorded parts for as long as the next one in order is known here. Parts
     * recorded by other instances are not seen: completion appends them from the database.
     */
    const catchUp = (sessionId: SessionId, state: Followed) =>
      Effect.gen(function*() {
        while (!state.broken) {
          const partNumber = state.appended.length + 1
          const next = state.recorded.get(partNumber)
          if (next === undefined) return
          yield* appendTo(state, sessionId, next)
          state.recorded.delete(partNumber)
        }
      })

    /** A part of the session was recorded: follow up in the background. Never fails the caller. */
    const partRecorded = (sessionId: SessionId, fileId: FileId, partNumber: number, location: PartLocation) =>
      Effect.suspend(() => {
        let state = followed.get(sessionId)
        if (state === undefined) {
          if (followed.size >= MAX_FOLLOWED) return Effect.void
          state = {
            fileId,
            assembly: Option.none(),
            appended: [],
            recorded: new Map(),
            broken: false
          }
          followed.set(sessionId, state)
        }
        const current = state
        current.recorded.set(partNumber, { key: location.key, offset: location.offset, size: location.size })
        return FiberSet.run(
          background,
          perSession.withLock(sessionId, catchUp(sessionId, current)).pipe(
            Effect.catchAllCause((cause) =>
              Effect.logWarning("background assembly stopped; completion will assemble in full", cause).pipe(
                Effect.zipRight(abandon(current))
              ))
          )
        ).pipe(Effect.asVoid)
      })

    /** Stops following a session that ended without completing. */
    const forget = (sessionId: SessionId) =>
      Effect.suspend(() => {
        const state = followed.get(sessionId)
        followed.delete(sessionId)
        return state === undefined ? Effect.void : perSession.withLock(sessionId, abandon(state))
      })

    /**
     * The session's final object from `parts` (all of them, in order): what was appended in
     * the background is kept when it is exactly a prefix of `parts`; the rest is appended now.
     */
    const assemble = (sessionId: SessionId, fileId: FileId, parts: ReadonlyArray<PartLocation>) =>
      Effect.suspend(() => {
        const state = followed.get(sessionId)
        followed.delete(sessionId)
        if (state === undefined) return assembleAll(storage, { fileId, sessionId, parts })
        return perSession.withLock(sessionId, Effect.gen(function*() {
          const isPrefix = state.appended.length <= parts.length &&
            state.appended.every((appended, i) => {
              const part = parts[i]
              return part !== undefined && where(part) === appended
            })
          if (state.broken || Option.isNone(state.assembly) || !isPrefix) {
            yield* abandon(state)
            return yield* assembleAll(storage, { fileId, sessionId, parts })
          }
          const assembly = state.assembly.value
          for (const part of parts.slice(state.appended.length)) yield* assembly.append(part)
          state.assembly = Option.none()
          return yield* assembly.finish
        }).pipe(Effect.onError(() => abandon(state))))
      })

    /** The sessions followed here, so that those ended elsewhere can be forgotten. */
    const followedSessions = Effect.sync((): ReadonlyArray<SessionId> => [...followed.keys()])

    return { partRecorded, forget, assemble, followedSessions } as const
  })
}) {}
