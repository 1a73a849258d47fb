// Round trips of every PostgresValue case through PQexecParams and back through text rows,
// including strings and array elements that break naive quoting.

import Foundation
import Postgres
import TestSupport
import Testing

@testable import Postgres

/// Strings that break naive SQL or array-literal quoting.
let awkwardStrings: [String] = [
  "", "NULL", "null", "a\"b", "back\\slash", "\\\"", "comma,here", "{brace}", "}", "{",
  "  padded  ", "'single'", "line\nbreak\ttab", "ünïcødé 🚀", "$1", "\\N",
]

@Suite struct ParameterTests {
  let connection: Connection

  init() throws {
    connection = try TestDatabase.connect(suite: "PostgresTests.Parameters")
  }

  @Test func textRoundTripsAwkwardStrings() throws {
    for value in awkwardStrings {
      let rows = try connection.query("SELECT $1::text", [.text(value)])
      #expect(try rows[0].string(0) == value)
    }
  }

  @Test func nullRoundTrips() throws {
    let rows = try connection.query("SELECT $1::text IS NULL, $1::text", [.null])
    #expect(try rows[0].bool(0))
    #expect(try rows[0].optionalString(1) == nil)
    #expect(rows[0].isNull(1))
    #expect(throws: PostgresError.self) { try rows[0].string(1) }
  }

  @Test func integersRoundTripAtTheirLimits() throws {
    for value in [Int64.min, -1, 0, 1, Int64.max] {
      let rows = try connection.query("SELECT $1, pg_typeof($1)::text", [.int64(value)])
      #expect(try rows[0].int64(0) == value)
      #expect(try rows[0].string(1) == "bigint")
    }
    for value in [Int32.min, 0, Int32.max] {
      let rows = try connection.query("SELECT $1, pg_typeof($1)::text", [.int32(value)])
      #expect(try rows[0].int64(0) == Int64(value))
      #expect(try rows[0].string(1) == "integer")
    }
  }

  @Test func float8RoundTripsExactly() throws {
    let values: [Double] = [
      0.1, -2.5, 1e308, Double.leastNonzeroMagnitude, .pi, .infinity, -.infinity,
      Double.greatestFiniteMagnitude,
    ]
    for value in values {
      // The text form is parsed by the server's float8in, independently of the binary parameter.
      var text = "\(value)"
      if value == .infinity { text = "Infinity" }
      if value == -.infinity { text = "-Infinity" }
      let rows = try connection.query(
        "SELECT $1, $1 = $2::float8", [.float8(value), .text(text)])
      #expect(try rows[0].double(0) == value)
      #expect(try rows[0].bool(1))
    }
    let nan = try connection.query("SELECT $1, $1 = 'NaN'::float8", [.float8(.nan)])
    #expect(try nan[0].double(0).isNaN)
    #expect(try nan[0].bool(1))
    let negativeZero = try connection.query("SELECT $1", [.float8(-0.0)])
    #expect(try negativeZero[0].double(0).sign == .minus)
  }

  @Test func float4RoundTripsBitForBit() throws {
    for value: Float in [0.1, -3.25, .greatestFiniteMagnitude, .leastNonzeroMagnitude, .infinity] {
      let rows = try connection.query("SELECT float4send($1)", [.float4(value)])
      let bits = try rows[0].bytes(0).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
      #expect(bits == value.bitPattern)
    }
  }

  @Test func boolRoundTrips() throws {
    let rows = try connection.query("SELECT $1, $2", [.bool(true), .bool(false)])
    #expect(try rows[0].bool(0) == true)
    #expect(try rows[0].bool(1) == false)
  }

  @Test func byteaRoundTripsEveryByte() throws {
    let all = (0...255).map { UInt8($0) }
    let rows = try connection.query("SELECT $1, length($1), $2", [.bytea(all), .bytea([])])
    #expect(try rows[0].bytes(0) == all)
    #expect(try rows[0].int64(1) == 256)
    #expect(try rows[0].bytes(2) == [])
  }

  @Test func timestamptzRoundTripsToTheMicrosecond() throws {
    // Microseconds since 2000 and the same instant as ISO text: 1900, before 1970, just before
    // 2000, the PostgreSQL epoch itself, and after 2000.
    let cases: [(micros: Int64, text: String)] = [
      (-3_155_673_599_500_000, "1900-01-01 00:00:00.5+00"),
      (-960_867_739_876_544, "1969-07-20 20:17:40.123456+00"),
      (-1, "1999-12-31 23:59:59.999999+00"),
      (0, "2000-01-01 00:00:00+00"),
      (817_382_096_000_001, "2025-11-25 10:34:56.000001+00"),
    ]
    for (micros, text) in cases {
      let date = PostgresTime.date(fromMicros: micros)
      let rows = try connection.query(
        "SELECT $1 = $2::timestamptz", [.timestamptz(date), .text(text)])
      #expect(try rows[0].bool(0), "\(text)")
      #expect(PostgresTime.micros(from: date) == micros)
    }
  }

  @Test func dateJsonbAndUUIDRoundTrip() throws {
    let json = #"{"a": [1, "x\"y"], "b": null}"#
    let uuid = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
    let rows = try connection.query(
      """
      SELECT $1::text, $1 = DATE '1999-12-31',
             $2 ->> 'b' IS NULL, $2 -> 'a' ->> 1, pg_typeof($2)::text,
             $3::text, pg_typeof($3)::text
      """,
      [.date("1999-12-31"), .jsonb(json), .uuid(uuid)])
    #expect(try rows[0].string(0) == "1999-12-31")
    #expect(try rows[0].bool(1))
    #expect(try rows[0].bool(2))
    #expect(try rows[0].string(3) == "x\"y")
    #expect(try rows[0].string(4) == "jsonb")
    #expect(try rows[0].string(5) == uuid)
    #expect(try rows[0].string(6) == "uuid")
  }

  @Test func textArrayRoundTripsHardElements() throws {
    let values: [String?] = [nil] + awkwardStrings.map { Optional($0) } + [nil]
    let rows = try connection.query(
      "SELECT element FROM unnest($1::text[]) WITH ORDINALITY AS u (element, n) ORDER BY n",
      [.textArray(values)])
    #expect(try rows.map { try $0.optionalString(0) } == values)
    let empty = try connection.query("SELECT cardinality($1::text[])", [.textArray([])])
    #expect(try empty[0].int64(0) == 0)
  }

  @Test func float8ArrayRoundTripsSpecialValues() throws {
    let values: [Double?] = [
      1.5, nil, .infinity, -.infinity, 0.1, Double.leastNonzeroMagnitude, -1e308, 1.0 / 3,
    ]
    let rows = try connection.query(
      "SELECT element FROM unnest($1::float8[]) WITH ORDINALITY AS u (element, n) ORDER BY n",
      [.float8Array(values)])
    #expect(try rows.map { try $0.optionalDouble(0) } == values)
    let nan = try connection.query("SELECT ($1::float8[])[1] = 'NaN'", [.float8Array([.nan])])
    #expect(try nan[0].bool(0))
  }

  @Test func int32ArrayRoundTrips() throws {
    let values: [Int32] = [Int32.min, -1, 0, 7, Int32.max]
    let rows = try connection.query(
      "SELECT element FROM unnest($1::int4[]) WITH ORDINALITY AS u (element, n) ORDER BY n",
      [.int32Array(values)])
    #expect(try rows.map { try $0.int64(0) } == values.map { Int64($0) })
    let empty = try connection.query("SELECT cardinality($1::int4[])", [.int32Array([])])
    #expect(try empty[0].int64(0) == 0)
  }

  @Test func arrayLiteralQuotesEveryElement() {
    #expect(
      ArrayLiteral.text([nil, "NULL", "", "a\"b", "c\\d", "e,f"])
        == #"{NULL,"NULL","","a\"b","c\\d","e,f"}"#)
    #expect(ArrayLiteral.text([]) == "{}")
    #expect(ArrayLiteral.float8([nil, .nan, -.infinity, 0.5]) == "{NULL,NaN,-Infinity,0.5}")
  }

  @Test func executeReturnsAffectedRows() throws {
    try connection.execute("CREATE TEMP TABLE counted (n int)")
    #expect(try connection.execute("INSERT INTO counted SELECT generate_series(1, 5)") == 5)
    #expect(try connection.execute("DELETE FROM counted WHERE n > $1", [.int32(3)]) == 2)
    #expect(try connection.execute("CREATE TEMP TABLE other (n int)") == 0)
  }

  @Test func preparedStatementRunsWithNewParameters() throws {
    try connection.prepare("add_one", "SELECT $1::int8 + 1, $2::text || '!'")
    for (number, text) in [(Int64(41), "a"), (-1, "NULL")] {
      let rows = try connection.queryPrepared("add_one", [.int64(number), .text(text)])
      #expect(try rows[0].int64(0) == number + 1)
      #expect(try rows[0].string(1) == text + "!")
    }
    let nulls = try connection.queryPrepared("add_one", [.null, .null])
    #expect(nulls[0].isNull(0))
    #expect(nulls[0].isNull(1))
  }

  @Test func preparedStatementErrorsNameTheProblem() throws {
    #expect(throws: PostgresError.self) { try connection.prepare("broken", "SELEC 1") }
    do {
      _ = try connection.queryPrepared("never_prepared", [])
      Issue.record("running an unprepared statement succeeded")
    } catch {
      #expect(error.message.contains("never_prepared"))
    }
    try connection.prepare("divide", "SELECT 1 / $1::int4")
    #expect(throws: PostgresError.self) { try connection.queryPrepared("divide", [.int32(0)]) }
    #expect(try connection.queryPrepared("divide", [.int32(1)])[0].int64(0) == 1)
  }

  @Test func rowIndexFindsColumnsByName() throws {
    let rows = try connection.query("SELECT 1 AS first, 'x' AS second")
    #expect(rows[0].index(of: "second") == 1)
    #expect(rows[0].index(of: "missing") == nil)
    #expect(rows[0].columnCount == 2)
  }

  @Test func rowAccessorsRejectWrongTypes() throws {
    let rows = try connection.query("SELECT 'abc', 2")
    let error = try #require(throws: PostgresError.self) { try rows[0].int64(0) }
    #expect(error.kind == .decode)
    #expect(throws: PostgresError.self) { try rows[0].string(5) }
  }
}
