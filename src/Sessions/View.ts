/** How a session is shown: everything a client needs to resume it, in one response. */
import type { DateTime } from "effect"
import type { SessionId } from "../Domain/Ids"
import { isExpired, missingRanges, type PartRange } from "../Domain/Session"
import { SessionSummary, SessionView } from "./Api"
import type { SessionWithFile } from "./SessionsRepo"

const partUrlTemplate = (id: SessionId) => `/uploads/sessions/${id}/parts/{part_number}`

const fromFile = ({ file, session }: SessionWithFile, now: DateTime.Utc) => ({
  ...session,
  batch_id: file.batch_id,
  filename: file.original_filename,
  content_type: file.content_type,
  expired: isExpired(session, now)
})

export const toView = (row: SessionWithFile, received: ReadonlyArray<PartRange>, now: DateTime.Utc) =>
  new SessionView({
    ...fromFile(row, now),
    metadata: row.file.metadata,
    received_parts: received,
    missing_parts: missingRanges(received, row.session.total_parts),
    part_url_template: partUrlTemplate(row.session.id),
    file: row.file
  })

export const toSummary = (row: SessionWithFile, now: DateTime.Utc) => new SessionSummary(fromFile(row, now))
