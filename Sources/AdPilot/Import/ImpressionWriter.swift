// Writes impressions into adpilot.impressions with binary COPY, inside the caller's transaction.
// It creates the day partitions a batch needs first. It never opens or commits a transaction.
//
// Neither it nor the importers and generator that use it run ANALYZE on the written partitions;
// autovacuum analyzes them. On a 2-core AMD EPYC with PostgreSQL 15, ANALYZE of one synthetic
// day partition of 22,000 rows took 320 to 380 ms. That is about half the time the generator
// took to write those rows, and most of it went to the statistics of the feature arrays.

import Foundation
import Postgres

/// A writer of `adpilot.impressions` rows for one data set, in batches of bounded size.
///
/// `append` buffers up to `batchSize` records, or fewer whose text takes
/// ``maxPendingTextBytes``, and then copies them, so memory stays flat however many rows a
/// caller streams through. `flush` copies what is left, and `write` copies a batch at once.
/// Call it inside `Connection.transaction` so that a failed load leaves nothing behind. A writer
/// remembers which day partitions it created, so it must not outlive a rolled-back transaction.
public final class ImpressionWriter {
  public let dataset: String
  public let batchSize: Int
  /// Records copied so far.
  public private(set) var written = 0

  /// The UTF-8 bytes of ids and feature values that `append` buffers at most before it copies.
  /// Importers pass lines of up to 1 MiB, and 4,096 of them would otherwise take 4 GiB.
  public static let maxPendingTextBytes = 16 << 20

  private let connection: Connection
  private var pending: [ImpressionRecord] = []
  private var pendingTextBytes = 0
  /// UTC days (days since 1970-01-01) whose partitions exist.
  private var partitionedDays: Set<Int> = []
  /// UTC days (days since 1970-01-01) with at least one copied record.
  public private(set) var writtenDays: Set<Int> = []

  private static let copySQL = """
    COPY adpilot.impressions (dataset, time, request_id, user_id, ad_id, campaign_id, split,
      cat_values, num_values, seq_values, click, cost_micros, logged_pctr, true_pctr)
    FROM STDIN (FORMAT binary)
    """
  private static let columnCount = 14

  public init(connection: Connection, dataset: String, batchSize: Int = 4096) {
    self.connection = connection
    self.dataset = dataset
    self.batchSize = max(1, batchSize)
    pending.reserveCapacity(self.batchSize)
  }

  /// Buffers one record and copies the buffer when it contains `batchSize` records or
  /// ``maxPendingTextBytes`` of text.
  public func append(_ record: ImpressionRecord) throws {
    pending.append(record)
    pendingTextBytes += Self.textBytes(record)
    if pending.count >= batchSize || pendingTextBytes >= Self.maxPendingTextBytes {
      try flush()
    }
  }

  /// Copies the buffered records.
  public func flush() throws {
    guard !pending.isEmpty else { return }
    try write(pending)
    pending.removeAll(keepingCapacity: true)
    pendingTextBytes = 0
  }

  /// Returns the UTF-8 bytes of a record's ids and text feature values.
  static func textBytes(_ record: ImpressionRecord) -> Int {
    var bytes = record.requestId.utf8.count
    for id in [record.userId, record.adId, record.campaignId] {
      bytes += id?.utf8.count ?? 0
    }
    for value in record.cat {
      bytes += value?.utf8.count ?? 0
    }
    for value in record.seq {
      bytes += value?.utf8.count ?? 0
    }
    return bytes
  }

  /// Checks the records, creates the day partitions they fall in, then copies them.
  public func write(_ records: [ImpressionRecord]) throws {
    guard !records.isEmpty else { return }
    for record in records {
      try validate(record)
    }
    try ensurePartitions(for: records)

    _ = try connection.copyIn(Self.copySQL) { copy in
      for record in records {
        copy.beginRow(Self.columnCount)
        copy.writeText(record.dataset)
        copy.writeTimestamptz(record.time)
        copy.writeText(record.requestId)
        copy.writeOptionalText(record.userId)
        copy.writeOptionalText(record.adId)
        copy.writeOptionalText(record.campaignId)
        copy.writeText(record.split)
        copy.writeTextArray(record.cat)
        copy.writeFloat8Array(record.num)
        copy.writeTextArray(record.seq)
        copy.writeInt16(record.click)
        copy.writeInt64(record.costMicros)
        copy.writeOptionalFloat8(record.loggedPCTR)
        copy.writeOptionalFloat8(record.truePCTR)
      }
    }
    written += records.count
  }

  private func validate(_ record: ImpressionRecord) throws {
    func invalid(_ message: String, _ fix: String) -> ImportError {
      ImportError(
        file: "adpilot.impressions", message: "request '\(record.requestId)': " + message, fix: fix)
    }
    if record.dataset != dataset {
      throw invalid(
        "dataset must be '\(dataset)', got '\(record.dataset)'",
        "use one ImpressionWriter per data set")
    }
    if record.split != "train" && record.split != "test" {
      throw invalid("split must be 'train' or 'test', got '\(record.split)'", "fix the split")
    }
    if record.click != 0 && record.click != 1 {
      throw invalid("click must be 0 or 1, got \(record.click)", "fix the click label")
    }
    if record.costMicros < 0 {
      throw invalid("cost_micros must be >= 0, got \(record.costMicros)", "fix the cost")
    }
    // Day partitions are named by a four-digit year from 1970 on.
    let seconds = record.time.timeIntervalSince1970
    if !(seconds >= 0 && seconds < Self.firstSecondOfYear10000) {
      throw invalid(
        "time must be from 1970-01-01 to 9999-12-31 UTC, got \(record.time)", "fix the time")
    }
  }

  /// Creates the partitions of the days the records fall in, one call per run of consecutive
  /// days, so that a stray row far from the others adds one partition, not every day between.
  private func ensurePartitions(for records: [ImpressionRecord]) throws {
    let days = Set(records.map { Self.utcDay($0.time) })
    writtenDays.formUnion(days)
    let missing = days.subtracting(partitionedDays).sorted()
    var start = 0
    while start < missing.count {
      var end = start
      while end + 1 < missing.count && missing[end + 1] == missing[end] + 1 { end += 1 }
      _ = try connection.query(
        "SELECT adpilot.ensure_impression_partitions($1::date, $2::date)",
        [.date(Self.isoDate(utcDay: missing[start])), .date(Self.isoDate(utcDay: missing[end]))])
      partitionedDays.formUnion(missing[start]...missing[end])
      start = end + 1
    }
  }

  /// 10000-01-01T00:00:00Z in seconds since 1970.
  static let firstSecondOfYear10000 = Double(daysFromCivil(year: 10_000, month: 1, day: 1) * 86_400)

  /// Returns the days since 1970-01-01 of the UTC day containing `time`.
  static func utcDay(_ time: Date) -> Int {
    Int((time.timeIntervalSince1970 / 86_400).rounded(.down))
  }

  /// Formats a day count since 1970-01-01 as YYYY-MM-DD (proleptic Gregorian calendar).
  static func isoDate(utcDay: Int) -> String {
    // Civil-from-days conversion (H. Hinnant, "chrono-Compatible Low-Level Date Algorithms").
    let z = utcDay + 719_468
    let era = (z >= 0 ? z : z - 146_096) / 146_097
    let dayOfEra = z - era * 146_097
    let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
    let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
    let monthIndex = (5 * dayOfYear + 2) / 153
    let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
    let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
    let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
    let yearText = String(year)
    let paddedYear = String(repeating: "0", count: max(0, 4 - yearText.count)) + yearText
    return paddedYear + "-" + (month < 10 ? "0" : "") + String(month) + "-"
      + (day < 10 ? "0" : "") + String(day)
  }
}
