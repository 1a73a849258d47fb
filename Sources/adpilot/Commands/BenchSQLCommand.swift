// `adpilot bench sql` times scoring inside PostgreSQL with the adpilot extension beside the batch
// scorer on the same rows, and candidate-scoring round trips. It needs the installed extension
// and writes and then deletes rows of the data set `bench_reference` only.

import AdPilot
import Foundation

/// Runs the in-database scoring benchmark and prints its figures,
/// `sql_rows_per_s=<a> score_rows_per_s=<b> ratio=<a/b> p50_ms=<x> p99_ms=<y>` last.
func runSQLBench(_ parsed: ParsedArguments, _ context: Context) throws {
  let rows = try parsed.int("rows", default: 1_000_000)
  let requests = try parsed.int("requests", default: 10_000)
  for (name, value, limit) in [("rows", rows, 10_000_000), ("requests", requests, 1_000_000)]
  where !(1...limit).contains(value) {
    throw UsageError(message: "--\(name) must be between 1 and \(limit), got \(value)")
  }
  let figures = try SQLBenchmark.run(
    connect: { try context.connect() }, rows: rows, requests: requests, logger: context.logger)
  context.print(
    "rows=\(figures.rows) sql_seconds=\(String(format: "%.2f", figures.sqlSeconds)) "
      + "sql_workers_planned=\(figures.sqlWorkersPlanned) "
      + "score_seconds=\(String(format: "%.2f", figures.scoreSeconds)) "
      + "score_threads=\(ProcessInfo.processInfo.activeProcessorCount)")
  context.print(
    "score_candidates: requests=\(figures.candidateLatenciesMs.count) "
      + "candidates=\(figures.candidates) history_items=50 "
      + "p90_ms=\(String(format: "%.3f", figures.p90Ms)) "
      + "max_ms=\(String(format: "%.3f", figures.maxMs))")
  context.print(
    "sql_rows_per_s=\(Int(figures.sqlRowsPerSecond)) "
      + "score_rows_per_s=\(Int(figures.scoreRowsPerSecond)) "
      + "ratio=\(String(format: "%.3f", figures.ratio)) "
      + "p50_ms=\(String(format: "%.3f", figures.p50Ms)) "
      + "p99_ms=\(String(format: "%.3f", figures.p99Ms))")
}
