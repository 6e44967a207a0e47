import { HttpApiBuilder } from "@effect/platform"
import { Effect, Option } from "effect"
import { Api } from "../Api"
import { requireAdmin } from "../Auth/Policy"
import { type IssuedToken, Users } from "../Auth/Users"
import { IssuedApiToken } from "../Domain/User"
import { Outbox } from "../Outbox/Outbox"
import { Sweeper } from "../Sweeper/Sweeper"
import { CreatedUser, OutboxPage, TokenPage, UserPage } from "./Api"

const issuedToken = ({ secret, token }: IssuedToken) => new IssuedApiToken({ ...token, secret })

export const AdminLive = HttpApiBuilder.group(Api, "admin", (handlers) =>
  Effect.gen(function*() {
    const sweeper = yield* Sweeper
    const outbox = yield* Outbox
    const users = yield* Users
    return handlers
      .handle("sweep", () => Effect.zipRight(requireAdmin, sweeper.sweep()))
      .handle("outbox", ({ urlParams }) =>
        Effect.zipRight(requireAdmin, Effect.map(outbox.list(urlParams), (page) => new OutboxPage(page))))
      .handle("retryEvent", ({ path }) => Effect.zipRight(requireAdmin, outbox.retry(path.id)))
      .handle("listUsers", ({ urlParams }) =>
        Effect.zipRight(requireAdmin, Effect.map(users.list(urlParams), (page) => new UserPage(page))))
      .handle("createUser", ({ payload }) =>
        Effect.zipRight(
          requireAdmin,
          Effect.gen(function*() {
            const user = yield* users.create({ name: payload.name, isAdmin: payload.is_admin, quotaBytes: payload.quota_bytes })
            const token = payload.issue_token === false
              ? Option.none()
              : Option.some(issuedToken(yield* users.issueToken(user, payload.token_name)))
            return new CreatedUser({ user, token: Option.getOrNull(token) })
          })
        ))
      .handle("updateUser", ({ path, payload }) =>
        Effect.zipRight(requireAdmin, users.update(path.id, { quotaBytes: payload.quota_bytes, isAdmin: payload.is_admin })))
      .handle("listTokens", ({ path, urlParams }) =>
        Effect.zipRight(requireAdmin, Effect.map(users.listTokens(path.id, urlParams), (page) => new TokenPage(page))))
      .handle("issueToken", ({ path, payload }) =>
        Effect.zipRight(
          requireAdmin,
          Effect.flatMap(users.findById(path.id), (user) => Effect.map(users.issueToken(user, payload.name), issuedToken))
        ))
      .handle("revokeToken", ({ path }) => Effect.zipRight(requireAdmin, users.revokeToken(path.id)))
  }))
