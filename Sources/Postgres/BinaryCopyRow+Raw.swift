// Zero-copy access to binary COPY fields for hot loops that hash bytes instead of building
// strings. The buffers point into libpq's message and must not outlive the copyOut callback.

extension BinaryCopyRow {
  /// Returns the raw bytes of field `i`, or nil for NULL; valid only inside the callback.
  public func rawBytes(_ i: Int) throws(PostgresError) -> UnsafeRawBufferPointer? {
    try field(i)
  }

  /// Calls `body` with the UTF-8 bytes of each element of a one-dimensional text[] field, or
  /// nil for a NULL element, without creating strings.
  public func forEachTextElement(
    _ i: Int, _ body: (UnsafeRawBufferPointer?) throws(PostgresError) -> Void
  ) throws(PostgresError) {
    let array = try BinaryArray(try required(i, "isNull"), field: i)
    try array.expectElementType([TypeOID.text, TypeOID.varchar, TypeOID.bpchar], "text")
    try array.forEachElement(body)
  }

  /// Calls `body` with each element of a one-dimensional float8[] field, or nil for a NULL
  /// element, without building an array.
  public func forEachFloat8Element(
    _ i: Int, _ body: (Double?) throws(PostgresError) -> Void
  ) throws(PostgresError) {
    let array = try BinaryArray(try required(i, "isNull"), field: i)
    try array.expectElementType([TypeOID.float8], "float8")
    try array.forEachElement { element throws(PostgresError) in
      guard let element else { return try body(nil) }
      guard element.count == 8 else {
        throw array.malformed("float8 element of \(element.count) bytes")
      }
      try body(Double(bitPattern: element.bigEndianInteger(UInt64.self, at: 0)))
    }
  }
}
