// `adpilot bench allocate` times in-memory planning of synthetic campaigns over 24 hours and
// prints the seconds as its last line. It can also write the problem for an outside LP solver.
// `adpilot bench pacing` replays synthetic days of a million impressions through the planner.

import AdPilot
import Foundation

/// Runs the planning benchmark and prints its figures, `seconds=<x>` last.
func runAllocationBench(_ parsed: ParsedArguments, _ context: Context) throws {
  let campaigns = try parsed.int("campaigns", default: 10_000)
  guard (1...1_000_000).contains(campaigns) else {
    throw UsageError(message: "--campaigns must be between 1 and 1000000, got \(campaigns)")
  }
  if let path = parsed.value("problem-out") {
    try checkWritableFile(path, option: "problem-out")
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

/// Runs the pacing benchmark on synthetic days and prints its figures, with
/// `pacing_error=<x> overdelivery=<y> r_over_rstar=<z>` last.
func runPacingBench(_ parsed: ParsedArguments, _ context: Context) throws {
  let impressions = try parsed.int("impressions", default: 1_000_000)
  let days = try parsed.int("days", default: 3)
  for (name, value, limit) in [("impressions", impressions, 10_000_000), ("days", days, 366)]
  where !(1...limit).contains(value) {
    throw UsageError(message: "--\(name) must be between 1 and \(limit), got \(value)")
  }
  let fraction = try parsed.value("budget-fraction").map(parseFraction) ?? 0.25
  let figures = try PacingBenchmark.run(
    impressionsPerDay: impressions, days: days, budgetFraction: fraction)
  context.print(
    "days=\(figures.days) impressions_per_day=\(figures.impressionsPerDay) "
      + "campaigns=\(figures.campaigns) worst_day_pacing_error="
      + String(format: "%.4f", figures.worstPacingError) + " seconds="
      + String(format: "%.1f", figures.seconds))
  context.print(
    "pacing_error=" + String(format: "%.4f", figures.pacingError) + " overdelivery="
      + money(figures.overDeliveryMicros) + " r_over_rstar="
      + String(format: "%.4f", figures.meanRatio))
}

/// Throws a usage error unless `path` names a file (not a folder) in an existing folder.
func checkWritableFile(_ path: String, option: String) throws {
  let url = URL(fileURLWithPath: path)
  var isFolder: ObjCBool = false
  let parentExists = FileManager.default.fileExists(
    atPath: url.deletingLastPathComponent().path, isDirectory: &isFolder)
  guard !path.isEmpty, parentExists, isFolder.boolValue else {
    throw UsageError(
      message: "--\(option) '\(path)': the folder does not exist; create it or name a file in "
        + "an existing folder")
  }
  guard !FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) || !isFolder.boolValue
  else {
    throw UsageError(message: "--\(option) '\(path)' is a folder; name a file, e.g. \(path)/p.json")
  }
}
