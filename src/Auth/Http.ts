import { Effect, Layer } from "effect"
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
