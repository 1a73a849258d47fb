// The rows of one training run: they are streamed once from PostgreSQL into a private cache
// file, and every pass reads that file. No pass is kept in memory whole.

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

  /// Creates the two cache files and removes their directory at once. The files are unlinked
  /// as they are opened, so their blocks are freed when this object is, and nothing of the
  /// cache stays on disk even when the process is killed.
  init(connection: Connection, spec: FeatureSpec, sampling: NegativeSampling?) throws {
    self.connection = connection
    self.spec = spec
    self.sampling = sampling
    layout = EncodedRowLayout(spec: spec)
    let directory = try TrainingCacheDirectory()
    defer { directory.remove() }
    self.directory = directory
    train = try directory.makeFile(name: "train.records", width: layout.width)
    validation = try directory.makeFile(name: "validation.records", width: layout.width)
  }

  /// Chunks of the cache file that one shuffle block holds.
  static let chunksPerBlock = 16

  /// Calls `body` with the training rows of `filter` in shuffled batches and returns the number
  /// of rows. The first call streams from PostgreSQL into the cache, so every later call must
  /// pass the same filter.
  ///
  /// The cache is read in chunks of `shuffleBuffer / chunksPerBlock` rows, in an order drawn
  /// from `seed`, and each block of `chunksPerBlock` chunks is shuffled and cut into batches.
  /// The log arrives in time order. Read in that order, each epoch would walk through the days
  /// one after another, and the first days' rows would be stale by the epoch's end. With the
  /// chunks drawn at random, a batch mixes rows from across the whole window.
  func forEachTrainingBatch(
    _ filter: ImpressionFilter, shuffleBuffer: Int, batchSize: Int, seed: UInt64,
    _ body: (EncodedBatch) throws -> Void
  ) throws -> Int {
    try cacheTrainingRows(filter)
    let buffer = ShuffleBuffer(
      spec: spec, width: layout.width, capacity: shuffleBuffer, batchSize: batchSize, seed: seed)
    let chunk = max(1, buffer.capacity / Self.chunksPerBlock)
    var filled = 0
    for start in buffer.shuffledChunkStarts(records: train.count, chunk: chunk) {
      let end = min(start + chunk, train.count)
      if filled + (end - start) > buffer.capacity {
        try buffer.fillBlock(rows: filled, emit: body)
        filled = 0
      }
      try train.read(records: start..<end, into: buffer.storage + filled * layout.width)
      try checkRecords(buffer.storage + filled * layout.width, of: train, at: start..<end)
      filled += end - start
    }
    if filled > 0 { try buffer.fillBlock(rows: filled, emit: body) }
    try buffer.finish(emit: body)
    return train.count
  }

  /// Calls `body` with the cached training rows in the order they were logged, in batches of up
  /// to `batchSize` rows; call it after ``forEachTrainingBatch(_:shuffleBuffer:batchSize:seed:_:)``.
  func forEachCachedTrainingBatch(batchSize: Int, _ body: (EncodedBatch) throws -> Void) throws {
    try forEachBatch(of: train, batchSize: batchSize) { batch, _ in try body(batch) }
  }

  /// Streams the training rows of `filter` from PostgreSQL into the cache, once per run, and
  /// returns what the stream read and dropped. The rows of a split (`filter.split`) also get
  /// their ids' fingerprint, which distinguishes two loads of a split data set.
  @discardableResult
  func cacheTrainingRows(_ filter: ImpressionFilter) throws -> EncodedStreamCounts {
    guard !trainCached else { return trainCounts }
    trainCounts = try streamEncodedImpressions(
      connection, filter, layout: layout, sampling: sampling, fingerprint: filter.split != nil
    ) { record in
      try train.append(record)
    }
    try train.flush()
    trainCached = true
    return trainCounts
  }

  /// Calls `body` with the validation rows of `filter` in batches of up to `batchSize` rows,
  /// in time order, with each row's user group. Validation rows are never sampled.
  func forEachValidationBatch(
    _ filter: ImpressionFilter, batchSize: Int,
    _ body: (EncodedBatch, [UInt64]) throws -> Void
  ) throws {
    try cacheValidationRows(filter)
    try forEachBatch(of: validation, batchSize: batchSize, body)
  }

  /// Streams the validation rows of `filter` from PostgreSQL into the cache, once per run.
  func cacheValidationRows(_ filter: ImpressionFilter) throws {
    guard !validationCached else { return }
    _ = try streamEncodedImpressions(connection, filter, layout: layout, sampling: nil) {
      try validation.append($0)
    }
    try validation.flush()
    validationCached = true
  }

  /// Throws when a record of `file` read into `records` (those at positions `range`) contains a
  /// word that the encoder never writes, as when the file changed on disk after it was written.
  /// The models would index outside their tables with such a record.
  private func checkRecords(
    _ records: UnsafePointer<Int32>, of file: EncodedRecordFile, at range: Range<Int>
  ) throws {
    for index in 0..<range.count {
      let record = EncodedRowLayout.encoded(records + index * layout.width)
      guard let word = layout.encoder.firstInvalidWord(in: record) else { continue }
      throw PipelineError(
        "training cache file '\(file.path)' is corrupt: word \(word + 2) of record "
          + "\(range.lowerBound + index) has a value the encoder never writes; check the file "
          + "system under TMPDIR and train again")
    }
  }

  /// Calls `body` with the records of `file` in order, in batches of up to `batchSize` rows,
  /// with each row's user group.
  private func forEachBatch(
    of file: EncodedRecordFile, batchSize: Int, _ body: (EncodedBatch, [UInt64]) throws -> Void
  ) throws {
    var batch = EncodedBatch(spec: spec, capacity: batchSize)
    var groups: [UInt64] = []
    let storage = UnsafeMutablePointer<Int32>.allocate(capacity: batchSize * layout.width)
    defer { storage.deallocate() }
    var start = 0
    try file.forEachChunk(rows: batchSize, into: storage) { rows in
      try checkRecords(storage, of: file, at: start..<(start + rows))
      start += rows
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
