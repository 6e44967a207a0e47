/** The bearer-token security of the API: contract only, importable by clients. */
import { HttpApiMiddleware, HttpApiSecurity } from "@effect/platform"
import { CurrentUser } from "../Domain/CurrentUser"
import { Unauthorized } from "../Domain/Errors"

export class Authentication extends HttpApiMiddleware.Tag<Authentication>()("Portal/Authentication", {
  failure: Unauthorized,
  provides: CurrentUser,
  security: { bearer: HttpApiSecurity.bearer }
}) {}
