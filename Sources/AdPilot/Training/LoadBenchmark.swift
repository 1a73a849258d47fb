// Measures how fast training loads its rows: PostgreSQL to encoded, shuffled batches (the first
// epoch's path, cache writes included) beside a bare COPY of the same rows whose bytes are dropped.

import CTR
import Foundation
import Postgres

/// Throughput of the training loader and of a bare COPY of the same rows.
public struct LoadBenchmarkResult: Sendable {
  public var rows: Int
  /// Bytes of the binary COPY stream.
  public var copyBytes: Int
  /// The best of the repeats, in seconds.
  public var copySeconds: Double
  public var loadSeconds: Double
  public var batches: Int

  public var copyRowsPerSecond: Double { Double(rows) / max(copySeconds, 1e-9) }
  public var loadRowsPerSecond: Double { Double(rows) / max(loadSeconds, 1e-9) }
  /// Loader throughput over bare COPY throughput.
  public var ratio: Double { loadRowsPerSecond / copyRowsPerSecond }
}

/// The loading benchmark of `adpilot bench load`.
public enum LoadBenchmark {
  /// Reads the training rows of `dataset` `repeats` times each way, alternating the two, and
  /// keeps the fastest run of each.
  public static func run(
    connection: Connection, dataset name: String, batchSize: Int = 1024,
    shuffleBuffer: Int = TrainOptions(dataset: "").shuffleBuffer, repeats: Int = 3
  ) throws -> LoadBenchmarkResult {
    let dataset = try loadDataset(connection, name: name)
    let pipeline = TrainingPipeline(connection: connection, logger: Logger(minimumLevel: .warning))
    let filter = try pipeline.trainingWindows(dataset).train
    var result = LoadBenchmarkResult(
      rows: 0, copyBytes: 0, copySeconds: .infinity, loadSeconds: .infinity, batches: 0)
    for _ in 0..<max(1, repeats) {
      var started = Date()
      try setImpressionFilter(connection, filter)
      result.copyBytes = try connection.copyOutDiscarding(impressionCopyStatement)
      result.copySeconds = min(result.copySeconds, Date().timeIntervalSince(started))

      started = Date()
      let rows = try CachedRows(connection: connection, spec: dataset.spec, sampling: nil)
      var batches = 0
      result.rows = try rows.forEachTrainingBatch(
        filter, shuffleBuffer: shuffleBuffer, batchSize: batchSize, seed: 1
      ) { _ in batches += 1 }
      result.loadSeconds = min(result.loadSeconds, Date().timeIntervalSince(started))
      result.batches = batches
    }
    guard result.rows > 0 else {
      throw PipelineError(
        "data set '\(name)' has no training rows; generate some with `adpilot generate`")
    }
    return result
  }
}
