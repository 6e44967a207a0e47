/** How an endpoint reads in the OpenAPI document: its operationId, summary and description. Contract only. */
import { OpenApi } from "@effect/platform"

export interface OperationDocs {
  /** One line, as lists of operations show it. */
  readonly summary: string
  readonly description: string
  /** Edits the generated operation, for what the schemas cannot say (response headers, an optional body). */
  readonly transform?: (operation: Record<string, unknown>) => Record<string, unknown>
}

/** An endpoint's annotations: `identifier` is its operationId, the name generated clients give the call. */
export const operation = (identifier: string, docs: OperationDocs) => OpenApi.annotations({ identifier, ...docs })
