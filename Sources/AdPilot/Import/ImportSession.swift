// Runs one file's import in one transaction: clears the rows a previous run of the file loaded,
// streams records and rejections to their writers and counts them. Parsing is the importers' job.

import Foundation
import Postgres

/// The state of one running import: the writers and the report being filled in.
final class ImportSession {
  let dataset: String
  let sourceFile: String
  fileprivate(set) var report: ImportReport
  private let impressions: ImpressionWriter
  private let rejects: RejectedRowWriter

  init(connection: Connection, dataset: String, file: URL, split: String?) {
    self.dataset = dataset
    sourceFile = file.lastPathComponent
    report = ImportReport(file: file.path, dataset: dataset)
    report.split = split
    impressions = ImpressionWriter(connection: connection, dataset: dataset)
    rejects = RejectedRowWriter(connection: connection, split: split)
  }

  func load(_ record: ImpressionRecord) throws {
    try impressions.append(record)
    report.loaded += 1
    report.clicks += Int(record.click)
  }

  func reject(line: Int, reason: String, rawLine: String) throws {
    // PostgreSQL text cannot contain NUL, so the stored copy shows each one as U+FFFD.
    let storable =
      rawLine.utf8.contains(0) ? rawLine.replacingOccurrences(of: "\0", with: "\u{FFFD}") : rawLine
    try rejects.append(
      RejectedRow(
        dataset: dataset, sourceFile: sourceFile, lineNumber: line, reason: reason,
        rawLine: storable))
    report.rejected[reason, default: 0] += 1
  }

  func skip(reason: String) {
    report.skipped[reason, default: 0] += 1
  }

  /// UTC days (days since 1970-01-01) of the records copied or being copied.
  var writtenDays: Set<Int> { impressions.writtenDays }

  func finish() throws {
    try impressions.flush()
    try rejects.flush()
    report.dayGap = DayGap.longest(in: impressions.writtenDays)
  }

  /// Runs `body` in one transaction after deleting the data set's rows of `splits` and its
  /// rejected rows, so that a rerun replaces the earlier load. An import of one split deletes
  /// that split's rejected rows and those without a split from a file of the same name. An
  /// import of both deletes every rejected row of the data set.
  ///
  /// The transaction holds the data set's advisory lock (``lockDataset(_:name:)``) from before
  /// the deletes to its end, so a second import into the same data set waits for the first to
  /// commit and then replaces its rows.
  ///
  /// A file that yields no usable row throws and rolls the transaction back, so that an empty
  /// or wrongly formatted file never replaces rows loaded before. So does a server that runs
  /// out of lock slots, which throws an ``ImportError`` naming the days of the rows.
  static func run(
    connection: Connection, dataset: String, file: URL, splits: [String],
    _ body: (ImportSession) throws -> Void
  ) throws -> ImportReport {
    var current: ImportSession?
    do {
      return try transaction(
        connection: connection, dataset: dataset, file: file, splits: splits
      ) { session in
        current = session
        try body(session)
      }
    } catch let error as PostgresError where error.sqlState == "53200" {
      throw outOfLockSlots(
        error, file: file, dataset: dataset, days: current?.writtenDays ?? [])
    }
  }

  private static func transaction(
    connection: Connection, dataset: String, file: URL, splits: [String],
    _ body: (ImportSession) throws -> Void
  ) throws -> ImportReport {
    try connection.transaction {
      try lockDataset(connection, name: dataset)
      let replaced = try connection.execute(
        "DELETE FROM adpilot.impressions WHERE dataset = $1 AND split = ANY($2::text[])",
        [.text(dataset), .textArray(splits)])
      let replacesAll = Set(splits).isSuperset(of: ["train", "test"])
      _ = try connection.execute(
        """
        DELETE FROM adpilot.rejected_rows
        WHERE dataset = $1
          AND ($2 OR split = ANY($4::text[]) OR (split IS NULL AND source_file = $3))
        """,
        [.text(dataset), .bool(replacesAll), .text(file.lastPathComponent), .textArray(splits)])
      let session = ImportSession(
        connection: connection, dataset: dataset, file: file,
        split: splits.count == 1 ? splits[0] : nil)
      session.report.replaced = replaced
      try body(session)
      try session.finish()
      if session.report.loaded == 0 {
        throw Self.nothingLoaded(session.report)
      }
      return session.report
    }
  }

  /// Returns the error for an import that the server failed with SQLSTATE 53200 (out of shared
  /// memory), naming the UTC days of the rows written before it failed.
  ///
  /// Every UTC day is a partition of adpilot.impressions, and the import's transaction holds a
  /// lock on each partition it deletes from, creates or writes until it ends. The server's
  /// shared lock table has `max_locks_per_transaction` slots per server process, so a file whose
  /// rows fall on a few thousand days runs out of them. In the embedded PostgreSQL 15, with the
  /// defaults of 64 slots and 100 connections, an import failed after about 2,560 new days.
  static func outOfLockSlots(
    _ error: PostgresError, file: URL, dataset: String, days: Set<Int>
  ) -> ImportError {
    var message = "the database server ran out of lock slots (\(error.message))"
    if let first = days.min(), let last = days.max() {
      message +=
        " after this file's rows reached \(days.count) UTC days from "
        + "\(ImpressionWriter.isoDate(utcDay: first)) to \(ImpressionWriter.isoDate(utcDay: last)), "
        + "each a partition of adpilot.impressions that the import locks"
    }
    message += ", so data set '\(dataset)' was left unchanged"
    return ImportError(
      file: file.path, message: message,
      fix: "check the file's times for values outside the days it logs; to load that many "
        + "days at once, raise max_locks_per_transaction in the server's postgresql.conf "
        + "(`adpilot db status` names the embedded cluster's folder) and restart the server")
  }

  /// Returns the error for a file without a usable row, with the counts of what it did hold.
  static func nothingLoaded(_ report: ImportReport) -> ImportError {
    var found: [String] = []
    for (reason, count) in report.rejected.sorted(by: { $0.key < $1.key }) {
      found.append("\(count) rejected (\(reason))")
    }
    for (reason, count) in report.skipped.sorted(by: { $0.key < $1.key }) {
      found.append("\(count) skipped (\(reason))")
    }
    let detail = found.isEmpty ? "it has no data rows" : found.joined(separator: ", ")
    return ImportError(
      file: report.file,
      message:
        "no row of the file is usable (\(detail)), so data set '\(report.dataset)' was left "
        + "unchanged",
      fix: "check that the file is the right format for this importer and has data rows")
  }
}

/// Reasons for setting a row aside, as stored in `adpilot.rejected_rows.reason` and used as keys
/// of `ImportReport.rejected`.
public enum RejectReason {
  /// A line with no characters once a trailing CR is removed.
  public static let emptyLine = "empty line"
  public static let wrongColumnCount = "wrong column count"
  public static let missingLabel = "missing label"
  public static let invalidLabel = "invalid label"
  public static let nonNumericNumber = "non-numeric number"
  /// A decimal number too large for a Double.
  public static let numberOutOfRange = "number out of range"

  /// ``nonNumericNumber`` in the named column, as "non-numeric number in I5".
  public static func nonNumericNumber(in column: String) -> String {
    "\(nonNumericNumber) in \(column)"
  }

  /// ``numberOutOfRange`` in the named column, as "number out of range in I5".
  public static func numberOutOfRange(in column: String) -> String {
    "\(numberOutOfRange) in \(column)"
  }
  public static let nonNumericCost = "non-numeric cost"
  public static let negativeCost = "negative cost"
  /// A cost above 10^15 micros, the largest amount of money AdPilot accepts anywhere.
  public static let costOutOfRange = "cost out of range"
  /// A logged pCTR outside 0...1.
  public static let invalidPCTR = "pCTR outside 0 to 1"
  public static let invalidTime = "invalid time"
  public static let missingId = "missing id"
  /// An id that is not of the form the log's format uses.
  public static let invalidId = "invalid id"
  /// An id that an earlier line of the same file already loaded.
  public static let duplicateId = "duplicate id"
  public static let invalidMask = "invalid mask"
  public static let invalidSplit = "invalid split"
  /// A request, user, ad or campaign id longer than ``ImpressionRecord/maxIdBytes``.
  public static let idTooLong = "id too long"
  /// A NUL byte, which a PostgreSQL text value cannot contain.
  public static let nulByte = "NUL byte"
  /// Bytes that are not UTF-8, which the stored raw line shows as U+FFFD.
  public static let invalidUTF8 = "invalid UTF-8"
  /// A comma-separated line whose double quotes do not pair up (see ``splitCSVLine(_:)``).
  public static let invalidQuoting = "invalid quoting"
  /// A comma-separated line that ends inside a quoted field, as each line of a quoted value
  /// with a line break does, because the reader does not join lines.
  public static let unclosedQuote = "unclosed quote at end of line"
  /// A line longer than ``LineReader/maxLineLength`` bytes, whose stored raw line is cut there.
  public static let lineTooLong = "line too long"
}

/// Reads an iPinYou price (CNY fen per 1000 impressions) as the cost of one impression in
/// micros, `price * 10`. Returns the micros, or nil and the reject reason.
func iPinYouCostMicros(_ field: Substring) -> (micros: Int64?, reason: String) {
  let price: Double
  switch NumberField(field) {
  case .value(let value): price = value
  case .outOfRange: return (nil, RejectReason.costOutOfRange)
  case .missing, .invalid: return (nil, RejectReason.nonNumericCost)
  }
  guard price >= 0 else { return (nil, RejectReason.negativeCost) }
  let micros = (price * 10).rounded()
  guard micros <= 1e15 else { return (nil, RejectReason.costOutOfRange) }
  return (Int64(micros), "")
}

/// Parses a click label: "0" or "1". Returns nil for anything else.
func parseClick(_ field: Substring) -> Int16? {
  switch field {
  case "0": 0
  case "1": 1
  default: nil
  }
}

/// A parsed numeric field: missing (empty), a finite value, a decimal number too large for a
/// Double, or text that is not a number.
enum NumberField: Equatable {
  case missing
  case value(Double)
  case outOfRange
  case invalid

  /// The bytes of a decimal number. Double's parser also reads hexadecimal ("0x10" as 16),
  /// which no log writes for a count or a price.
  static let decimalBytes = Set("0123456789+-.eE".utf8)

  init(_ field: Substring) {
    if field.isEmpty {
      self = .missing
    } else if field.utf8.allSatisfy({ Self.decimalBytes.contains($0) }), let value = Double(field),
      !value.isNaN
    {
      self = value.isFinite ? .value(value) : .outOfRange
    } else {
      self = .invalid
    }
  }
}
