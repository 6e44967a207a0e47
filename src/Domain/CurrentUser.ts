/** The user a request acts for, provided to every handler behind `Authentication`. */
import { Context } from "effect"
import type { User } from "./User"

export class CurrentUser extends Context.Tag("Portal/CurrentUser")<CurrentUser, User>() {}
