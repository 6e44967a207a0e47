/** What one run of the sweeper did. */
import { Schema } from "effect"
import { Count } from "./Common"

export class SweepReport extends Schema.Class<SweepReport>("SweepReport")({
  expired_sessions: Schema.propertySignature(Count).annotations({ description: "Sessions this sweep ended as expired" }),
  staging_removed: Schema.propertySignature(Count).annotations({
    description: "Storage uploads (staged parts) of ended sessions removed"
  }),
  objects_removed: Schema.propertySignature(Count).annotations({ description: "Stored objects that no file owns, removed" })
}, { description: "What the sweep did" }) {}
