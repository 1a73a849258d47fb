// The bounded shuffle of training records: rows are shuffled in blocks of a fixed size and cut
// into batches. Memory is one block; the whole epoch is never held.

import CTR

/// A block of encoded records that is shuffled with a seeded generator and cut into batches.
///
/// The permutations depend only on the sizes involved and the seed, so the same rows give the
/// same batches.
final class ShuffleBuffer {
  let width: Int
  /// Records per block.
  let capacity: Int
  /// Room for `capacity` records; filled by ``add(_:emit:)`` or directly by a cache read.
  let storage: UnsafeMutablePointer<Int32>
  private(set) var count = 0
  private var generator: SeededGenerator
  private var batch: EncodedBatch
  private let batchSize: Int

  init(spec: FeatureSpec, width: Int, capacity: Int, batchSize: Int, seed: UInt64) {
    self.width = width
    self.capacity = max(1, capacity)
    self.batchSize = batchSize
    storage = .allocate(capacity: self.capacity * width)
    generator = SeededGenerator(seed: seed)
    batch = EncodedBatch(spec: spec, capacity: batchSize)
  }

  deinit {
    storage.deallocate()
  }

  /// Returns the first record of each `chunk`-record chunk of `records` records, in an order
  /// drawn from the generator.
  func shuffledChunkStarts(records: Int, chunk: Int) -> [Int] {
    var starts = Array(stride(from: 0, to: records, by: max(1, chunk)))
    starts.shuffle(using: &generator)
    return starts
  }

  /// Marks the first `rows` records of ``storage`` as filled by the caller, then shuffles them.
  func fillBlock(rows: Int, emit: (EncodedBatch) throws -> Void) throws {
    count = rows
    try shuffleBlock(emit: emit)
  }

  /// Shuffles the filled records and emits every complete batch; the rest waits for the next
  /// block or ``finish(emit:)``.
  func shuffleBlock(emit: (EncodedBatch) throws -> Void) throws {
    var order = Array(0..<count)
    order.shuffle(using: &generator)
    for index in order {
      batch.appendRecord(EncodedRowLayout.encoded(storage + index * width))
      if batch.count == batchSize {
        try emit(batch)
        batch.removeAll()
      }
    }
    count = 0
  }

  /// Shuffles what is left and emits it, with the last partial batch.
  func finish(emit: (EncodedBatch) throws -> Void) throws {
    if count > 0 { try shuffleBlock(emit: emit) }
    if batch.count > 0 {
      try emit(batch)
      batch.removeAll()
    }
  }
}
