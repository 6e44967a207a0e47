/** What one run of the sweeper did. */
import { Schema } from "effect"

export class SweepReport extends Schema.Class<SweepReport>("SweepReport")({
  expired_sessions: Schema.Int.annotations({ description: "Sessions this sweep ended as expired" }),
  staging_removed: Schema.Int.annotations({ description: "Staging folders of ended sessions removed" })
}) {}
