/**
 * Users and tokens as an operator reads them on a terminal (`cli users list`, `cli tokens
 * list`): aligned columns under a header, the name last since it may hold spaces. No secrets:
 * a token is its id, name and dates.
 */
import { DateTime, Option } from "effect"
import type { ApiToken, User } from "../Domain/User"

/** Columns padded to their widest cell, two spaces apart; the last one is not padded. */
const formatTable = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? "").length)))
  const line = (cells: ReadonlyArray<string>) =>
    cells.map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column] ?? 0))).join("  ")
  return [header, ...rows].map(line).join("\n")
}

export const formatUsers = (users: ReadonlyArray<User>): string =>
  formatTable(
    ["ID", "ADMIN", "QUOTA_BYTES", "CREATED_AT", "NAME"],
    users.map((user) => [
      user.id,
      user.is_admin ? "yes" : "no",
      String(user.quota_bytes),
      DateTime.formatIso(user.created_at),
      user.name
    ])
  )

export const formatTokens = (tokens: ReadonlyArray<ApiToken>): string =>
  formatTable(
    ["ID", "CREATED_AT", "REVOKED_AT", "NAME"],
    tokens.map((token) => [
      token.id,
      DateTime.formatIso(token.created_at),
      Option.match(token.revoked_at, { onNone: () => "-", onSome: DateTime.formatIso }),
      token.name
    ])
  )
