import { Effect, Layer } from "effect"
import { Authentication } from "./Authentication"
import { Users } from "./Users"

export const AuthenticationLive = Layer.effect(
  Authentication,
  Effect.map(Users, (users) => Authentication.of({ bearer: users.authenticate }))
)
