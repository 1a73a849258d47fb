// Copies rows handed over as C arrays into Swift values, checking every pointer, count, length
// and offset first. Nothing here keeps a pointer after `rows(for:)` returns.

import CTR

/// Rows to score as C arrays, laid out as adpilot_scoring.h describes.
struct CRowInput {
  var rowCount: Int64
  var catValues: UnsafePointer<UnsafePointer<CChar>?>?
  var catLengths: UnsafePointer<Int32>?
  var numValues: UnsafePointer<Double>?
  var numNulls: UnsafePointer<UInt8>?
  var seqValues: UnsafePointer<UnsafePointer<CChar>?>?
  var seqLengths: UnsafePointer<Int32>?
  var seqOffsets: UnsafePointer<Int64>?

  /// Returns the rows as Swift values after checking that they fit `model`'s spec.
  ///
  /// Throws `.invalidConfig` for a caller error (a null array, a negative count or length,
  /// offsets out of order) and `.batchMismatch` when a row's shape does not fit the spec.
  func rows(for model: ScoringModel) throws(CTRError) -> [ScoringRow] {
    guard rowCount >= 0, rowCount <= Int64(ScoringModel.maxRowsPerCall) else {
      throw CTRError(
        .invalidConfig,
        "row count must be in 0...\(ScoringModel.maxRowsPerCall), got \(rowCount)")
    }
    let rows = Int(rowCount)
    let catCount = rows * model.categoricalCount
    let numCount = rows * model.numericCount
    if catCount > 0 && (catValues == nil || catLengths == nil) {
      throw CTRError(.invalidConfig, "categorical value arrays are null")
    }
    if numCount > 0 && (numValues == nil || numNulls == nil) {
      throw CTRError(.invalidConfig, "numeric value arrays are null")
    }
    if rows > 0 && seqOffsets == nil {
      throw CTRError(.invalidConfig, "sequence offsets are null")
    }

    var result: [ScoringRow] = []
    result.reserveCapacity(rows)
    for row in 0..<rows {
      let cat = try strings(
        catValues, catLengths, from: row * model.categoricalCount,
        count: model.categoricalCount)
      var num: [Double?] = []
      num.reserveCapacity(model.numericCount)
      if let numValues, let numNulls {
        for index in (row * model.numericCount)..<((row + 1) * model.numericCount) {
          num.append(numNulls[index] != 0 ? nil : numValues[index])
        }
      }
      let seq = try sequence(row: row)
      let scoringRow = ScoringRow(cat: cat, num: num, seq: seq)
      do {
        try model.checkShape(scoringRow)
      } catch {
        throw CTRError(.batchMismatch, "row \(row + 1): \(error.message)")
      }
      result.append(scoringRow)
    }
    return result
  }

  private func sequence(row: Int) throws(CTRError) -> [String?] {
    guard let seqOffsets else { return [] }
    let start = seqOffsets[row]
    let end = seqOffsets[row + 1]
    guard start >= 0, end >= start, end - start <= Int64(Int32.max) else {
      throw CTRError(
        .invalidConfig, "row \(row + 1): sequence offsets \(start)..<\(end) are out of order")
    }
    if end > start && (seqValues == nil || seqLengths == nil) {
      throw CTRError(.invalidConfig, "sequence value arrays are null")
    }
    return try strings(seqValues, seqLengths, from: Int(start), count: Int(end - start))
  }

  private func strings(
    _ values: UnsafePointer<UnsafePointer<CChar>?>?, _ lengths: UnsafePointer<Int32>?,
    from start: Int, count: Int
  ) throws(CTRError) -> [String?] {
    guard count > 0, let values, let lengths else { return [] }
    var result: [String?] = []
    result.reserveCapacity(count)
    for index in start..<(start + count) {
      guard let pointer = values[index] else {
        result.append(nil)
        continue
      }
      let length = lengths[index]
      guard length >= 0 else {
        throw CTRError(.invalidConfig, "string length \(length) is negative")
      }
      let bytes = UnsafeRawPointer(pointer).assumingMemoryBound(to: UInt8.self)
      result.append(
        String(decoding: UnsafeBufferPointer(start: bytes, count: Int(length)), as: UTF8.self))
    }
    return result
  }
}
