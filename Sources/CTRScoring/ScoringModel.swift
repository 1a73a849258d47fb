// A CTR model loaded for scoring inside PostgreSQL, and the row shape checks that run before
// `predict`, which traps on a batch that does not fit the model. It starts no threads.

import CTR

/// A model loaded for scoring, with its encoder and input shape.
public final class ScoringModel {
  /// The loaded model.
  public let model: any ClickModel
  let encoder: FeatureEncoder

  /// The number of categorical values each row needs.
  public var categoricalCount: Int { model.spec.categorical.count }
  /// The number of numeric values each row needs.
  public var numericCount: Int { model.spec.numeric.count }
  /// The number of values per behaviour item, 0 when the spec has no sequences.
  public var subfieldCount: Int { model.spec.sequence.count }
  /// The number of behaviour items a row keeps.
  public var maxSequenceLength: Int {
    model.spec.sequence.isEmpty ? 0 : model.spec.maxSequenceLength
  }

  /// The largest number of rows one call scores, bounding memory and keeping index products far
  /// from overflow.
  public static let maxRowsPerCall = 1 << 20

  /// Loads a model file and validates its feature spec.
  ///
  /// NOTE: the stored spec's maxSequenceLength times its sequence field count sizes every
  /// encoded row, and nothing bounds that product by the file's size. A file crafted with a
  /// valid checksum and thousands of sequence fields can make scoring exhaust the backend's
  /// memory. `loadModel` rejects stored weights that do not fit the spec before it allocates.
  public init(bytes: [UInt8]) throws(CTRError) {
    let model = try loadModel(bytes)
    try model.spec.validate()
    self.model = model
    encoder = FeatureEncoder(spec: model.spec)
  }

  /// Checks, encodes and scores rows.
  ///
  /// Throws `.batchMismatch` when a row or the batch does not fit the model, so `predict` never
  /// traps.
  public func score(rows: [ScoringRow]) throws(CTRError) -> [Float] {
    var batch = EncodedBatch(spec: model.spec, capacity: rows.count)
    for row in rows {
      try checkShape(row)
      encoder.append(cat: row.cat, num: row.num, seq: row.seq, label: 0, to: &batch)
    }
    return try score(batch)
  }

  /// Scores rows encoded for this model's spec, one thread, in row order.
  func score(_ batch: EncodedBatch) throws(CTRError) -> [Float] {
    try model.check(batch)
    return model.predict(batch)
  }

  /// Checks that a row has exactly the values the spec needs.
  public func checkShape(_ row: ScoringRow) throws(CTRError) {
    if row.cat.count != categoricalCount {
      throw CTRError(
        .batchMismatch,
        "cat_values has \(row.cat.count) elements, the model's feature spec needs "
          + "\(categoricalCount)")
    }
    if row.num.count != numericCount {
      throw CTRError(
        .batchMismatch,
        "num_values has \(row.num.count) elements, the model's feature spec needs \(numericCount)")
    }
    try checkSequenceCount(row.seq.count, row: nil)
  }

  /// Checks that `count` behaviour values make whole items of the spec (none without a
  /// sequence); `row` (from 0), when given, is named in the message.
  func checkSequenceCount(_ count: Int, row: Int?) throws(CTRError) {
    let prefix = row.map { "row \($0 + 1): " } ?? ""
    if subfieldCount == 0 && count != 0 {
      throw CTRError(
        .batchMismatch,
        prefix + "seq_values has \(count) elements, but the model's feature spec has no "
          + "behaviour sequence: pass an empty array")
    }
    if subfieldCount > 0 && count % subfieldCount != 0 {
      throw CTRError(
        .batchMismatch,
        prefix + "seq_values has \(count) elements, not a multiple of the \(subfieldCount) "
          + "values per behaviour item")
    }
  }
}

/// The raw feature values of one row, as stored in adpilot.ad_requests.
public struct ScoringRow: Sendable {
  /// Categorical values in spec order; nil is missing.
  public var cat: [String?]
  /// Numeric values in spec order; nil is missing.
  public var num: [Double?]
  /// Behaviour items, item-major, most recent first; nil is missing.
  public var seq: [String?]

  /// Creates a row.
  public init(cat: [String?], num: [Double?], seq: [String?]) {
    self.cat = cat
    self.num = num
    self.seq = seq
  }
}
