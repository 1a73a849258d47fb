// One row of a binary COPY ... TO STDOUT stream, read in place from libpq's buffer.
// A row is valid only inside the copyOut callback. Accessors check every length against the
// field, so a type mismatch throws .decode instead of reading out of bounds.

import Foundation

/// A row of binary COPY output. Fields are numbered from 0 in the COPY column order.
public struct BinaryCopyRow {
  let base: UnsafeRawPointer
  /// Offset of each field's data from `base`, and its length (-1 for NULL).
  let offsets: UnsafePointer<Int>
  let lengths: UnsafePointer<Int32>
  /// The number of fields in this row.
  public let columnCount: Int

  /// Returns whether field `i` is NULL (also true for a field out of range).
  public func isNull(_ i: Int) -> Bool {
    guard i >= 0, i < columnCount else { return true }
    return lengths[i] < 0
  }

  /// Returns the bytes of field `i`, or nil for NULL.
  func field(_ i: Int) throws(PostgresError) -> UnsafeRawBufferPointer? {
    guard i >= 0, i < columnCount else {
      throw PostgresError(
        kind: .decode, message: "COPY field index \(i) out of range: the row has \(columnCount)",
        hint: "count fields from 0 in the COPY column list")
    }
    guard lengths[i] >= 0 else { return nil }
    return UnsafeRawBufferPointer(start: base + offsets[i], count: Int(lengths[i]))
  }

  func required(_ i: Int, _ accessor: String) throws(PostgresError) -> UnsafeRawBufferPointer {
    guard let bytes = try field(i) else {
      throw PostgresError(
        kind: .decode, message: "COPY field \(i) is NULL",
        hint: "check isNull(\(i)) or use \(accessor) for a column that can be NULL")
    }
    return bytes
  }

  func lengthError(_ i: Int, _ length: Int, expected: String) -> PostgresError {
    PostgresError(
      kind: .decode, message: "COPY field \(i): expected \(expected), got \(length) bytes",
      hint: "match the accessor to the column type, or cast the column in the COPY query")
  }

  /// Returns field `i` (text, varchar, name or any type sent as UTF-8) as a string.
  public func text(_ i: Int) throws(PostgresError) -> String {
    String(decoding: try required(i, "optionalText"), as: UTF8.self)
  }

  /// Returns field `i` as a string, or nil for NULL.
  public func optionalText(_ i: Int) throws(PostgresError) -> String? {
    try field(i).map { String(decoding: $0, as: UTF8.self) }
  }

  /// Returns an integer field (bigint, integer or smallint) of any width as Int64.
  public func int64(_ i: Int) throws(PostgresError) -> Int64 {
    guard let value = try optionalInt64(i) else {
      throw PostgresError(
        kind: .decode, message: "COPY field \(i) is NULL", hint: "use optionalInt64")
    }
    return value
  }

  /// Returns an integer field of any width as Int64, or nil for NULL.
  public func optionalInt64(_ i: Int) throws(PostgresError) -> Int64? {
    guard let bytes = try field(i) else { return nil }
    switch bytes.count {
    case 8: return Int64(bitPattern: bytes.bigEndianInteger(UInt64.self, at: 0))
    case 4: return Int64(Int32(bitPattern: bytes.bigEndianInteger(UInt32.self, at: 0)))
    case 2: return Int64(Int16(bitPattern: bytes.bigEndianInteger(UInt16.self, at: 0)))
    default: throw lengthError(i, bytes.count, expected: "an integer of 2, 4 or 8 bytes")
    }
  }

  /// Returns an integer or smallint field as Int32.
  public func int32(_ i: Int) throws(PostgresError) -> Int32 {
    let bytes = try required(i, "isNull")
    switch bytes.count {
    case 4: return Int32(bitPattern: bytes.bigEndianInteger(UInt32.self, at: 0))
    case 2: return Int32(Int16(bitPattern: bytes.bigEndianInteger(UInt16.self, at: 0)))
    default: throw lengthError(i, bytes.count, expected: "an integer of 2 or 4 bytes")
    }
  }

  /// Returns a smallint field.
  public func int16(_ i: Int) throws(PostgresError) -> Int16 {
    let bytes = try required(i, "isNull")
    guard bytes.count == 2 else { throw lengthError(i, bytes.count, expected: "a smallint") }
    return Int16(bitPattern: bytes.bigEndianInteger(UInt16.self, at: 0))
  }

  /// Returns a double precision field.
  public func float8(_ i: Int) throws(PostgresError) -> Double {
    guard let value = try optionalFloat8(i) else {
      throw PostgresError(
        kind: .decode, message: "COPY field \(i) is NULL", hint: "use optionalFloat8")
    }
    return value
  }

  /// Returns a double precision field, or nil for NULL.
  public func optionalFloat8(_ i: Int) throws(PostgresError) -> Double? {
    guard let bytes = try field(i) else { return nil }
    guard bytes.count == 8 else {
      throw lengthError(i, bytes.count, expected: "a float8 (cast real columns with ::float8)")
    }
    return Double(bitPattern: bytes.bigEndianInteger(UInt64.self, at: 0))
  }

  /// Returns a real (float4) field.
  public func float4(_ i: Int) throws(PostgresError) -> Float {
    let bytes = try required(i, "isNull")
    guard bytes.count == 4 else { throw lengthError(i, bytes.count, expected: "a float4") }
    return Float(bitPattern: bytes.bigEndianInteger(UInt32.self, at: 0))
  }

  /// Returns a boolean field.
  public func bool(_ i: Int) throws(PostgresError) -> Bool {
    let bytes = try required(i, "isNull")
    guard bytes.count == 1 else { throw lengthError(i, bytes.count, expected: "a boolean") }
    return bytes[0] != 0
  }

  /// Returns a timestamptz (or timestamp) field as microseconds since 2000-01-01 UTC.
  /// PostgreSQL's `infinity` and `-infinity` are Int64.max and Int64.min.
  public func timestampMicros(_ i: Int) throws(PostgresError) -> Int64 {
    let bytes = try required(i, "isNull")
    guard bytes.count == 8 else { throw lengthError(i, bytes.count, expected: "a timestamp") }
    return Int64(bitPattern: bytes.bigEndianInteger(UInt64.self, at: 0))
  }

  /// Returns a timestamptz field as a date.
  public func timestamptz(_ i: Int) throws(PostgresError) -> Date {
    PostgresTime.date(fromMicros: try timestampMicros(i))
  }

  /// Returns a bytea field (or any field's raw binary value) as bytes.
  public func bytes(_ i: Int) throws(PostgresError) -> [UInt8] {
    Array(try required(i, "isNull"))
  }

  /// Returns a one-dimensional text[] (or varchar[]) field; NULL elements are nil.
  public func textArray(_ i: Int) throws(PostgresError) -> [String?] {
    let array = try BinaryArray(try required(i, "isNull"), field: i)
    try array.expectElementType([TypeOID.text, TypeOID.varchar, TypeOID.bpchar], "text")
    var values: [String?] = []
    values.reserveCapacity(array.count)
    try array.forEachElement { element in
      values.append(element.map { String(decoding: $0, as: UTF8.self) })
    }
    return values
  }

  /// Returns a one-dimensional float8[] field; NULL elements are nil.
  public func float8Array(_ i: Int) throws(PostgresError) -> [Double?] {
    let array = try BinaryArray(try required(i, "isNull"), field: i)
    try array.expectElementType([TypeOID.float8], "float8")
    var values: [Double?] = []
    values.reserveCapacity(array.count)
    try array.forEachElement { element throws(PostgresError) in
      guard let element else { return values.append(nil) }
      guard element.count == 8 else {
        throw array.malformed("float8 element of \(element.count) bytes")
      }
      values.append(Double(bitPattern: element.bigEndianInteger(UInt64.self, at: 0)))
    }
    return values
  }

  /// Returns a one-dimensional int4[] field; NULL elements throw.
  public func int32Array(_ i: Int) throws(PostgresError) -> [Int32] {
    let array = try BinaryArray(try required(i, "isNull"), field: i)
    try array.expectElementType([TypeOID.int4], "int4")
    var values: [Int32] = []
    values.reserveCapacity(array.count)
    try array.forEachElement { element throws(PostgresError) in
      guard let element, element.count == 4 else {
        throw array.malformed("a NULL or non-int4 element")
      }
      values.append(Int32(bitPattern: element.bigEndianInteger(UInt32.self, at: 0)))
    }
    return values
  }
}

/// The binary layout of an array value as `array_send` writes it.
struct BinaryArray {
  let bytes: UnsafeRawBufferPointer
  let field: Int
  let elementType: UInt32
  let count: Int
  /// Offset of the first element's length word.
  let dataOffset: Int

  init(_ bytes: UnsafeRawBufferPointer, field: Int) throws(PostgresError) {
    self.bytes = bytes
    self.field = field
    guard bytes.count >= 12 else {
      throw PostgresError(
        kind: .decode, message: "COPY field \(field): not an array value (\(bytes.count) bytes)",
        hint: "match the accessor to the column type")
    }
    let dimensions = Int32(bitPattern: bytes.bigEndianInteger(UInt32.self, at: 0))
    elementType = bytes.bigEndianInteger(UInt32.self, at: 8)
    switch dimensions {
    case 0:
      count = 0
      dataOffset = 12
    case 1:
      guard bytes.count >= 20 else {
        throw PostgresError(
          kind: .decode, message: "COPY field \(field): truncated array header",
          hint: "match the accessor to the column type")
      }
      count = Int(Int32(bitPattern: bytes.bigEndianInteger(UInt32.self, at: 12)))
      dataOffset = 20
    default:
      throw PostgresError(
        kind: .decode,
        message: "COPY field \(field): array has \(dimensions) dimensions, expected 1",
        hint: "flatten the array in the COPY query")
    }
  }

  func malformed(_ problem: String) -> PostgresError {
    PostgresError(
      kind: .decode, message: "COPY field \(field): malformed array: \(problem)",
      hint: "match the accessor to the column type")
  }

  func expectElementType(_ accepted: [UInt32], _ name: String) throws(PostgresError) {
    guard accepted.contains(elementType) else {
      throw PostgresError(
        kind: .decode,
        message:
          "COPY field \(field): array elements have type OID \(elementType), expected \(name)",
        hint: "cast the column to \(name)[] in the COPY query")
    }
  }

  /// Calls `body` with each element's bytes, or nil for a NULL element.
  func forEachElement(
    _ body: (UnsafeRawBufferPointer?) throws(PostgresError) -> Void
  ) throws(PostgresError) {
    var offset = dataOffset
    for _ in 0..<count {
      guard offset + 4 <= bytes.count else { throw malformed("element length past the end") }
      let length = Int(Int32(bitPattern: bytes.bigEndianInteger(UInt32.self, at: offset)))
      offset += 4
      if length < 0 {
        try body(nil)
        continue
      }
      guard offset + length <= bytes.count else { throw malformed("element data past the end") }
      try body(UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + length]))
      offset += length
    }
  }
}

extension UnsafeRawBufferPointer {
  /// Reads a big-endian integer at `offset`; the caller has checked the bounds.
  @inline(__always)
  func bigEndianInteger<T: FixedWidthInteger>(_ type: T.Type, at offset: Int) -> T {
    T(bigEndian: loadUnaligned(fromByteOffset: offset, as: T.self))
  }
}
