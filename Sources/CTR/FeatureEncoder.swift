// The one encoder used by training, evaluation and scoring: raw logged values to embedding rows.
// Hashing is stable across runs and platforms; it must not depend on Swift's randomized Hasher.

/// The layout of all embedding tables as blocks of one matrix (categorical, then numeric).
struct EmbeddingLayout: Sendable, Equatable {
  /// The first global row of each field's table, in field order.
  var offsets: [Int]
  /// The number of rows of each field's table, in field order.
  var buckets: [Int]
  /// The field index (into `offsets`) of each sequence sub-field's shared table.
  var sequenceFieldIndex: [Int]
  /// The total number of rows.
  var totalRows: Int

  init(spec: FeatureSpec) {
    buckets = spec.categorical.map(\.buckets) + spec.numeric.map(\.buckets)
    var offsets: [Int] = []
    var total = 0
    for count in buckets {
      offsets.append(total)
      total += count
    }
    self.offsets = offsets
    totalRows = total
    sequenceFieldIndex = spec.sequence.map { sub in
      spec.categorical.firstIndex { $0.name == sub.sharesEmbeddingWith } ?? 0
    }
  }
}

/// The encoder from logged feature values to an ``EncodedBatch``.
///
/// - Categorical: FNV-1a 64 over the field name, a 0xFF separator (never a UTF-8 byte), then the
///   value's UTF-8 bytes; row `1 + hash % (buckets - 1)`. nil and "" map to row 0.
/// - Numeric: nil or NaN -> 0; x <= 0 -> 1; otherwise `2 + floor(2 * log2(1 + x))`, capped at
///   `buckets - 1` (+infinity lands in the last bucket). Each bucket spans a factor of sqrt(2).
/// - Sequence: items arrive item-major, most recent first. Each sub-field hashes exactly like the
///   ad field it shares a table with. An item whose sub-fields are all missing is dropped as
///   padding; the first `maxSequenceLength` remaining items are kept.
public struct FeatureEncoder: Sendable {
  public let spec: FeatureSpec
  let layout: EmbeddingLayout
  /// The FNV state after the seed bytes, per field (categorical fields only; numeric unused).
  let seeds: [UInt64]

  /// Creates the encoder for `spec`; call `spec.validate()` first for readable errors.
  public init(spec: FeatureSpec) {
    self.spec = spec
    layout = EmbeddingLayout(spec: spec)
    seeds = spec.categorical.map { FNV1a.seed(fieldName: $0.name) }
  }

  /// Appends one row.
  ///
  /// `cat` follows `spec.categorical`, `num` follows `spec.numeric` and `seq` is the flattened
  /// item-major behaviour list. Missing trailing values count as missing, extra values are
  /// ignored, and a trailing partial item is dropped.
  public func append(
    cat: [String?], num: [Double?], seq: [String?], label: Float, to batch: inout EncodedBatch
  ) {
    for field in 0..<spec.categorical.count {
      let value = field < cat.count ? cat[field] : nil
      batch.fieldRows.append(Int32(categoricalRow(field: field, value: value)))
    }
    for field in 0..<spec.numeric.count {
      let value = field < num.count ? num[field] : nil
      batch.fieldRows.append(Int32(numericRow(field: field, value: value)))
    }
    appendSequence(seq, to: &batch)
    batch.labels.append(label)
    batch.finishRow()
  }

  private func appendSequence(_ seq: [String?], to batch: inout EncodedBatch) {
    let subfields = spec.sequence.count
    let maxLength = batch.maxSequenceLength
    guard subfields > 0 && maxLength > 0 else {
      batch.sequenceLengths.append(0)
      return
    }
    var realItems = 0
    var item = 0
    while realItems < maxLength && (item + 1) * subfields <= seq.count {
      let start = batch.sequenceRows.count
      var allMissing = true
      for sub in 0..<subfields {
        let field = layout.sequenceFieldIndex[sub]
        let row = categoricalRow(field: field, value: seq[item * subfields + sub])
        if row != layout.offsets[field] { allMissing = false }
        batch.sequenceRows.append(Int32(row))
      }
      if allMissing {
        batch.sequenceRows.removeSubrange(start...)
      } else {
        realItems += 1
      }
      item += 1
    }
    let padding = (maxLength - realItems) * subfields
    batch.sequenceRows.append(contentsOf: repeatElement(0, count: padding))
    batch.sequenceLengths.append(Int32(realItems))
  }

  /// Returns the global embedding row of a categorical value.
  public func categoricalRow(field: Int, value: String?) -> Int {
    let offset = layout.offsets[field]
    guard let value, !value.isEmpty else { return offset }
    let hash = FNV1a.hash(value, seed: seeds[field])
    let buckets = UInt64(layout.buckets[field] - 1)
    return offset + 1 + Int(hash % buckets)
  }

  /// Returns the global embedding row of a numeric value.
  public func numericRow(field: Int, value: Double?) -> Int {
    let index = spec.categorical.count + field
    return layout.offsets[index] + Self.numericBucket(value, buckets: layout.buckets[index])
  }

  /// Returns the bucket of a numeric value within its field: see the type's documentation.
  public static func numericBucket(_ value: Double?, buckets: Int) -> Int {
    guard let value, !value.isNaN else { return 0 }
    if value <= 0 { return min(1, buckets - 1) }
    let scaled = 2 + (2 * Math.logarithm2(1 + value)).rounded(.down)
    let last = Double(buckets - 1)
    return Int(scaled < last ? scaled : last)
  }
}

/// FNV-1a 64-bit hashing (Fowler, Noll, Vo), stable across platforms and runs.
enum FNV1a {
  static let offsetBasis: UInt64 = 0xcbf2_9ce4_8422_2325
  static let prime: UInt64 = 0x0000_0100_0000_01b3

  /// Returns the state after hashing a field name and the 0xFF separator.
  static func seed(fieldName: String) -> UInt64 {
    var state = offsetBasis
    for byte in fieldName.utf8 {
      state = (state ^ UInt64(byte)) &* prime
    }
    return (state ^ 0xFF) &* prime
  }

  /// Continues the hash from `seed` over the UTF-8 bytes of `value`.
  static func hash(_ value: String, seed: UInt64) -> UInt64 {
    var state = seed
    for byte in value.utf8 {
      state = (state ^ UInt64(byte)) &* prime
    }
    return state
  }
}
