// `adpilot bench allocate` times in-memory planning of synthetic campaigns over 24 hours and
// prints the seconds as its last line. It can also write the problem for an outside LP solver.

import AdPilot
import Foundation

/// Runs the planning benchmark and prints its figures, `seconds=<x>` last.
func runAllocationBench(_ parsed: ParsedArguments, _ context: Context) throws {
  let campaigns = try parsed.int("campaigns", default: 10_000)
  guard campaigns >= 1 else {
    throw UsageError(message: "--campaigns must be at least 1, got \(campaigns)")
  }
  let seed = try parsed.int("seed", default: 1)
  let problem = AllocationBenchmark.problem(
    campaigns: campaigns, seed: UInt64(truncatingIfNeeded: seed),
    constrained: parsed.flag("constrained"))
  let figures = try AllocationBenchmark.run(problem)
  context.print(
    "campaigns=\(figures.campaigns) hourly_rows=\(figures.hourlyRows) "
      + "allocated=\(money(figures.allocatedMicros)) "
      + "expected_value_micros=\(String(format: "%.3f", figures.expectedValueMicros))")
  if let path = parsed.value("problem-out") {
    let data = try AllocationBenchmark.exportJSON(
      problem, expectedValueMicros: figures.expectedValueMicros)
    do {
      try data.write(to: URL(fileURLWithPath: path))
    } catch {
      throw PipelineError(
        "failed to write the problem file \(path): \(error.localizedDescription); check that its directory exists and is writable"
      )
    }
  }
  context.print("seconds=" + String(format: "%.3f", figures.seconds))
}
