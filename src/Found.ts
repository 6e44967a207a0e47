/** A repository's Option turned into the value, or into the failure that "nothing" means there. */
import { Effect, Option } from "effect"

export const someOrFail = <E>(onNone: () => E) =>
<A, E1, R>(self: Effect.Effect<Option.Option<A>, E1, R>): Effect.Effect<A, E | E1, R> =>
  Effect.flatMap(self, Option.match({ onNone: () => Effect.fail(onNone()), onSome: Effect.succeed }))

/** For an Option that cannot be None unless the code is wrong. */
export const someOrDie = (message: () => string) =>
<A, E1, R>(self: Effect.Effect<Option.Option<A>, E1, R>): Effect.Effect<A, E1, R> =>
  Effect.flatMap(self, Option.match({ onNone: () => Effect.dieMessage(message()), onSome: Effect.succeed }))
