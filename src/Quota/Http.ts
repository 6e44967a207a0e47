import { HttpApiBuilder } from "@effect/platform"
import { Effect } from "effect"
import { Api } from "../Api"
import { CurrentUser } from "../Domain/CurrentUser"
import { Quota } from "./Quota"

export const QuotaLive = HttpApiBuilder.group(Api, "quota", (handlers) =>
  Effect.gen(function*() {
    const quota = yield* Quota
    // CurrentUser is read from the database on every request, so its quota is current
    return handlers.handle("get", () => Effect.flatMap(CurrentUser, (user) => quota.report(user.id)))
  }))
