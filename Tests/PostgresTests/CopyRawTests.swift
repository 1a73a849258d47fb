// Binary COPY read without building Swift values: the raw field and array-element accessors
// and the discarding reader that benchmarks compare against.

import Postgres
import TestSupport
import Testing

@Suite struct CopyRawTests {
  let connection: Connection

  init() throws {
    connection = try TestDatabase.connect(suite: "PostgresTests.CopyRaw")
  }

  @Test func elementsMatchDecodedArrays() throws {
    var texts: [String?] = []
    var floats: [Double?] = []
    var raw: [UInt8]?
    var isNull = false
    let rows = try connection.copyOut(
      """
      COPY (SELECT ARRAY['a', NULL, '', 'é']::text[], ARRAY[1.5, NULL, -2]::float8[], 'xy'::text,
                   NULL::text)
      TO STDOUT (FORMAT binary)
      """
    ) { row in
      try row.forEachTextElement(0) { texts.append($0.map { String(decoding: $0, as: UTF8.self) }) }
      try row.forEachFloat8Element(1) { floats.append($0) }
      raw = try row.rawBytes(2).map { Array($0) }
      isNull = try row.rawBytes(3) == nil
    }
    #expect(rows == 1)
    #expect(texts == ["a", nil, "", "é"])
    #expect(floats == [1.5, nil, -2])
    #expect(raw == Array("xy".utf8))
    #expect(isNull)
  }

  @Test func textElementsRejectOtherTypes() throws {
    #expect(throws: PostgresError.self) {
      _ = try connection.copyOut(
        "COPY (SELECT ARRAY[1, 2]::int4[]) TO STDOUT (FORMAT binary)"
      ) { row in try row.forEachTextElement(0) { _ in } }
    }
  }

  @Test func discardingCountsStreamBytes() throws {
    // 19 header bytes, then per row a 2-byte field count and a 4-byte length before each
    // 4-byte int4, then the 2-byte trailer: 19 + 3 * 10 + 2.
    let bytes = try connection.copyOutDiscarding(
      "COPY (SELECT 7::int4 FROM generate_series(1, 3)) TO STDOUT (FORMAT binary)")
    #expect(bytes == 51)
    // The connection is ready for the next statement.
    #expect(try connection.query("SELECT 1").count == 1)
  }
}
