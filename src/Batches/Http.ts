import { HttpApiBuilder } from "@effect/platform"
import { Effect } from "effect"
import { Api } from "../Api"
import { setResponseHeader } from "../HttpResponse"
import { Batches } from "./Batches"

export const BatchesLive = HttpApiBuilder.group(Api, "batches", (handlers) =>
  Effect.gen(function*() {
    const batches = yield* Batches
    return handlers
      .handle("create", ({ payload }) =>
        Effect.tap(batches.create(payload), (batch) => setResponseHeader("location", `/batches/${batch.id}`)))
      .handle("list", ({ urlParams }) => batches.list(urlParams))
      .handle("get", ({ path }) => batches.get(path.id))
      .handle("files", ({ path, urlParams }) => batches.listFiles(path.id, urlParams))
  }))
