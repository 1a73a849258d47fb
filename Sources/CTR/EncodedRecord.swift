// Fixed-width records of encoded rows, for callers that keep encoded rows outside a batch (an
// on-disk cache) and encode straight from UTF-8 bytes. It hashes exactly like FeatureEncoder.append.

extension FeatureEncoder {
  /// The number of Int32 words in one record: the label's bit pattern, one row per field, the
  /// number of behaviour items, then the padded behaviour rows.
  public var recordWidth: Int { 2 + spec.fieldCount + recordSequenceStride }

  var recordMaxSequenceLength: Int {
    spec.sequence.isEmpty ? 0 : spec.maxSequenceLength
  }

  var recordSequenceStride: Int { recordMaxSequenceLength * spec.sequence.count }

  /// Returns the position of the first word of `record` (``recordWidth`` words) that no
  /// ``EncodedRecordWriter`` of this spec writes, or nil when there is none. A writer stores a
  /// label of 0 or 1, field rows inside each field's table, at most the maximum number of
  /// behaviour items, their rows inside the shared tables, and 0 in the padding.
  ///
  /// The models index their embedding tables with these words unchecked, so a record read back
  /// from a file is checked before it reaches them.
  public func firstInvalidWord(in record: UnsafePointer<Int32>) -> Int? {
    let label = Float(bitPattern: UInt32(bitPattern: record[0]))
    guard label == 0 || label == 1 else { return 0 }
    func isInTable(_ row: Int32, field: Int) -> Bool {
      let offset = layout.offsets[field]
      return Int(row) >= offset && Int(row) < offset + layout.buckets[field]
    }
    let fieldCount = spec.fieldCount
    for field in 0..<fieldCount where !isInTable(record[1 + field], field: field) {
      return 1 + field
    }
    let lengthPosition = 1 + fieldCount
    let length = Int(record[lengthPosition])
    guard length >= 0 && length <= recordMaxSequenceLength else { return lengthPosition }
    let subfields = spec.sequence.count
    for item in 0..<recordMaxSequenceLength {
      for sub in 0..<subfields {
        let position = lengthPosition + 1 + item * subfields + sub
        let isValid =
          item < length
          ? isInTable(record[position], field: layout.sequenceFieldIndex[sub])
          : record[position] == 0
        if !isValid { return position }
      }
    }
    return nil
  }

  /// Returns the global embedding row of a categorical value given as UTF-8 bytes. Nil and
  /// empty bytes map to the field's row 0, as nil and "" do in ``categoricalRow(field:value:)``.
  public func categoricalRow(field: Int, utf8: UnsafeRawBufferPointer?) -> Int {
    let offset = layout.offsets[field]
    guard let utf8, !utf8.isEmpty else { return offset }
    var state = seeds[field]
    for byte in utf8 {
      state = (state ^ UInt64(byte)) &* FNV1a.prime
    }
    return offset + 1 + Int(state % UInt64(layout.buckets[field] - 1))
  }
}

/// The writer of one record: values arrive in the order of the logged arrays (categorical,
/// numeric, then the item-major behaviour list) and ``finish(label:)`` completes the record.
///
/// Missing trailing values count as missing, extra values are ignored, an item whose sub-fields
/// are all missing is dropped as padding, and a trailing partial item is dropped, exactly as in
/// ``FeatureEncoder/append(cat:num:seq:label:to:)``.
public struct EncodedRecordWriter {
  private let encoder: FeatureEncoder
  private let record: UnsafeMutablePointer<Int32>
  private let categoricalCount: Int
  private let numericCount: Int
  private let subfields: Int
  private let maxLength: Int
  private let lengthPosition: Int
  private var categorical = 0
  private var numeric = 0
  /// The record position of the current behaviour item's first sub-field.
  private var itemPosition: Int
  private var sub = 0
  private var itemAllMissing = true
  private var realItems = 0

  /// Starts a record in `record`, which has room for ``FeatureEncoder/recordWidth`` words.
  public init(encoder: FeatureEncoder, record: UnsafeMutablePointer<Int32>) {
    self.encoder = encoder
    self.record = record
    categoricalCount = encoder.spec.categorical.count
    numericCount = encoder.spec.numeric.count
    subfields = encoder.spec.sequence.count
    maxLength = encoder.recordMaxSequenceLength
    lengthPosition = 1 + categoricalCount + numericCount
    itemPosition = lengthPosition + 1
  }

  /// Encodes the next categorical value; nil and empty bytes are missing.
  public mutating func appendCategorical(_ utf8: UnsafeRawBufferPointer?) {
    guard categorical < categoricalCount else { return }
    record[1 + categorical] = Int32(encoder.categoricalRow(field: categorical, utf8: utf8))
    categorical += 1
  }

  /// Encodes the next numeric value; nil and NaN are missing.
  public mutating func appendNumeric(_ value: Double?) {
    guard numeric < numericCount else { return }
    record[1 + categoricalCount + numeric] = Int32(
      encoder.numericRow(field: numeric, value: value))
    numeric += 1
  }

  /// Encodes the next value of the flattened behaviour list.
  public mutating func appendSequenceValue(_ utf8: UnsafeRawBufferPointer?) {
    guard subfields > 0 && realItems < maxLength else { return }
    let field = encoder.layout.sequenceFieldIndex[sub]
    let row = encoder.categoricalRow(field: field, utf8: utf8)
    if row != encoder.layout.offsets[field] { itemAllMissing = false }
    record[itemPosition + sub] = Int32(row)
    sub += 1
    guard sub == subfields else { return }
    // A whole item is written: keep it unless every sub-field was missing, in which case the
    // next item overwrites it.
    if !itemAllMissing {
      realItems += 1
      itemPosition += subfields
    }
    sub = 0
    itemAllMissing = true
  }

  /// Fills the fields that received no value, pads the behaviour slots with 0 and stores the
  /// label.
  public mutating func finish(label: Float) {
    record[0] = Int32(bitPattern: label.bitPattern)
    while categorical < categoricalCount { appendCategorical(nil) }
    while numeric < numericCount { appendNumeric(nil) }
    record[lengthPosition] = Int32(realItems)
    let end = lengthPosition + 1 + maxLength * subfields
    var position = itemPosition
    while position < end {
      record[position] = 0
      position += 1
    }
  }

  /// Fills the fields that received no value, stores the label and takes the behaviour items
  /// of `template`, a finished record of the same encoder, in place of any appended here.
  ///
  /// Rows that share one behaviour list encode it once into a template this way.
  public mutating func finish(label: Float, sequenceOf template: UnsafePointer<Int32>) {
    finish(label: label)
    let end = lengthPosition + 1 + maxLength * subfields
    (record + lengthPosition).update(from: template + lengthPosition, count: end - lengthPosition)
  }
}

extension EncodedBatch {
  /// Appends one record written by ``EncodedRecordWriter`` for the batch's spec.
  public mutating func appendRecord(_ record: UnsafePointer<Int32>) {
    labels.append(Float(bitPattern: UInt32(bitPattern: record[0])))
    fieldRows.append(contentsOf: UnsafeBufferPointer(start: record + 1, count: fieldCount))
    let lengthPosition = 1 + fieldCount
    sequenceLengths.append(record[lengthPosition])
    sequenceRows.append(
      contentsOf: UnsafeBufferPointer(start: record + lengthPosition + 1, count: sequenceStride))
    finishRow()
  }
}
