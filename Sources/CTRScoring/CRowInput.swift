// Encodes rows handed over as C arrays straight from their UTF-8 bytes into an EncodedBatch,
// checking every pointer, count, length and offset first. Nothing here keeps a pointer after
// `batch(for:)` returns, and no Swift string is built for a value.

import CTR

/// Rows to score as C arrays, laid out as adpilot_scoring.h describes.
///
/// The behaviour list of row r is `seqValues[seqOffsets[r] ..< seqOffsets[r + 1]]`, or, when
/// `seqOffsets` is nil, the first `sharedSequenceCount` values, shared by every row.
struct CRowInput {
  var rowCount: Int64
  var catValues: UnsafePointer<UnsafePointer<CChar>?>?
  var catLengths: UnsafePointer<Int32>?
  var numValues: UnsafePointer<Double>?
  var numNulls: UnsafePointer<UInt8>?
  var seqValues: UnsafePointer<UnsafePointer<CChar>?>?
  var seqLengths: UnsafePointer<Int32>?
  var seqOffsets: UnsafePointer<Int64>?
  var sharedSequenceCount: Int64 = 0

  /// Returns the rows encoded for `model` after checking that they fit its spec.
  ///
  /// Throws `.invalidConfig` for a caller error (a null array, a negative count or length,
  /// offsets out of order) and `.batchMismatch` when a row's shape does not fit the spec.
  func batch(for model: ScoringModel) throws(CTRError) -> EncodedBatch {
    guard rowCount >= 0, rowCount <= Int64(ScoringModel.maxRowsPerCall) else {
      throw CTRError(
        .invalidConfig,
        "row count must be in 0...\(ScoringModel.maxRowsPerCall), got \(rowCount)")
    }
    let rows = Int(rowCount)
    let catWidth = model.categoricalCount
    let numWidth = model.numericCount
    if rows * catWidth > 0 && (catValues == nil || catLengths == nil) {
      throw CTRError(.invalidConfig, "categorical value arrays are null")
    }
    if rows * numWidth > 0 && (numValues == nil || numNulls == nil) {
      throw CTRError(.invalidConfig, "numeric value arrays are null")
    }

    let encoder = model.encoder
    let width = encoder.recordWidth
    // Two records: the one being written, and the template of a shared behaviour list.
    let records = UnsafeMutablePointer<Int32>.allocate(capacity: 2 * width)
    records.initialize(repeating: 0, count: 2 * width)
    defer { records.deallocate() }
    let record = records
    var template: UnsafeMutablePointer<Int32>? = nil
    if rows > 0 && seqOffsets == nil {
      guard sharedSequenceCount >= 0, sharedSequenceCount <= Int64(Int32.max) else {
        throw CTRError(
          .invalidConfig, "shared sequence count \(sharedSequenceCount) is out of range")
      }
      let count = Int(sharedSequenceCount)
      try model.checkSequenceCount(count, row: nil)
      let shared = records + width
      var writer = EncodedRecordWriter(encoder: encoder, record: shared)
      try forEachString(seqValues, seqLengths, from: 0, count: count) {
        writer.appendSequenceValue($0)
      }
      writer.finish(label: 0)
      template = shared
    }

    var batch = EncodedBatch(spec: model.model.spec, capacity: rows)
    for row in 0..<rows {
      var writer = EncodedRecordWriter(encoder: encoder, record: record)
      try forEachString(catValues, catLengths, from: row * catWidth, count: catWidth) {
        writer.appendCategorical($0)
      }
      if let numValues, let numNulls {
        for index in (row * numWidth)..<((row + 1) * numWidth) {
          writer.appendNumeric(numNulls[index] != 0 ? nil : numValues[index])
        }
      }
      if let template {
        writer.finish(label: 0, sequenceOf: template)
      } else {
        let (start, count) = try sequenceRange(row: row)
        try model.checkSequenceCount(count, row: row)
        try forEachString(seqValues, seqLengths, from: start, count: count) {
          writer.appendSequenceValue($0)
        }
        writer.finish(label: 0)
      }
      batch.appendRecord(record)
    }
    return batch
  }

  /// Returns the first index and the count of row `row`'s behaviour values.
  private func sequenceRange(row: Int) throws(CTRError) -> (start: Int, count: Int) {
    guard let seqOffsets else {
      throw CTRError(.invalidConfig, "sequence offsets are null")
    }
    let start = seqOffsets[row]
    let end = seqOffsets[row + 1]
    guard start >= 0, end >= start, end - start <= Int64(Int32.max) else {
      throw CTRError(
        .invalidConfig, "row \(row + 1): sequence offsets \(start)..<\(end) are out of order")
    }
    return (Int(start), Int(end - start))
  }

  /// Calls `body` with the UTF-8 bytes of values `start ..< start + count`, nil for a null
  /// pointer.
  private func forEachString(
    _ values: UnsafePointer<UnsafePointer<CChar>?>?, _ lengths: UnsafePointer<Int32>?,
    from start: Int, count: Int, _ body: (UnsafeRawBufferPointer?) -> Void
  ) throws(CTRError) {
    guard count > 0 else { return }
    guard let values, let lengths else {
      throw CTRError(.invalidConfig, "sequence value arrays are null")
    }
    for index in start..<(start + count) {
      guard let pointer = values[index] else {
        body(nil)
        continue
      }
      let length = lengths[index]
      guard length >= 0 else {
        throw CTRError(.invalidConfig, "string length \(length) is negative")
      }
      body(UnsafeRawBufferPointer(start: pointer, count: Int(length)))
    }
  }
}
