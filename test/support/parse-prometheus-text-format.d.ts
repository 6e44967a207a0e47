/** Types for parse-prometheus-text-format 1.1.1, which ships none: what the metrics tests read of its output. */
declare module "parse-prometheus-text-format" {
  export type Labels = Readonly<Record<string, string>>

  /** A counter, gauge or untyped sample: the value as written ("12", "+Inf"). */
  export interface Sample {
    readonly value: string
    readonly labels?: Labels
  }

  /** A histogram's series: cumulative bucket counts by upper bound ("0.5", "+Inf"). */
  export interface HistogramSample {
    readonly buckets: Readonly<Record<string, string>>
    readonly count: string
    readonly sum: string
    readonly labels?: Labels
  }

  export type MetricFamily =
    | { readonly name: string; readonly help: string; readonly type: "COUNTER" | "GAUGE" | "UNTYPED"; readonly metrics: ReadonlyArray<Sample> }
    | { readonly name: string; readonly help: string; readonly type: "HISTOGRAM"; readonly metrics: ReadonlyArray<HistogramSample> }
    | { readonly name: string; readonly help: string; readonly type: "SUMMARY"; readonly metrics: ReadonlyArray<unknown> }

  export default function parsePrometheusTextFormat(text: string): Array<MetricFamily>
}
