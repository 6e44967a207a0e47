/** What one run of the sweeper did. */
import { Schema } from "effect"

export class SweepReport extends Schema.Class<SweepReport>("SweepReport")({
  expired_sessions: Schema.Int.annotations({ description: "Sessions this sweep ended as expired" }),
  staging_removed: Schema.Int.annotations({ description: "Storage uploads (staged parts) of ended sessions removed" }),
  objects_removed: Schema.Int.annotations({ description: "Stored objects that no file owns, removed" })
}) {}
