// Encoder for PostgreSQL's binary COPY format (the PGCOPY stream of COPY ... FROM STDIN
// (FORMAT binary)) that sends the stream with PQputCopyData in chunks of about 256 KiB.
// It must not split a chunk inside a field, because array lengths are patched after the fact.

import CLibPQ
import Foundation

/// A writer for the rows of one `Connection.copyIn` call. All integers are big-endian.
///
/// Write methods do not throw: a send failure is recorded, later data is dropped, and `copyIn`
/// throws the failure when the callback returns.
public struct BinaryCopyWriter {
  /// The size at which the buffer is sent, checked at the start of each row.
  static let chunkSize = 256 * 1024

  let handle: OpaquePointer
  let target: String
  var buffer: [UInt8] = []
  /// The first send failure, if any.
  var failure: PostgresError?
  /// Rows begun so far.
  public private(set) var rowCount = 0

  init(handle: OpaquePointer, target: String) {
    self.handle = handle
    self.target = target
    buffer.reserveCapacity(BinaryCopyWriter.chunkSize + 64 * 1024)
    // Signature "PGCOPY\n\377\r\n\0", then the flags field and the header extension length.
    buffer.append(contentsOf: [0x50, 0x47, 0x43, 0x4F, 0x50, 0x59, 0x0A, 0xFF, 0x0D, 0x0A, 0x00])
    appendInteger(Int32(0))
    appendInteger(Int32(0))
  }

  /// Starts a row of `columnCount` fields; exactly that many write calls must follow.
  public mutating func beginRow(_ columnCount: Int) {
    if buffer.count >= BinaryCopyWriter.chunkSize { flush() }
    appendInteger(Int16(truncatingIfNeeded: columnCount))
    rowCount += 1
  }

  /// Writes SQL NULL.
  public mutating func writeNull() {
    appendInteger(Int32(-1))
  }

  /// Writes a text, varchar or other string-typed field as UTF-8.
  public mutating func writeText(_ value: String) {
    let utf8 = value.utf8
    appendInteger(Int32(utf8.count))
    buffer.append(contentsOf: utf8)
  }

  /// Writes a text field, or NULL for nil.
  public mutating func writeOptionalText(_ value: String?) {
    if let value { writeText(value) } else { writeNull() }
  }

  /// Writes a bigint field.
  public mutating func writeInt64(_ value: Int64) {
    appendInteger(Int32(8))
    appendInteger(value)
  }

  /// Writes an integer (int4) field.
  public mutating func writeInt32(_ value: Int32) {
    appendInteger(Int32(4))
    appendInteger(value)
  }

  /// Writes a smallint field.
  public mutating func writeInt16(_ value: Int16) {
    appendInteger(Int32(2))
    appendInteger(value)
  }

  /// Writes a double precision field, NaN and infinities included.
  public mutating func writeFloat8(_ value: Double) {
    appendInteger(Int32(8))
    appendInteger(value.bitPattern)
  }

  /// Writes a double precision field, or NULL for nil.
  public mutating func writeOptionalFloat8(_ value: Double?) {
    if let value { writeFloat8(value) } else { writeNull() }
  }

  /// Writes a real (float4) field.
  public mutating func writeFloat4(_ value: Float) {
    appendInteger(Int32(4))
    appendInteger(value.bitPattern)
  }

  /// Writes a boolean field.
  public mutating func writeBool(_ value: Bool) {
    appendInteger(Int32(1))
    buffer.append(value ? 1 : 0)
  }

  /// Writes a bytea field.
  public mutating func writeBytea(_ value: [UInt8]) {
    appendInteger(Int32(value.count))
    buffer.append(contentsOf: value)
  }

  /// Writes a timestamptz field as microseconds since 2000-01-01 UTC.
  public mutating func writeTimestamptz(_ value: Date) {
    writeTimestampMicros(PostgresTime.micros(from: value))
  }

  /// Writes a timestamptz field given as microseconds since 2000-01-01 UTC.
  public mutating func writeTimestampMicros(_ micros: Int64) {
    appendInteger(Int32(8))
    appendInteger(micros)
  }

  /// Writes a jsonb field (binary jsonb is a version byte, 1, followed by the JSON text).
  public mutating func writeJSONB(_ json: String) {
    let utf8 = json.utf8
    appendInteger(Int32(utf8.count + 1))
    buffer.append(1)
    buffer.append(contentsOf: utf8)
  }

  /// Writes a one-dimensional text[] field; nil elements are NULL.
  public mutating func writeTextArray(_ values: [String?]) {
    writeArray(elementType: TypeOID.text, values) { writer, value in
      let utf8 = value.utf8
      writer.appendInteger(Int32(utf8.count))
      writer.buffer.append(contentsOf: utf8)
    }
  }

  /// Writes a one-dimensional float8[] field; nil elements are NULL.
  public mutating func writeFloat8Array(_ values: [Double?]) {
    writeArray(elementType: TypeOID.float8, values) { writer, value in
      writer.appendInteger(Int32(8))
      writer.appendInteger(value.bitPattern)
    }
  }

  /// Writes a one-dimensional int4[] field.
  public mutating func writeInt32Array(_ values: [Int32]) {
    writeArray(elementType: TypeOID.int4, values.map { Optional($0) }) { writer, value in
      writer.appendInteger(Int32(4))
      writer.appendInteger(value)
    }
  }

  /// Writes the binary array layout of `array_recv`: dimension count, has-NULL flag, element
  /// type OID, then (size, lower bound 1) per dimension and each element as length + bytes.
  /// An empty array has zero dimensions. The field length is patched in at the end.
  private mutating func writeArray<Element>(
    elementType: UInt32, _ values: [Element?],
    writeElement: (inout BinaryCopyWriter, Element) -> Void
  ) {
    let lengthPosition = buffer.count
    appendInteger(Int32(0))
    appendInteger(Int32(values.isEmpty ? 0 : 1))
    appendInteger(Int32(values.contains(where: { $0 == nil }) ? 1 : 0))
    appendInteger(elementType)
    if !values.isEmpty {
      appendInteger(Int32(values.count))
      appendInteger(Int32(1))
    }
    for value in values {
      if let value { writeElement(&self, value) } else { appendInteger(Int32(-1)) }
    }
    let length = UInt32(buffer.count - lengthPosition - 4).bigEndian
    withUnsafeBytes(of: length) { bytes in
      for (offset, byte) in bytes.enumerated() { buffer[lengthPosition + offset] = byte }
    }
  }

  mutating func appendInteger<T: FixedWidthInteger>(_ value: T) {
    withUnsafeBytes(of: value.bigEndian) { buffer.append(contentsOf: $0) }
  }

  /// Sends the buffer with PQputCopyData and empties it; after a failure data is dropped.
  mutating func flush() {
    defer { buffer.removeAll(keepingCapacity: true) }
    guard failure == nil, !buffer.isEmpty else { return }
    let status = buffer.withUnsafeBytes { bytes in
      PQputCopyData(
        handle, bytes.baseAddress?.assumingMemoryBound(to: CChar.self), Int32(bytes.count))
    }
    if status != 1 {
      failure = PostgresError(
        kind: .copy,
        message: "could not send COPY data: "
          + PostgresError.trimmed(String(cString: PQerrorMessage(handle))),
        target: target)
    }
  }

  /// Appends the trailer (a field count of -1) and sends what is left.
  mutating func finish() {
    appendInteger(Int16(-1))
    flush()
  }
}
