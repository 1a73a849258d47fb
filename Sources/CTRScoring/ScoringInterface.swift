// The C functions declared in extension/adpilot_scoring.h. Each one checks its pointers and
// counts, catches every error into a status and a message, and returns; none of them traps on
// input, calls back into the caller or keeps a pointer it was given.

import CTR

private let statusOK: Int32 = 0
private let statusInvalidModel: Int32 = 1
private let statusShapeMismatch: Int32 = 2
private let statusInvalidArgument: Int32 = 3

/// Loads a model file from `length` bytes into a retained handle.
@_cdecl("adpilot_model_load")
public func adpilotModelLoad(
  _ bytes: UnsafePointer<UInt8>?, _ length: Int64,
  _ handle: UnsafeMutablePointer<UnsafeMutableRawPointer?>?,
  _ message: UnsafeMutablePointer<CChar>?, _ messageCapacity: Int64
) -> Int32 {
  guard let handle else {
    return fail(statusInvalidArgument, "handle pointer is null", message, messageCapacity)
  }
  handle.pointee = nil
  guard length >= 0, length <= Int64(Int32.max) * 4, bytes != nil || length == 0 else {
    return fail(
      statusInvalidArgument, "model bytes: invalid pointer or length \(length)", message,
      messageCapacity)
  }
  let copy = bytes.map { Array(UnsafeBufferPointer(start: $0, count: Int(length))) } ?? []
  do {
    let model = try ScoringModel(bytes: copy)
    handle.pointee = Unmanaged.passRetained(model).toOpaque()
    return statusOK
  } catch {
    return fail(statusInvalidModel, error.message, message, messageCapacity)
  }
}

/// Writes the model's input sizes: categorical, numeric, sequence sub-fields, items kept.
@_cdecl("adpilot_model_get_shape")
public func adpilotModelGetShape(
  _ handle: UnsafeMutableRawPointer?, _ shape: UnsafeMutablePointer<Int64>?
) -> Int32 {
  guard let handle, let shape else { return statusInvalidArgument }
  let model = Unmanaged<ScoringModel>.fromOpaque(handle).takeUnretainedValue()
  shape[0] = Int64(model.categoricalCount)
  shape[1] = Int64(model.numericCount)
  shape[2] = Int64(model.subfieldCount)
  shape[3] = Int64(model.maxSequenceLength)
  return statusOK
}

/// Scores `rowCount` rows given as C arrays into `scores`; see adpilot_scoring.h for layout.
@_cdecl("adpilot_model_score")
public func adpilotModelScore(
  _ handle: UnsafeMutableRawPointer?, _ rowCount: Int64,
  _ catValues: UnsafePointer<UnsafePointer<CChar>?>?, _ catLengths: UnsafePointer<Int32>?,
  _ numValues: UnsafePointer<Double>?, _ numNulls: UnsafePointer<UInt8>?,
  _ seqValues: UnsafePointer<UnsafePointer<CChar>?>?, _ seqLengths: UnsafePointer<Int32>?,
  _ seqOffsets: UnsafePointer<Int64>?, _ scores: UnsafeMutablePointer<Float>?,
  _ message: UnsafeMutablePointer<CChar>?, _ messageCapacity: Int64
) -> Int32 {
  if rowCount > 0 && seqOffsets == nil {
    return fail(statusInvalidArgument, "sequence offsets are null", message, messageCapacity)
  }
  let input = CRowInput(
    rowCount: rowCount, catValues: catValues, catLengths: catLengths, numValues: numValues,
    numNulls: numNulls, seqValues: seqValues, seqLengths: seqLengths, seqOffsets: seqOffsets)
  return score(handle, input, scores, message, messageCapacity)
}

/// Scores `rowCount` rows that share one behaviour list of `seqCount` values into `scores`;
/// the list is encoded once. See adpilot_scoring.h for layout.
@_cdecl("adpilot_model_score_shared")
public func adpilotModelScoreShared(
  _ handle: UnsafeMutableRawPointer?, _ rowCount: Int64,
  _ catValues: UnsafePointer<UnsafePointer<CChar>?>?, _ catLengths: UnsafePointer<Int32>?,
  _ numValues: UnsafePointer<Double>?, _ numNulls: UnsafePointer<UInt8>?,
  _ seqValues: UnsafePointer<UnsafePointer<CChar>?>?, _ seqLengths: UnsafePointer<Int32>?,
  _ seqCount: Int64, _ scores: UnsafeMutablePointer<Float>?,
  _ message: UnsafeMutablePointer<CChar>?, _ messageCapacity: Int64
) -> Int32 {
  let input = CRowInput(
    rowCount: rowCount, catValues: catValues, catLengths: catLengths, numValues: numValues,
    numNulls: numNulls, seqValues: seqValues, seqLengths: seqLengths, seqOffsets: nil,
    sharedSequenceCount: seqCount)
  return score(handle, input, scores, message, messageCapacity)
}

/// Encodes and scores `input` with the model behind `handle` into `scores`.
private func score(
  _ handle: UnsafeMutableRawPointer?, _ input: CRowInput, _ scores: UnsafeMutablePointer<Float>?,
  _ message: UnsafeMutablePointer<CChar>?, _ messageCapacity: Int64
) -> Int32 {
  guard let handle else {
    return fail(statusInvalidArgument, "model handle is null", message, messageCapacity)
  }
  let model = Unmanaged<ScoringModel>.fromOpaque(handle).takeUnretainedValue()
  do {
    let batch = try input.batch(for: model)
    let result = try model.score(batch)
    guard result.count == batch.count else {
      return fail(
        statusInvalidArgument,
        "the model returned \(result.count) scores for \(batch.count) rows", message,
        messageCapacity)
    }
    if !result.isEmpty {
      guard let scores else {
        return fail(statusInvalidArgument, "scores buffer is null", message, messageCapacity)
      }
      for (index, score) in result.enumerated() { scores[index] = score }
    }
    return statusOK
  } catch {
    let status = error.kind == .invalidConfig ? statusInvalidArgument : statusShapeMismatch
    return fail(status, error.message, message, messageCapacity)
  }
}

/// Releases a handle from `adpilot_model_load`; a null handle is ignored.
@_cdecl("adpilot_model_free")
public func adpilotModelFree(_ handle: UnsafeMutableRawPointer?) {
  guard let handle else { return }
  Unmanaged<ScoringModel>.fromOpaque(handle).release()
}

/// Writes `text` as a NUL-terminated string of at most `capacity` bytes, cut at a character
/// boundary, and returns `status`.
private func fail(
  _ status: Int32, _ text: String, _ message: UnsafeMutablePointer<CChar>?, _ capacity: Int64
) -> Int32 {
  guard let message, capacity > 0 else { return status }
  var written = 0
  for character in text {
    let bytes = Array(character.utf8)
    if Int64(written + bytes.count) > capacity - 1 { break }
    for byte in bytes {
      message[written] = CChar(bitPattern: byte)
      written += 1
    }
  }
  message[written] = 0
  return status
}
