/** Who may touch what: owners act on their own resources; admins may also read everyone's. */
import { Effect } from "effect"
import { Forbidden } from "../Domain/Errors"
import type { UserId } from "../Domain/Ids"
import type { User } from "../Domain/User"
import { CurrentUser } from "../Domain/CurrentUser"

const forbidden = (what: string) => new Forbidden({ message: `this ${what} belongs to another user` })

const canRead = (user: User, ownerId: UserId): boolean => user.is_admin || user.id === ownerId

/** Read access: the owner, or an admin. */
export const requireReader = (what: string, ownerId: UserId) =>
  Effect.flatMap(CurrentUser, (user) => (canRead(user, ownerId) ? Effect.succeed(user) : Effect.fail(forbidden(what))))

/** Write access: the owner only. */
export const requireOwner = (what: string, ownerId: UserId) =>
  Effect.flatMap(CurrentUser, (user) => (user.id === ownerId ? Effect.succeed(user) : Effect.fail(forbidden(what))))

export const requireAdmin = Effect.flatMap(CurrentUser, (user) =>
  user.is_admin ? Effect.succeed(user) : Effect.fail(new Forbidden({ message: "this endpoint is for admins" })))

/** Whose things a listing shows: the caller's, or, for an admin, the requested user's. */
export const listingOwner = (requested: UserId | undefined) =>
  Effect.flatMap(CurrentUser, (user) =>
    requested === undefined || requested === user.id ? Effect.succeed(user.id) : Effect.as(requireAdmin, requested))
