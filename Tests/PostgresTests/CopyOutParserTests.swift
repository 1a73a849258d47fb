// The binary COPY stream parser fed a hand-built stream split at every possible chunk size, so
// that rows, the header and the trailer crossing CopyData message boundaries are all exercised.

import Testing

@testable import Postgres

@Suite struct CopyOutParserTests {
  /// Builds a PGCOPY stream of (bigint, text-or-NULL) rows as the server would send it.
  static func stream(_ rows: [(Int64, String?)], headerExtension: [UInt8] = []) -> [UInt8] {
    var bytes: [UInt8] = [0x50, 0x47, 0x43, 0x4F, 0x50, 0x59, 0x0A, 0xFF, 0x0D, 0x0A, 0x00]
    bytes += bigEndianBytes(Int32(0))
    bytes += bigEndianBytes(Int32(headerExtension.count)) + headerExtension
    for (number, text) in rows {
      bytes += bigEndianBytes(Int16(2))
      bytes += bigEndianBytes(Int32(8)) + bigEndianBytes(number)
      if let text {
        bytes += bigEndianBytes(Int32(text.utf8.count)) + Array(text.utf8)
      } else {
        bytes += bigEndianBytes(Int32(-1))
      }
    }
    return bytes + bigEndianBytes(Int16(-1))
  }

  static func parse(_ bytes: [UInt8], chunkSize: Int) throws -> (rows: [String], done: Bool) {
    var parser = CopyOutParser(target: "test")
    defer { parser.deallocate() }
    var decoded: [String] = []
    var start = 0
    while start < bytes.count {
      let end = min(start + chunkSize, bytes.count)
      try Array(bytes[start..<end]).withUnsafeBytes { chunk in
        try parser.consume(chunk) { row in
          decoded.append("\(try row.int64(0)):\(try row.optionalText(1) ?? "NULL")")
        }
      }
      start = end
    }
    return (decoded, parser.sawTrailer && parser.pendingCount == 0)
  }

  @Test func parserHandlesEveryChunkSize() throws {
    let rows: [(Int64, String?)] = [(1, "one"), (-2, nil), (Int64.max, ""), (4, "ünïcødé")]
    let expected = ["1:one", "-2:NULL", "\(Int64.max):", "4:ünïcødé"]
    let bytes = Self.stream(rows, headerExtension: [9, 9, 9])
    for chunkSize in 1...bytes.count {
      let result = try Self.parse(bytes, chunkSize: chunkSize)
      #expect(result.rows == expected, "chunk size \(chunkSize)")
      #expect(result.done, "chunk size \(chunkSize)")
    }
  }

  @Test func parserRejectsTextFormat() throws {
    let text = Array("1\tone\n".utf8) + Array(repeating: 0x20, count: 20)
    #expect(throws: PostgresError.self) { _ = try Self.parse(text, chunkSize: text.count) }
  }

  @Test func parserGrowsFieldStorageForWideRows() throws {
    var bytes: [UInt8] = [0x50, 0x47, 0x43, 0x4F, 0x50, 0x59, 0x0A, 0xFF, 0x0D, 0x0A, 0x00]
    bytes += bigEndianBytes(Int32(0)) + bigEndianBytes(Int32(0))
    bytes += bigEndianBytes(Int16(300))
    for column in 0..<300 { bytes += bigEndianBytes(Int32(4)) + bigEndianBytes(Int32(column)) }
    bytes += bigEndianBytes(Int16(-1))
    var parser = CopyOutParser(target: "test")
    defer { parser.deallocate() }
    var last: Int32 = -1
    var columns = 0
    try bytes.withUnsafeBytes { chunk in
      try parser.consume(chunk) { row in
        columns = row.columnCount
        last = try row.int32(299)
      }
    }
    #expect(columns == 300)
    #expect(last == 299)
  }
}
