// Reads a data set's description from adpilot.datasets and streams its logged feature rows
// with binary COPY. Memory stays flat: rows are handed to the caller one at a time.

import CTR
import Foundation
import Postgres

/// A loaded data set: its feature layout and how its validation rows are chosen.
public struct DatasetInfo: Sendable {
  public var name: String
  public var spec: FeatureSpec
  /// `split`: the rows marked 'test' validate; `time`: the last logged day validates.
  public var validation: String
  public var source: String

  /// Whether the data set logs features that a model can train on.
  public var hasFeatures: Bool {
    !spec.categorical.isEmpty || !spec.numeric.isEmpty || !spec.sequence.isEmpty
  }
}

/// Loads data set `name` or fails with the list of loaded data sets.
public func loadDataset(_ connection: Connection, name: String) throws -> DatasetInfo {
  let rows = try connection.query(
    "SELECT name, feature_spec::text, validation, source FROM adpilot.datasets WHERE name = $1",
    [.text(name)])
  guard let row = rows.first else {
    let known = try connection.query("SELECT name FROM adpilot.datasets ORDER BY name")
      .map { try $0.string(0) }
    throw PipelineError(
      "data set '\(name)' not found; loaded data sets: "
        + (known.isEmpty ? "none" : known.joined(separator: ", "))
        + "; load one with `adpilot import` or `adpilot generate`")
  }
  let specText = try row.string(1)
  let spec: FeatureSpec
  do {
    spec = try JSONDecoder().decode(FeatureSpec.self, from: Data(specText.utf8))
  } catch {
    throw PipelineError(
      "data set '\(name)': feature_spec in adpilot.datasets is invalid (\(error)); re-import it")
  }
  return DatasetInfo(
    name: try row.string(0), spec: spec, validation: try row.string(2), source: try row.string(3))
}

/// One logged row with its features as served.
public struct FeatureRow: Sendable {
  public var requestId: String
  public var adId: String
  public var userId: String?
  public var cat: [String?]
  public var num: [Double?]
  public var seq: [String?]
  public var label: Float
}

/// A selection of a data set's impressions by split and time range.
public struct ImpressionFilter: Sendable {
  public var dataset: String
  /// 'train' or 'test', or nil for both.
  public var split: String?
  /// Inclusive lower bound of the impression time, or nil.
  public var from: Date?
  /// Exclusive upper bound of the impression time, or nil.
  public var to: Date?

  public init(dataset: String, split: String? = nil, from: Date? = nil, to: Date? = nil) {
    self.dataset = dataset
    self.split = split
    self.from = from
    self.to = to
  }
}

/// Sets session settings that a following COPY statement reads with current_setting().
///
/// COPY takes no bind parameters, so values reach it through set_config() calls, which do.
func setCopyParameters(_ connection: Connection, _ values: [String: String]) throws {
  for (key, value) in values.sorted(by: { $0.key < $1.key }) {
    _ = try connection.query(
      "SELECT set_config($1, $2, false)", [.text("adpilot.copy_\(key)"), .text(value)])
  }
}

/// Formats a time as an ISO 8601 instant in UTC with milliseconds, such as
/// 2026-01-07T00:00:00.000Z, which PostgreSQL parses as timestamptz. The time is rounded to
/// PostgreSQL's microseconds first, so that a whole millisecond that a `Double` stores slightly
/// below its value keeps its digit. It is then truncated toward the past to milliseconds.
///
/// It does the calendar arithmetic itself: `ISO8601DateFormatter` took about 130 microseconds
/// per call, most of a plan's write time with one call per hour row.
func isoInstant(_ date: Date) -> String {
  let microseconds = Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
  let (days, milliseconds) = floorDivision(floorDivision(microseconds, 1000).0, 86_400_000)
  let seconds = milliseconds / 1000
  return ImpressionWriter.isoDate(utcDay: Int(days)) + "T"
    + "\(padded(seconds / 3600, 2)):\(padded(seconds / 60 % 60, 2)):\(padded(seconds % 60, 2))."
    + "\(padded(milliseconds % 1000, 3))Z"
}

/// Returns the quotient rounded toward minus infinity and the remainder, which is never negative.
private func floorDivision(_ value: Int64, _ divisor: Int64) -> (Int64, Int64) {
  let remainder = value % divisor
  return remainder < 0
    ? (value / divisor - 1, remainder + divisor) : (value / divisor, remainder)
}

/// Returns `value` in decimal with leading zeros up to `width` digits.
private func padded(_ value: Int64, _ width: Int) -> String {
  let digits = String(value)
  guard digits.count < width else { return digits }
  return String(repeating: "0", count: width - digits.count) + digits
}

/// The COPY statement that streams the impressions selected by the session settings that
/// ``setImpressionFilter(_:_:)`` sets, in time order, in binary format.
let impressionCopyStatement = """
  COPY (
      SELECT request_id, coalesce(ad_id, ''), user_id, cat_values, num_values, seq_values, click
      FROM adpilot.impressions
      WHERE dataset = current_setting('adpilot.copy_dataset')
        AND (current_setting('adpilot.copy_split') = ''
             OR split = current_setting('adpilot.copy_split'))
        AND time >= current_setting('adpilot.copy_from')::timestamptz
        AND time < current_setting('adpilot.copy_to')::timestamptz
      ORDER BY time, request_id, ad_id
  ) TO STDOUT (FORMAT binary)
  """

/// Sets the session settings that ``impressionCopyStatement`` reads to `filter`'s values.
func setImpressionFilter(_ connection: Connection, _ filter: ImpressionFilter) throws {
  try setCopyParameters(
    connection,
    [
      "dataset": filter.dataset,
      "split": filter.split ?? "",
      "from": filter.from.map(isoInstant) ?? "-infinity",
      "to": filter.to.map(isoInstant) ?? "infinity",
    ])
}

/// Streams the impressions selected by `filter` in time order, calling `body` for each row.
///
/// Returns the number of rows read. Training reads through ``streamEncodedImpressions``, which
/// builds no strings; this form suits callers that need the values themselves.
@discardableResult
public func streamImpressions(
  _ connection: Connection, _ filter: ImpressionFilter, _ body: (FeatureRow) throws -> Void
) throws -> Int {
  try setImpressionFilter(connection, filter)
  return try connection.copyOut(impressionCopyStatement) { row in
    try body(
      FeatureRow(
        requestId: row.text(0), adId: row.text(1), userId: row.optionalText(2),
        cat: row.textArray(3), num: row.float8Array(4), seq: row.textArray(5),
        label: Float(row.int16(6))))
  }
}

/// Counts of the impressions a filter selects.
public struct ImpressionStatistics: Sendable {
  public var rows: Int
  public var clicks: Int

  /// The fraction of rows clicked, or 0 without rows.
  public var clickRate: Double { rows > 0 ? Double(clicks) / Double(rows) : 0 }
}

/// Returns the number of impressions and clicks that `filter` selects, in one aggregate query.
public func impressionStatistics(
  _ connection: Connection, _ filter: ImpressionFilter
) throws -> ImpressionStatistics {
  guard let row = try aggregate(connection, filter, "count(*)::int8, coalesce(sum(click), 0)::int8")
  else { return ImpressionStatistics(rows: 0, clicks: 0) }
  return ImpressionStatistics(rows: Int(try row.int64(0)), clicks: Int(try row.int64(1)))
}

/// Returns the number of UTC days on which `filter` has impressions.
public func loggedDayCount(_ connection: Connection, _ filter: ImpressionFilter) throws -> Int {
  let row = try aggregate(
    connection, filter, "count(DISTINCT (time AT TIME ZONE 'UTC')::date)::int8")
  return Int(try row?.int64(0) ?? 0)
}

/// Returns the one row of the aggregate expressions `columns` (constant SQL, never a value) over
/// the impressions that `filter` selects.
private func aggregate(_ connection: Connection, _ filter: ImpressionFilter, _ columns: String)
  throws -> Row?
{
  try connection.query(
    """
    SELECT \(columns)
    FROM adpilot.impressions
    WHERE dataset = $1
      AND ($2 = '' OR split = $2)
      AND time >= $3::timestamptz
      AND time < $4::timestamptz
    """,
    [
      .text(filter.dataset), .text(filter.split ?? ""),
      .text(filter.from.map(isoInstant) ?? "-infinity"),
      .text(filter.to.map(isoInstant) ?? "infinity"),
    ]
  ).first
}

/// Returns the time range [first, last] of a data set's impressions, or nil when it has none.
public func impressionTimeRange(_ connection: Connection, dataset: String) throws -> (
  first: Date, last: Date
)? {
  let row = try connection.query(
    """
    SELECT extract(epoch FROM min(time))::float8, extract(epoch FROM max(time))::float8
    FROM adpilot.impressions
    WHERE dataset = $1
    """, [.text(dataset)]
  ).first
  guard let row, !row.isNull(0) else { return nil }
  return (
    Date(timeIntervalSince1970: try row.double(0)), Date(timeIntervalSince1970: try row.double(1))
  )
}
