import { HttpApiBuilder } from "@effect/platform"
import { Api } from "../Api"
import { CurrentUser } from "../Domain/CurrentUser"

export const AccountLive = HttpApiBuilder.group(Api, "account", (handlers) => handlers.handle("me", () => CurrentUser))
