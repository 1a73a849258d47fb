// One text-format row of a query result, with typed accessors that parse PostgreSQL's output.
// Accessors never trap: a NULL, an out-of-range column or an unparsable value throws .decode.

import CLibPQ

/// A row of a `Connection.query` result. It keeps the whole result alive while it exists.
public struct Row {
  let result: QueryResult
  let row: Int32

  /// The number of columns in the result.
  public var columnCount: Int { Int(PQnfields(result.pointer)) }

  /// Returns whether the value in column `i` is SQL NULL (also true for a column out of range).
  public func isNull(_ i: Int) -> Bool {
    guard i >= 0, i < columnCount else { return true }
    return PQgetisnull(result.pointer, row, Int32(i)) != 0
  }

  /// Returns the index of the column named `name`, or nil if there is none.
  public func index(of name: String) -> Int? {
    let index = PQfnumber(result.pointer, name)
    return index < 0 ? nil : Int(index)
  }

  /// Returns the value of column `i` as text.
  public func string(_ i: Int) throws(PostgresError) -> String {
    guard let value = try optionalString(i) else { throw nullError(i, accessor: "optionalString") }
    return value
  }

  /// Returns the value of column `i` as text, or nil for NULL.
  public func optionalString(_ i: Int) throws(PostgresError) -> String? {
    try checkColumn(i)
    if PQgetisnull(result.pointer, row, Int32(i)) != 0 { return nil }
    return String(cString: PQgetvalue(result.pointer, row, Int32(i)))
  }

  /// Returns the value of column `i` as a 64-bit integer.
  public func int64(_ i: Int) throws(PostgresError) -> Int64 {
    guard let value = try optionalInt64(i) else { throw nullError(i, accessor: "optionalInt64") }
    return value
  }

  /// Returns the value of column `i` as a 64-bit integer, or nil for NULL.
  public func optionalInt64(_ i: Int) throws(PostgresError) -> Int64? {
    guard let text = try optionalString(i) else { return nil }
    guard let value = Int64(text) else { throw parseError(i, text, as: "an integer") }
    return value
  }

  /// Returns the value of column `i` as a double.
  public func double(_ i: Int) throws(PostgresError) -> Double {
    guard let value = try optionalDouble(i) else { throw nullError(i, accessor: "optionalDouble") }
    return value
  }

  /// Returns the value of column `i` as a double, or nil for NULL. Parses `NaN`, `Infinity` and
  /// `-Infinity` as PostgreSQL writes them.
  public func optionalDouble(_ i: Int) throws(PostgresError) -> Double? {
    guard let text = try optionalString(i) else { return nil }
    switch text {
    case "NaN": return .nan
    case "Infinity": return .infinity
    case "-Infinity": return -.infinity
    default:
      guard let value = Double(text) else { throw parseError(i, text, as: "a number") }
      return value
    }
  }

  /// Returns the value of column `i` as a boolean (`t` or `f`).
  public func bool(_ i: Int) throws(PostgresError) -> Bool {
    let text = try string(i)
    switch text {
    case "t", "true": return true
    case "f", "false": return false
    default: throw parseError(i, text, as: "a boolean")
    }
  }

  /// Returns the value of a bytea column `i` as bytes, decoding the hex or escape output format.
  public func bytes(_ i: Int) throws(PostgresError) -> [UInt8] {
    try checkColumn(i)
    guard PQgetisnull(result.pointer, row, Int32(i)) == 0 else {
      throw nullError(i, accessor: "isNull before bytes")
    }
    var length = 0
    guard let decoded = PQunescapeBytea(PQgetvalue(result.pointer, row, Int32(i)), &length) else {
      throw PostgresError(
        kind: .decode, message: "column \(i) (\(name(i))): invalid bytea text",
        hint: "select a bytea column")
    }
    defer { PQfreemem(decoded) }
    return Array(UnsafeBufferPointer(start: decoded, count: length))
  }

  private func name(_ i: Int) -> String {
    guard let name = PQfname(result.pointer, Int32(i)) else { return "?" }
    return String(cString: name)
  }

  private func checkColumn(_ i: Int) throws(PostgresError) {
    guard i >= 0, i < columnCount else {
      throw PostgresError(
        kind: .decode,
        message: "column index \(i) out of range: the row has \(columnCount) columns",
        hint: "count columns from 0 in the SELECT list")
    }
  }

  private func nullError(_ i: Int, accessor: String) -> PostgresError {
    PostgresError(
      kind: .decode, message: "column \(i) (\(name(i))) is NULL",
      hint: "use \(accessor) for a column that can be NULL")
  }

  private func parseError(_ i: Int, _ text: String, as expected: String) -> PostgresError {
    PostgresError(
      kind: .decode, message: "column \(i) (\(name(i))): expected \(expected), got '\(text)'",
      hint: "cast the column in SQL or use string(_:)")
  }
}
