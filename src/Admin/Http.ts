import { HttpApiBuilder } from "@effect/platform"
import { Effect } from "effect"
import { Api } from "../Api"
import { requireAdmin } from "../Auth/Policy"
import { Outbox } from "../Outbox/Outbox"
import { Sweeper } from "../Sweeper/Sweeper"
import { OutboxPage } from "./Api"

export const AdminLive = HttpApiBuilder.group(Api, "admin", (handlers) =>
  Effect.gen(function*() {
    const sweeper = yield* Sweeper
    const outbox = yield* Outbox
    return handlers
      .handle("sweep", () => Effect.zipRight(requireAdmin, sweeper.sweep()))
      .handle("outbox", ({ urlParams }) =>
        Effect.zipRight(requireAdmin, Effect.map(outbox.list(urlParams), (page) => new OutboxPage(page))))
      .handle("retryEvent", ({ path }) => Effect.zipRight(requireAdmin, outbox.retry(path.id)))
  }))
