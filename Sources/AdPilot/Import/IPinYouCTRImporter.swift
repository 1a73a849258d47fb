// Imports the decoded iPinYou CTR files of advertiser 2997 (one column per field) into data set
// `ipinyou_2997`. These files carry no prices, user ids or dates, so cost is 0 and time is rebuilt.

import CTR
import Foundation
import Postgres

/// An importer of the decoded iPinYou CTR CSV layout: a header line, then `click, weekday, hour,
/// useragent, IP, region, city, adexchange, domain, slotid, slotwidth, slotheight,
/// slotvisibility, slotformat, slotprice, creative, advertiser`.
///
/// Time: the files keep only the weekday (0 = Sunday, as iPinYou numbers them) and the hour, so
/// an impression is placed in the reference week starting Sunday 2013-10-20 00:00 Beijing time
/// (UTC+8), a week of iPinYou's third season, when advertiser 2997 ran: time = 2013-10-19T16:00Z
/// + weekday days + hour hours. The value `null` is iPinYou's missing value and is stored as nil.
public enum IPinYouCTRImporter {
  public static let defaultDataset = "ipinyou_2997"

  /// The feature spec. User fields: useragent, IP, region, city (who and where the viewer is).
  /// Ad fields: creative and advertiser, plus slotwidth, slotheight and slotformat because an
  /// iPinYou creative is made for one size and format, so these describe the ad shown. Context:
  /// weekday, hour, adexchange, domain, slotid, slotvisibility and the slotprice band.
  /// Bucket counts are about twice the distinct values seen in the two files (IP: 14k), rounded
  /// up to a power of two, at least 8.
  public static let spec = FeatureSpec(
    categorical: [
      CategoricalField(name: "weekday", role: .context, buckets: 8),
      CategoricalField(name: "hour", role: .context, buckets: 32),
      CategoricalField(name: "useragent", role: .user, buckets: 32),
      CategoricalField(name: "IP", role: .user, buckets: 1 << 15),
      CategoricalField(name: "region", role: .user, buckets: 128),
      CategoricalField(name: "city", role: .user, buckets: 1024),
      CategoricalField(name: "adexchange", role: .context, buckets: 8),
      CategoricalField(name: "domain", role: .context, buckets: 512),
      CategoricalField(name: "slotid", role: .context, buckets: 512),
      CategoricalField(name: "slotvisibility", role: .context, buckets: 8),
      CategoricalField(name: "slotprice", role: .context, buckets: 8),
      CategoricalField(name: "slotwidth", role: .ad, buckets: 16),
      CategoricalField(name: "slotheight", role: .ad, buckets: 16),
      CategoricalField(name: "slotformat", role: .ad, buckets: 8),
      CategoricalField(name: "creative", role: .ad, buckets: 64),
      CategoricalField(name: "advertiser", role: .ad, buckets: 16),
    ],
    numeric: [],
    sequence: [],
    maxSequenceLength: 0,
    embeddingDimension: 16)

  /// 2013-10-20T00:00:00+08:00, a Sunday.
  static let referenceWeekStart = Date(timeIntervalSince1970: 1_382_198_400)

  /// Imports `file` in one transaction into `split`, replacing the data set's earlier rows of
  /// that split. Without `split`, the split comes from the file name (``splitFromName(_:)``).
  public static func importFile(
    _ connection: Connection, file: URL, split: String? = nil, dataset: String = defaultDataset
  ) throws -> ImportReport {
    let split = try split ?? splitFromName(file)
    let reader = try LineReader(url: file)
    guard let headerLine = try reader.next() else {
      throw ImportError(file: file.path, message: "empty file", fix: "expected a header line")
    }
    let header = DelimitedHeader(line: headerLine, separator: ",")
    let columns = try header.positions(
      of: ["click", "weekday", "hour"]
        + spec.categorical
        .dropFirst(2).map(\.name), file: file.path)

    var report = try ImportSession.run(
      connection: connection, dataset: dataset, file: file, splits: [split]
    ) { session in
      try registerDataset(
        connection, name: dataset, spec: spec, validation: "split",
        source: "iPinYou RTB 2013 advertiser 2997, decoded CTR file \(file.lastPathComponent)",
        file: file)
      while let line = try reader.next() {
        let outcome =
          reader.lastLineRejectReason.map { ParsedRow.rejected($0) }
          ?? parse(
            line, lineNumber: reader.lineNumber, columns: columns,
            columnCount: header.names.count, split: split, dataset: dataset)
        switch outcome {
        case .record(let record): try session.load(record)
        case .rejected(let reason):
          try session.reject(line: reader.lineNumber, reason: reason, rawLine: line)
        case .skipped(let reason): session.skip(reason: reason)
        }
      }
    }
    report.rowsInOtherSplit = try countRowsInOtherSplit(
      connection, dataset: dataset, split: split)
    return report
  }

  /// Returns how many rows of `split` equal a row of the data set's other split in time, click
  /// and features. The rows carry no ids, and the train and test files log different days, so
  /// such rows come from one file imported as both splits.
  static func countRowsInOtherSplit(_ connection: Connection, dataset: String, split: String)
    throws -> Int
  {
    // One pass that groups equal rows. The rows just written have no statistics yet, so a join
    // on these columns ran as a nested loop over each hour's rows. It took 79 s for two copies
    // of the 26,773-row file, and the grouping takes 0.3 s.
    let rows = try connection.query(
      """
      SELECT coalesce(sum(rows) FILTER (WHERE in_other), 0)::bigint
      FROM (
          SELECT count(*) FILTER (WHERE split = $2) AS rows, bool_or(split <> $2) AS in_other
          FROM adpilot.impressions
          WHERE dataset = $1
          GROUP BY time, click, cat_values, num_values
      ) equal_rows
      """, [.text(dataset), .text(split)])
    return Int(try rows[0].int64(0))
  }

  /// Returns "train" or "test" when exactly one of them is a whole part of the file name, split
  /// at every character that is not a letter or digit and compared case-insensitively. So
  /// `campaign2997_ctr_train.csv` and `x-test.csv` match, and `latest.csv` or `restraint.csv`
  /// do not.
  static func splitFromName(_ file: URL) throws -> String {
    let parts = Set(
      file.lastPathComponent.lowercased()
        .split(whereSeparator: { !($0.isLetter || $0.isNumber) }))
    switch (parts.contains("train"), parts.contains("test")) {
    case (true, false): return "train"
    case (false, true): return "test"
    case (true, true):
      throw ImportError(
        file: file.path, message: "the file name contains both train and test",
        fix: "pass --split train or --split test")
    case (false, false):
      throw ImportError(
        file: file.path, message: "no split (train or test) in the file name",
        fix: "pass --split train or --split test")
    }
  }

  /// Parses one data line. `columns` contains the positions of click, weekday, hour and then the
  /// spec's categorical fields after weekday and hour.
  static func parse(
    _ line: String, lineNumber: Int, columns: [Int], columnCount: Int, split: String,
    dataset: String
  ) -> ParsedRow {
    guard !line.isEmpty else { return .rejected(RejectReason.emptyLine) }
    guard !line.utf8.contains(0) else { return .rejected(RejectReason.nulByte) }
    guard let fields = splitCSVLine(line) else { return .rejected(csvQuotingReason(line)) }
    guard fields.count == columnCount else { return .rejected(RejectReason.wrongColumnCount) }
    let label = fields[columns[0]]
    guard !label.isEmpty else { return .rejected(RejectReason.missingLabel) }
    guard let click = parseClick(label) else { return .rejected(RejectReason.invalidLabel) }
    guard let weekday = Int(fields[columns[1]]), (0...6).contains(weekday),
      let hour = Int(fields[columns[2]]), (0...23).contains(hour)
    else { return .rejected(RejectReason.invalidTime) }

    let categories = columns[1...].map { iPinYouValue(fields[$0]) }
    let time = referenceWeekStart.addingTimeInterval(Double(weekday * 86_400 + hour * 3_600))
    let creative = categories[spec.categorical.count - 2]
    let advertiser = categories[spec.categorical.count - 1]
    return .checkingIds(
      ImpressionRecord(
        dataset: dataset, time: time, requestId: "\(split)-\(lineNumber)", adId: creative,
        campaignId: advertiser, split: split, cat: categories, click: click))
  }
}

/// Returns nil for iPinYou's missing markers (empty or `null`), else the value.
func iPinYouValue(_ field: Substring) -> String? {
  field.isEmpty || field == "null" ? nil : String(field)
}
