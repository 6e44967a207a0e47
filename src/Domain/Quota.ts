/** Per-user quotas: STORED bytes plus bytes reserved by open sessions stay within quota_bytes. */
import { Option, Schema } from "effect"
import { ByteCount } from "./Common"
import { QuotaExceeded } from "./Errors"

export class QuotaReport extends Schema.Class<QuotaReport>("Quota")({
  limit_bytes: ByteCount,
  used_bytes: Schema.propertySignature(ByteCount).annotations({ description: "Bytes of STORED files" }),
  reserved_bytes: Schema.propertySignature(ByteCount).annotations({
    description: "Bytes reserved by open (INIT, IN_PROGRESS) sessions"
  }),
  remaining_bytes: ByteCount
}, { description: "The caller's quota: what is stored, what open sessions reserve, what remains" }) {
  static of = (limit: number, used: number, reserved: number) =>
    new QuotaReport({
      limit_bytes: limit,
      used_bytes: used,
      reserved_bytes: reserved,
      remaining_bytes: Math.max(0, limit - used - reserved)
    })

  /** The report once `bytes` more are reserved. */
  reserving(bytes: number): QuotaReport {
    return QuotaReport.of(this.limit_bytes, this.used_bytes, this.reserved_bytes + bytes)
  }

  /** The refusal of a reservation of `bytes`, if they do not fit. */
  refusal(bytes: number): Option.Option<QuotaExceeded> {
    if (this.remaining_bytes >= bytes) return Option.none()
    return Option.some(new QuotaExceeded({
      message: `this upload needs ${bytes} bytes but only ${this.remaining_bytes} of the quota remain`,
      limit_bytes: this.limit_bytes,
      used_bytes: this.used_bytes,
      reserved_bytes: this.reserved_bytes,
      remaining_bytes: this.remaining_bytes,
      requested_bytes: bytes
    }))
  }
}
