import { HttpApiBuilder } from "@effect/platform"
import { Effect } from "effect"
import { Api } from "../Api"
import { requireAdmin } from "../Auth/Policy"
import { Sweeper } from "../Sweeper/Sweeper"

export const AdminLive = HttpApiBuilder.group(Api, "admin", (handlers) =>
  Effect.gen(function*() {
    const sweeper = yield* Sweeper
    return handlers.handle("sweep", () => Effect.zipRight(requireAdmin, sweeper.sweep))
  }))
