// Binary COPY in and then out of every supported type, compared value for value, plus the
// chunked path (more than 256 KiB) and aborts from either side's callback.

import Foundation
import Postgres
import TestSupport
import Testing

@testable import Postgres

/// One row of the `every_type` table as Swift values.
struct TypedRow: Equatable {
  var id: Int32
  var text: String?
  var int64: Int64?
  var int16: Int16?
  var float8: Double?
  var float4: Float?
  var bool: Bool?
  var bytes: [UInt8]?
  var micros: Int64?
  var texts: [String?]?
  var floats: [Double?]?
  var ints: [Int32]?

  /// Compares floats by bit pattern so that NaN equals NaN.
  static func == (lhs: TypedRow, rhs: TypedRow) -> Bool {
    lhs.id == rhs.id && lhs.text == rhs.text && lhs.int64 == rhs.int64 && lhs.int16 == rhs.int16
      && lhs.float8?.bitPattern == rhs.float8?.bitPattern
      && lhs.float4?.bitPattern == rhs.float4?.bitPattern && lhs.bool == rhs.bool
      && lhs.bytes == rhs.bytes && lhs.micros == rhs.micros && lhs.texts == rhs.texts
      && lhs.floats?.map { $0?.bitPattern } == rhs.floats?.map { $0?.bitPattern }
      && lhs.ints == rhs.ints
  }
}

@Suite struct CopyTests {
  let connection: Connection

  init() throws {
    connection = try TestDatabase.connect(suite: "PostgresTests.Copy")
  }

  static let columns = "id, t, i8, i2, f8, f4, b, by, ts, ta, fa, ia"

  func createTable(_ name: String) throws {
    try connection.execute(
      """
      CREATE TEMP TABLE \(name) (
          id int, t text, i8 bigint, i2 smallint, f8 float8, f4 real, b bool, by bytea,
          ts timestamptz, ta text[], fa float8[], ia int4[]
      )
      """)
  }

  static let sampleRows: [TypedRow] = [
    TypedRow(
      id: 1, text: "plain", int64: Int64.max, int16: Int16.min, float8: .nan, float4: .infinity,
      bool: true, bytes: (0...255).map { UInt8($0) }, micros: -960_867_739_876_544,
      texts: ["a", nil, "", "NULL", "q\"uote", "b\\s", "{,}"],
      floats: [.nan, nil, -.infinity, 0.1],
      ints: [Int32.min, 0, Int32.max]),
    TypedRow(
      id: 2, text: nil, int64: nil, int16: nil, float8: nil, float4: nil, bool: nil, bytes: nil,
      micros: nil, texts: nil, floats: nil, ints: nil),
    TypedRow(
      id: 3, text: "", int64: Int64.min, int16: 0, float8: -.infinity, float4: -0.0, bool: false,
      bytes: [], micros: -1, texts: [], floats: [], ints: []),
    TypedRow(
      id: 4, text: "ünïcødé 🚀\n", int64: 0, int16: Int16.max, float8: Double.leastNonzeroMagnitude,
      float4: .leastNonzeroMagnitude, bool: true, bytes: [0], micros: Int64.max,
      texts: [nil], floats: [nil], ints: [1]),
    TypedRow(
      id: 5, text: "after 2000", int64: 42, int16: 7, float8: .pi, float4: 0.1, bool: false,
      bytes: [1, 2], micros: 817_382_096_000_001, texts: ["x"], floats: [1e308], ints: [-5]),
  ]

  static func write(_ row: TypedRow, to writer: inout BinaryCopyWriter) {
    writer.beginRow(12)
    writer.writeInt32(row.id)
    writer.writeOptionalText(row.text)
    if let value = row.int64 { writer.writeInt64(value) } else { writer.writeNull() }
    if let value = row.int16 { writer.writeInt16(value) } else { writer.writeNull() }
    writer.writeOptionalFloat8(row.float8)
    if let value = row.float4 { writer.writeFloat4(value) } else { writer.writeNull() }
    if let value = row.bool { writer.writeBool(value) } else { writer.writeNull() }
    if let value = row.bytes { writer.writeBytea(value) } else { writer.writeNull() }
    if let value = row.micros { writer.writeTimestampMicros(value) } else { writer.writeNull() }
    if let value = row.texts { writer.writeTextArray(value) } else { writer.writeNull() }
    if let value = row.floats { writer.writeFloat8Array(value) } else { writer.writeNull() }
    if let value = row.ints { writer.writeInt32Array(value) } else { writer.writeNull() }
  }

  static func read(_ row: borrowing BinaryCopyRow) throws -> TypedRow {
    TypedRow(
      id: try row.int32(0), text: try row.optionalText(1), int64: try row.optionalInt64(2),
      int16: row.isNull(3) ? nil : try row.int16(3), float8: try row.optionalFloat8(4),
      float4: row.isNull(5) ? nil : try row.float4(5), bool: row.isNull(6) ? nil : try row.bool(6),
      bytes: row.isNull(7) ? nil : try row.bytes(7),
      micros: row.isNull(8) ? nil : try row.timestampMicros(8),
      texts: row.isNull(9) ? nil : try row.textArray(9),
      floats: row.isNull(10) ? nil : try row.float8Array(10),
      ints: row.isNull(11) ? nil : try row.int32Array(11))
  }

  @Test func copyRoundTripsEveryType() throws {
    try createTable("every_type")
    let stored = try connection.copyIn(
      "COPY every_type (\(Self.columns)) FROM STDIN (FORMAT binary)"
    ) { writer in
      for row in Self.sampleRows { Self.write(row, to: &writer) }
    }
    #expect(stored == Self.sampleRows.count)

    var readBack: [TypedRow] = []
    let count = try connection.copyOut(
      "COPY (SELECT \(Self.columns) FROM every_type ORDER BY id) TO STDOUT (FORMAT binary)"
    ) { row in
      readBack.append(try Self.read(row))
    }
    #expect(count == Self.sampleRows.count)
    #expect(readBack.count == Self.sampleRows.count)
    for (expected, actual) in zip(Self.sampleRows, readBack) {
      #expect(actual == expected, "row \(expected.id)")
    }
  }

  @Test func copyStoresValuesTheServerReadsCorrectly() throws {
    try createTable("server_view")
    _ = try connection.copyIn("COPY server_view (\(Self.columns)) FROM STDIN (FORMAT binary)") {
      writer in
      for row in Self.sampleRows { Self.write(row, to: &writer) }
    }
    let rows = try connection.query(
      """
      SELECT ts = '1969-07-20 20:17:40.123456+00', ta[5], ta[2] IS NULL, cardinality(ta),
             fa[1] = 'NaN', isfinite(ts)
      FROM server_view
      WHERE id = 1
      """)
    #expect(try rows[0].bool(0))
    #expect(try rows[0].string(1) == "q\"uote")
    #expect(try rows[0].bool(2))
    #expect(try rows[0].int64(3) == 7)
    #expect(try rows[0].bool(4))
    let infinity = try connection.query("SELECT ts = 'infinity' FROM server_view WHERE id = 4")
    #expect(try infinity[0].bool(0))
  }

  @Test func timestamptzDatesRoundTripThroughCopy() throws {
    try connection.execute("CREATE TEMP TABLE times (ts timestamptz)")
    let micros: [Int64] = [
      -3_155_673_599_500_000, -960_867_739_876_544, -1, 0, 817_382_096_000_001,
    ]
    let dates = micros.map { PostgresTime.date(fromMicros: $0) }
    _ = try connection.copyIn("COPY times (ts) FROM STDIN (FORMAT binary)") { writer in
      for date in dates {
        writer.beginRow(1)
        writer.writeTimestamptz(date)
      }
    }
    var readBack: [Date] = []
    _ = try connection.copyOut("COPY (SELECT ts FROM times ORDER BY ts) TO STDOUT (FORMAT binary)")
    {
      row in
      readBack.append(try row.timestamptz(0))
    }
    #expect(readBack == dates)
  }

  @Test func copyStreamsMoreThanOneChunk() throws {
    try connection.execute("CREATE TEMP TABLE bulk (n bigint, label text, values float8[])")
    let rowCount = 30_000
    let stored = try connection.copyIn("COPY bulk FROM STDIN (FORMAT binary)") { writer in
      for n in 0..<rowCount {
        writer.beginRow(3)
        writer.writeInt64(Int64(n))
        writer.writeText("row-\(n)-padding-padding")
        writer.writeFloat8Array([Double(n), Double(n) / 2, nil])
      }
      #expect(writer.rowCount == rowCount)
    }
    #expect(stored == rowCount)

    var sum: Int64 = 0
    var halves = 0.0
    var labelsMatch = true
    let count = try connection.copyOut("COPY (SELECT * FROM bulk) TO STDOUT (FORMAT binary)") {
      row in
      let n = try row.int64(0)
      sum += n
      halves += try row.float8Array(2)[1] ?? 0
      let label = try row.text(1)
      labelsMatch = labelsMatch && label == "row-\(n)-padding-padding"
    }
    #expect(count == rowCount)
    #expect(sum == Int64(rowCount * (rowCount - 1) / 2))
    #expect(halves == Double(rowCount * (rowCount - 1)) / 4)
    #expect(labelsMatch)
  }

  @Test func copyInCallbackErrorStoresNothing() throws {
    struct Stop: Error {}
    try connection.execute("CREATE TEMP TABLE aborted (n bigint)")
    #expect(throws: Stop.self) {
      _ = try connection.copyIn("COPY aborted FROM STDIN (FORMAT binary)") { writer in
        writer.beginRow(1)
        writer.writeInt64(1)
        throw Stop()
      }
    }
    #expect(try connection.query("SELECT count(*) FROM aborted")[0].int64(0) == 0)
  }

  @Test func copyOutCallbackErrorLeavesConnectionUsable() throws {
    struct Stop: Error {}
    var seen = 0
    #expect(throws: Stop.self) {
      _ = try connection.copyOut(
        "COPY (SELECT generate_series(1, 100000)) TO STDOUT (FORMAT binary)"
      ) { _ in
        seen += 1
        if seen == 3 { throw Stop() }
      }
    }
    #expect(seen == 3)
    #expect(try connection.query("SELECT 41 + 1")[0].int64(0) == 42)
  }

  @Test func copyRejectsMismatchedAccessors() throws {
    let error = try #require(throws: PostgresError.self) {
      _ = try connection.copyOut("COPY (SELECT 1.5::float4) TO STDOUT (FORMAT binary)") { row in
        _ = try row.float8(0)
      }
    }
    #expect(error.kind == .decode)
    #expect(try connection.query("SELECT 1")[0].int64(0) == 1)
  }

  @Test func copyServerErrorCarriesSQLState() throws {
    try connection.execute("CREATE TEMP TABLE strict_copy (n bigint NOT NULL)")
    let error = try #require(throws: PostgresError.self) {
      _ = try connection.copyIn("COPY strict_copy FROM STDIN (FORMAT binary)") { writer in
        writer.beginRow(1)
        writer.writeNull()
      }
    }
    #expect(error.sqlState == "23502")
    #expect(error.kind == .copy)
  }

  @Test func executeRejectsCopyStatements() throws {
    let error = try #require(throws: PostgresError.self) {
      try connection.execute("COPY (SELECT 1) TO STDOUT")
    }
    #expect(error.message.contains("COPY"))
    #expect(try connection.query("SELECT 2")[0].int64(0) == 2)
  }
}
