/** The HTTP side of authentication: the bearer-token middleware over Users, and the account handlers. */
import { HttpApiBuilder } from "@effect/platform"
import { Effect, Layer } from "effect"
import { Api } from "../Api"
import { CurrentUser } from "../Domain/CurrentUser"
import { noteUser } from "../Operations/CurrentRequest"
import { Authentication } from "./Authentication"
import { Users } from "./Users"

export const AuthenticationLive = Layer.effect(
  Authentication,
  Effect.map(Users, (users) =>
    Authentication.of({
      // the request log names the user of every authenticated request
      bearer: (token) => Effect.tap(users.authenticate(token), (user) => noteUser(user.id))
    }))
)

export const AccountLive = HttpApiBuilder.group(Api, "account", (handlers) => handlers.handle("me", () => CurrentUser))
