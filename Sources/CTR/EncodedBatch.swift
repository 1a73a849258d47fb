// A batch of encoded rows in contiguous, row-major arrays, ready for the model kernels.
// It stores embedding row indices only; it never stores raw strings or numbers.

/// Encoded rows: labels, one embedding row per field, and the padded behaviour sequences.
///
/// Row indices are global: every field's table is a block of rows of one embedding matrix
/// (categorical fields first, then numeric, in spec order), and row 0 of each block is the
/// missing value. Sequence items store the global rows of the ad fields whose tables they share.
public struct EncodedBatch: Sendable {
  /// The number of embedded fields per row (categorical, then numeric).
  public let fieldCount: Int
  /// The number of sub-fields per behaviour item.
  public let subfieldCount: Int
  /// The number of item slots per row.
  public let maxSequenceLength: Int
  /// A hash of the spec's tables (names, buckets, sequence sharing), not of its lengths.
  public let specFingerprint: UInt64

  /// The number of rows.
  public private(set) var count: Int = 0
  /// The click labels, 0 or 1, one per row.
  public internal(set) var labels: [Float] = []
  /// Global embedding rows, `count x fieldCount`, row-major.
  public internal(set) var fieldRows: [Int32] = []
  /// Global embedding rows, `count x maxSequenceLength x subfieldCount`; slots past a row's
  /// length hold 0 and are never read.
  public internal(set) var sequenceRows: [Int32] = []
  /// The number of real behaviour items per row, at most `maxSequenceLength`.
  public internal(set) var sequenceLengths: [Int32] = []

  /// Creates an empty batch shaped for `spec`, reserving room for `capacity` rows.
  public init(spec: FeatureSpec, capacity: Int) {
    fieldCount = spec.fieldCount
    subfieldCount = spec.sequence.count
    maxSequenceLength = spec.sequence.isEmpty ? 0 : spec.maxSequenceLength
    specFingerprint = spec.tableFingerprint
    reserveCapacity(capacity)
  }

  /// Reserves room for `capacity` rows.
  public mutating func reserveCapacity(_ capacity: Int) {
    labels.reserveCapacity(capacity)
    fieldRows.reserveCapacity(capacity * fieldCount)
    sequenceRows.reserveCapacity(capacity * maxSequenceLength * subfieldCount)
    sequenceLengths.reserveCapacity(capacity)
  }

  /// Removes every row, keeping the storage.
  public mutating func removeAll() {
    count = 0
    labels.removeAll(keepingCapacity: true)
    fieldRows.removeAll(keepingCapacity: true)
    sequenceRows.removeAll(keepingCapacity: true)
    sequenceLengths.removeAll(keepingCapacity: true)
  }

  /// The number of values in one row's sequence block.
  var sequenceStride: Int { maxSequenceLength * subfieldCount }

  /// Marks one more row as complete; the encoder has appended its values to every array.
  mutating func finishRow() {
    count += 1
  }

  /// Returns rows `range` as a new batch.
  public func slice(_ range: Range<Int>) -> EncodedBatch {
    var result = self
    result.count = range.count
    result.labels = Array(labels[range])
    result.fieldRows = Array(
      fieldRows[(range.lowerBound * fieldCount)..<(range.upperBound * fieldCount)])
    result.sequenceRows = Array(
      sequenceRows[(range.lowerBound * sequenceStride)..<(range.upperBound * sequenceStride)])
    result.sequenceLengths = Array(sequenceLengths[range])
    return result
  }

  /// Appends every row of `other`, which must come from the same spec.
  public mutating func append(contentsOf other: EncodedBatch) {
    guard other.specFingerprint == specFingerprint && other.sequenceStride == sequenceStride else {
      fatalError("cannot append a batch encoded for a different spec")
    }
    count += other.count
    labels += other.labels
    fieldRows += other.fieldRows
    sequenceRows += other.sequenceRows
    sequenceLengths += other.sequenceLengths
  }
}

extension FeatureSpec {
  /// Returns FNV-1a over the field names, table sizes and sequence sharing, in spec order.
  /// Two specs with the same fingerprint map values to the same embedding rows, whatever their
  /// `maxSequenceLength` and `embeddingDimension`.
  var tableFingerprint: UInt64 {
    var text = ""
    for field in categorical { text += "c:\(field.name):\(field.buckets);" }
    for field in numeric { text += "n:\(field.name):\(field.buckets);" }
    for field in sequence { text += "s:\(field.name):\(field.sharesEmbeddingWith);" }
    return FNV1a.hash(text, seed: FNV1a.offsetBasis)
  }
}

extension ClickModel {
  /// Checks that `batch` was encoded for this model's tables; `predict` traps otherwise.
  public func check(_ batch: EncodedBatch) throws(CTRError) {
    if batch.specFingerprint != spec.tableFingerprint {
      throw CTRError(
        .batchMismatch,
        "batch was encoded for a different feature spec than the \(kind.rawValue) model's: "
          + "encode with FeatureEncoder(spec: model.spec)")
    }
  }
}
