// The rows of one training run: the first pass streams them from PostgreSQL and writes them to
// a private cache file, and every later pass reads that file. No pass is kept in memory whole.

import CTR
import Postgres

/// The training and validation rows of one run, streamed once and then read from disk.
final class CachedRows {
  let connection: Connection
  let spec: FeatureSpec
  let layout: EncodedRowLayout
  let directory: TrainingCacheDirectory
  let sampling: NegativeSampling?
  private let train: EncodedRecordFile
  private var trainCached = false
  private let validation: EncodedRecordFile
  private var validationCached = false
  /// Counts of the training stream, known after the first pass.
  private(set) var trainCounts = EncodedStreamCounts()

  /// Creates the cache directory; call ``close()`` when the run ends, whether it failed or not.
  init(connection: Connection, spec: FeatureSpec, sampling: NegativeSampling?) throws {
    self.connection = connection
    self.spec = spec
    self.sampling = sampling
    layout = EncodedRowLayout(spec: spec)
    directory = try TrainingCacheDirectory()
    do {
      train = try directory.makeFile(name: "train.records", width: layout.width)
      validation = try directory.makeFile(name: "validation.records", width: layout.width)
    } catch {
      directory.remove()
      throw error
    }
  }

  /// Removes the cache directory.
  func close() {
    directory.remove()
  }

  /// Calls `body` with the training rows of `filter` in shuffled batches and returns the number
  /// of rows. The first call streams from PostgreSQL and fills the cache, so every later call
  /// must pass the same filter. Shuffling is seeded by `seed`.
  func forEachTrainingBatch(
    _ filter: ImpressionFilter, shuffleBuffer: Int, batchSize: Int, seed: UInt64,
    _ body: (EncodedBatch) throws -> Void
  ) throws -> Int {
    let buffer = ShuffleBuffer(
      spec: spec, width: layout.width, capacity: shuffleBuffer, batchSize: batchSize, seed: seed)
    if trainCached {
      try train.forEachChunk(rows: buffer.capacity, into: buffer.storage) { rows in
        try buffer.fillBlock(rows: rows, emit: body)
      }
    } else {
      trainCounts = try streamEncodedImpressions(
        connection, filter, layout: layout, sampling: sampling
      ) { record in
        try train.append(record)
        try buffer.add(record, emit: body)
      }
      try train.flush()
      trainCached = true
    }
    try buffer.finish(emit: body)
    return train.count
  }

  /// Calls `body` with the validation rows of `filter` in batches of up to `batchSize` rows,
  /// in time order, with each row's user group. Validation rows are never sampled.
  func forEachValidationBatch(
    _ filter: ImpressionFilter, batchSize: Int,
    _ body: (EncodedBatch, [UInt64]) throws -> Void
  ) throws {
    if !validationCached {
      _ = try streamEncodedImpressions(connection, filter, layout: layout, sampling: nil) {
        try validation.append($0)
      }
      try validation.flush()
      validationCached = true
    }
    var batch = EncodedBatch(spec: spec, capacity: batchSize)
    var groups: [UInt64] = []
    let storage = UnsafeMutablePointer<Int32>.allocate(capacity: batchSize * layout.width)
    defer { storage.deallocate() }
    try validation.forEachChunk(rows: batchSize, into: storage) { rows in
      batch.removeAll()
      groups.removeAll(keepingCapacity: true)
      for index in 0..<rows {
        let record = UnsafePointer(storage + index * layout.width)
        batch.appendRecord(EncodedRowLayout.encoded(record))
        groups.append(EncodedRowLayout.group(record))
      }
      try body(batch, groups)
    }
  }
}
