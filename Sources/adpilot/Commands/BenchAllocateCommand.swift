// `adpilot bench allocate` times in-memory planning of synthetic campaigns over 24 hours and
// prints the seconds as its last line.

import AdPilot
import Foundation

/// Runs the planning benchmark and prints its figures, `seconds=<x>` last.
func runAllocationBench(_ parsed: ParsedArguments, _ context: Context) throws {
  let campaigns = try parsed.int("campaigns", default: 10_000)
  guard campaigns >= 1 else {
    throw UsageError(message: "--campaigns must be at least 1, got \(campaigns)")
  }
  let figures = try AllocationBenchmark.run(campaigns: campaigns)
  context.print(
    "campaigns=\(figures.campaigns) hourly_rows=\(figures.hourlyRows) "
      + "allocated=\(money(figures.allocatedMicros))")
  context.print("seconds=" + String(format: "%.3f", figures.seconds))
}
