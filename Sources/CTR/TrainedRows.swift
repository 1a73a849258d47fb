// The record of which embedding rows training has updated, and the remapping of the others.
// A row that no step touched still contains its initial value, which carries no information, so
// prediction reads the field's reserved row 0 in its place.

/// A bitset over the rows of an embedding table: bit r is set once a training step updated row r.
struct TrainedRows: Sendable, Equatable {
  /// The number of rows covered.
  let count: Int
  /// Bit `r % 64` of word `r / 64` is row r.
  private(set) var words: [UInt64]

  /// Creates a set with no row marked.
  init(count: Int) {
    self.count = count
    words = [UInt64](repeating: 0, count: (count + 63) / 64)
  }

  /// Wraps stored words; returns nil when their number does not match `count`.
  init?(count: Int, words: [UInt64]) {
    guard words.count == (count + 63) / 64 else { return nil }
    self.count = count
    self.words = words
  }

  @inline(__always)
  func contains(_ row: Int) -> Bool {
    words[row >> 6] & (1 << UInt64(row & 63)) != 0
  }

  mutating func insert(_ row: Int) {
    words[row >> 6] |= 1 << UInt64(row & 63)
  }

  /// The number of rows marked.
  var trainedCount: Int {
    words.reduce(0) { $0 + $1.nonzeroBitCount }
  }
}

extension EmbeddingLayout {
  /// Returns `batch` with every field and behaviour-item row that `trained` lacks replaced by
  /// the reserved row 0 of the same field, so an unseen value scores exactly like a missing one.
  ///
  /// Behaviour-item row r is looked up as `trained` row `sequenceBase + r`, because the logistic
  /// model keeps its bag-of-items weights in a second table after the field weights. Sequence
  /// padding slots are left alone because no pass reads them. Row 0 maps to itself.
  func replacingUntrainedRows(
    _ batch: EncodedBatch, trained: TrainedRows, sequenceBase: Int = 0
  ) -> EncodedBatch {
    var result = batch
    let fields = batch.fieldCount
    for index in result.fieldRows.indices {
      let row = Int(result.fieldRows[index])
      if !trained.contains(row) {
        result.fieldRows[index] = Int32(offsets[index % fields])
      }
    }
    let subfields = batch.subfieldCount
    guard subfields > 0 else { return result }
    for b in 0..<batch.count {
      let start = b * batch.sequenceStride
      for slot in 0..<(Int(batch.sequenceLengths[b]) * subfields) {
        let row = Int(result.sequenceRows[start + slot])
        if !trained.contains(sequenceBase + row) {
          result.sequenceRows[start + slot] = Int32(offsets[sequenceFieldIndex[slot % subfields]])
        }
      }
    }
    return result
  }
}
