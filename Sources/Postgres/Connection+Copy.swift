// Client-side binary COPY: copyIn streams rows written by a BinaryCopyWriter to the server, and
// copyOut streams rows from the server to a callback one CopyData message at a time. Neither
// keeps the whole data set in memory, and neither uses server-side file paths.

import CLibPQ

extension Connection {
  /// Runs `COPY table (columns) FROM STDIN (FORMAT binary)`, lets `write` produce the rows, and
  /// returns the number of rows the server stored. If `write` throws, the COPY is aborted (so
  /// the server stores nothing) and the error is rethrown.
  public func copyIn(_ sql: String, _ write: (inout BinaryCopyWriter) throws -> Void) throws -> Int
  {
    let handle = try startCopy(sql, expecting: PGRES_COPY_IN)
    var writer = BinaryCopyWriter(handle: handle, target: target)
    do {
      try write(&writer)
    } catch {
      PQputCopyEnd(handle, "copyIn callback failed")
      _ = try? collectCopyResult(handle)
      throw error
    }
    writer.finish()
    if let failure = writer.failure {
      PQputCopyEnd(handle, "client could not send COPY data")
      _ = try? collectCopyResult(handle)
      throw failure
    }
    guard PQputCopyEnd(handle, nil) == 1 else {
      throw PostgresError.fromResult(nil, connection: handle, kind: .copy, target: target)
    }
    return try collectCopyResult(handle)
  }

  /// Runs `COPY (query) TO STDOUT (FORMAT binary)` and calls `row` for each row as it arrives,
  /// returning the row count. If `row` throws, the query is cancelled and the error rethrown.
  public func copyOut(_ sql: String, _ row: (borrowing BinaryCopyRow) throws -> Void) throws -> Int
  {
    let handle = try startCopy(sql, expecting: PGRES_COPY_OUT)
    var parser = CopyOutParser(target: target)
    defer { parser.deallocate() }
    while true {
      var message: UnsafeMutablePointer<CChar>?
      let length = PQgetCopyData(handle, &message, 0)
      if length == -1 { break }
      guard length >= 0, let message else {
        let error = PostgresError.fromResult(nil, connection: handle, kind: .copy, target: target)
        _ = try? collectCopyResult(handle)
        throw error
      }
      defer { PQfreemem(message) }
      do {
        try parser.consume(UnsafeRawBufferPointer(start: message, count: Int(length)), row)
      } catch {
        cancelAndDrain(handle)
        throw error
      }
    }
    let serverCount = try collectCopyResult(handle)
    guard parser.sawTrailer, parser.pendingCount == 0 else {
      throw PostgresError(
        kind: .copy, message: "binary COPY stream ended early after \(parser.rows) rows",
        hint: "use COPY ... TO STDOUT (FORMAT binary)", target: target)
    }
    return max(serverCount, parser.rows)
  }

  /// Runs `COPY (query) TO STDOUT` and discards what arrives without parsing it, returning
  /// the number of bytes received. Benchmarks use it as the floor of any COPY reader.
  public func copyOutDiscarding(_ sql: String) throws -> Int {
    let handle = try startCopy(sql, expecting: PGRES_COPY_OUT)
    var bytes = 0
    while true {
      var message: UnsafeMutablePointer<CChar>?
      let length = PQgetCopyData(handle, &message, 0)
      if length == -1 { break }
      guard length >= 0, let message else {
        let error = PostgresError.fromResult(nil, connection: handle, kind: .copy, target: target)
        _ = try? collectCopyResult(handle)
        throw error
      }
      bytes += Int(length)
      PQfreemem(message)
    }
    _ = try collectCopyResult(handle)
    return bytes
  }

  /// Sends a COPY statement and checks that the server entered the expected COPY mode.
  private func startCopy(_ sql: String, expecting expected: ExecStatusType) throws -> OpaquePointer
  {
    let handle = try liveHandle()
    // The extended protocol takes exactly one statement, so text spliced into the COPY (a
    // caller's scoring query) cannot end it and append statements of its own.
    let result = PQexecParams(handle, sql, 0, nil, nil, nil, nil, 0)
    defer { PQclear(result) }
    let status = PQresultStatus(result)
    if status == expected { return handle }
    let direction = expected == PGRES_COPY_IN ? "FROM STDIN" : "TO STDOUT"
    if status == PGRES_COPY_IN || status == PGRES_COPY_OUT {
      cancelAndDrain(handle)
      throw PostgresError(
        kind: .copy, message: "statement started a COPY in the other direction",
        hint: "pass COPY ... \(direction) (FORMAT binary)", target: target)
    }
    if status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK {
      throw PostgresError(
        kind: .copy, message: "statement is not a COPY",
        hint: "pass COPY ... \(direction) (FORMAT binary)", target: target)
    }
    throw PostgresError.fromResult(result, connection: handle, kind: .copy, target: target)
  }

  /// Reads the results that follow the end of a COPY and returns the row count of its command
  /// tag, or throws the first error among them.
  private func collectCopyResult(_ handle: OpaquePointer) throws(PostgresError) -> Int {
    var count = 0
    var failure: PostgresError?
    while let result = PQgetResult(handle) {
      let status = PQresultStatus(result)
      if status == PGRES_COMMAND_OK {
        count = Int(String(cString: PQcmdTuples(result))) ?? 0
      } else if status == PGRES_COPY_IN {
        PQputCopyEnd(handle, "unexpected COPY state")
      } else if status == PGRES_COPY_OUT {
        discardCopyOut(handle)
      } else if failure == nil {
        failure = PostgresError.fromResult(result, connection: handle, kind: .copy, target: target)
      }
      PQclear(result)
    }
    if let failure { throw failure }
    return count
  }

  /// Asks the server to cancel the running statement, then reads and discards what is left.
  private func cancelAndDrain(_ handle: OpaquePointer) {
    if let cancel = PQgetCancel(handle) {
      var errorBuffer = [CChar](repeating: 0, count: 256)
      _ = PQcancel(cancel, &errorBuffer, Int32(errorBuffer.count))
      PQfreeCancel(cancel)
    }
    discardCopyOut(handle)
    PQputCopyEnd(handle, "COPY abandoned by the client")
    _ = try? collectCopyResult(handle)
  }

  private func discardCopyOut(_ handle: OpaquePointer) {
    var message: UnsafeMutablePointer<CChar>?
    while PQgetCopyData(handle, &message, 0) >= 0 {
      if let message { PQfreemem(message) }
      message = nil
    }
  }
}

/// Incremental parser of the binary COPY stream. The server sends one row per CopyData message,
/// and such rows are read in place. A row split across messages is assembled in `pending` first.
struct CopyOutParser {
  let target: String
  var pending: [UInt8] = []
  var sawHeader = false
  var sawTrailer = false
  var rows = 0
  /// Field offsets and lengths of the current row, reused across rows.
  var capacity = 64
  var offsets = UnsafeMutablePointer<Int>.allocate(capacity: 64)
  var lengths = UnsafeMutablePointer<Int32>.allocate(capacity: 64)

  init(target: String) {
    self.target = target
  }

  var pendingCount: Int { pending.count }

  func deallocate() {
    offsets.deallocate()
    lengths.deallocate()
  }

  mutating func consume(
    _ message: UnsafeRawBufferPointer, _ row: (borrowing BinaryCopyRow) throws -> Void
  ) throws {
    if pending.isEmpty {
      let used = try parse(message, row)
      if used < message.count { pending.append(contentsOf: message[used...]) }
      return
    }
    pending.append(contentsOf: message)
    let buffer = pending
    let used = try buffer.withUnsafeBytes { bytes in try parse(bytes, row) }
    pending.removeFirst(used)
  }

  /// Parses complete units (header, rows, trailer) from `bytes` and returns the bytes used.
  private mutating func parse(
    _ bytes: UnsafeRawBufferPointer, _ row: (borrowing BinaryCopyRow) throws -> Void
  ) throws -> Int {
    var position = 0
    if !sawHeader {
      guard bytes.count >= 19 else { return 0 }
      let signature: [UInt8] = [0x50, 0x47, 0x43, 0x4F, 0x50, 0x59, 0x0A, 0xFF, 0x0D, 0x0A, 0x00]
      guard bytes.prefix(11).elementsEqual(signature) else {
        throw PostgresError(
          kind: .copy, message: "COPY output is not in binary format",
          hint: "add (FORMAT binary) to the COPY statement", target: target)
      }
      let extensionLength = Int(bytes.bigEndianInteger(UInt32.self, at: 15))
      guard bytes.count >= 19 + extensionLength else { return 0 }
      position = 19 + extensionLength
      sawHeader = true
    }
    while position + 2 <= bytes.count, !sawTrailer {
      let fieldCount = Int(Int16(bitPattern: bytes.bigEndianInteger(UInt16.self, at: position)))
      if fieldCount == -1 {
        sawTrailer = true
        return position + 2
      }
      guard let end = try locateFields(bytes, rowStart: position, fieldCount: fieldCount) else {
        return position
      }
      guard let base = bytes.baseAddress else { return position }
      let current = BinaryCopyRow(
        base: base, offsets: offsets, lengths: lengths, columnCount: fieldCount)
      rows += 1
      try row(current)
      position = end
    }
    return position
  }

  /// Records field offsets and lengths of the row at `rowStart`. Returns the offset after the
  /// row, or nil if the row is not complete in `bytes`.
  private mutating func locateFields(
    _ bytes: UnsafeRawBufferPointer, rowStart: Int, fieldCount: Int
  ) throws(PostgresError) -> Int? {
    guard fieldCount >= 0 else {
      throw PostgresError(
        kind: .copy, message: "malformed binary COPY row: field count \(fieldCount)",
        target: target)
    }
    if fieldCount > capacity { grow(to: fieldCount) }
    var position = rowStart + 2
    for index in 0..<fieldCount {
      guard position + 4 <= bytes.count else { return nil }
      let length = Int32(bitPattern: bytes.bigEndianInteger(UInt32.self, at: position))
      position += 4
      offsets[index] = position
      lengths[index] = length
      if length > 0 {
        guard position + Int(length) <= bytes.count else { return nil }
        position += Int(length)
      }
    }
    return position
  }

  private mutating func grow(to count: Int) {
    deallocate()
    capacity = count
    offsets = .allocate(capacity: count)
    lengths = .allocate(capacity: count)
  }
}
