// Imports iPinYou RTB logs in the layout written by the make-ipinyou-data preprocessing
// (tab-separated, header line) into a time-validated data set. It keeps the impression's cost.

import CTR
import Foundation
import Postgres

/// An importer of iPinYou impression logs as `train.log.txt` / `test.log.txt` of the
/// make-ipinyou-data preprocessing: a header line naming the columns click, weekday, hour, bidid,
/// timestamp, logtype, ipinyouid, useragent, IP, region, city, adexchange, domain, url, urlid,
/// slotid, slotwidth, slotheight, slotvisibility, slotformat, slotprice, creative, bidprice,
/// payprice, keypage, advertiser, usertag; test files add nclick and nconversation.
///
/// A file with an `nclick` column loads as split "test", any other as "train". The time is the
/// `timestamp` column (yyyyMMddHHmmssSSS, Beijing time, UTC+8). `payprice` is the second price
/// paid, in CNY fen per 1000 impressions, so cost_micros = payprice * 10. user_id = ipinyouid,
/// ad_id = creative, campaign_id = advertiser, request_id = bidid. `null` is stored as nil.
public enum IPinYouLogImporter {
  public static let defaultDataset = "ipinyou_raw"

  /// The feature spec. User fields: useragent, IP, region, city. Ad fields: creative,
  /// advertiser, and slotwidth, slotheight, slotformat because a creative is made for one slot
  /// size and format. Context: weekday, hour, adexchange, domain, url, urlid, slotid,
  /// slotvisibility, keypage, and slotprice (the floor price in fen CPM, numeric, 24 log buckets
  /// that separate values up to about 1400). `usertag` is left out
  /// because it is a list of segment ids and the spec has no list field kind. bidprice (the
  /// logged bidder's own bid) and the labels are not features either.
  /// NOTE: bucket counts are estimates for a full season's log, not measured on one: 2^15 to
  /// 2^17 for IP, domain, url and slotid, 1024 for city and creative, tens for the rest.
  public static let spec = FeatureSpec(
    categorical: [
      CategoricalField(name: "weekday", role: .context, buckets: 8),
      CategoricalField(name: "hour", role: .context, buckets: 32),
      CategoricalField(name: "useragent", role: .user, buckets: 64),
      CategoricalField(name: "IP", role: .user, buckets: 1 << 17),
      CategoricalField(name: "region", role: .user, buckets: 128),
      CategoricalField(name: "city", role: .user, buckets: 1024),
      CategoricalField(name: "adexchange", role: .context, buckets: 8),
      CategoricalField(name: "domain", role: .context, buckets: 1 << 15),
      CategoricalField(name: "url", role: .context, buckets: 1 << 16),
      CategoricalField(name: "urlid", role: .context, buckets: 1 << 10),
      CategoricalField(name: "slotid", role: .context, buckets: 1 << 15),
      CategoricalField(name: "slotvisibility", role: .context, buckets: 16),
      CategoricalField(name: "keypage", role: .context, buckets: 64),
      CategoricalField(name: "slotwidth", role: .ad, buckets: 32),
      CategoricalField(name: "slotheight", role: .ad, buckets: 32),
      CategoricalField(name: "slotformat", role: .ad, buckets: 8),
      CategoricalField(name: "creative", role: .ad, buckets: 1024),
      CategoricalField(name: "advertiser", role: .ad, buckets: 32),
    ],
    numeric: [NumericField(name: "slotprice", role: .context, buckets: 24)],
    sequence: [],
    maxSequenceLength: 0,
    embeddingDimension: 16)

  /// Columns read besides the spec's categorical fields, in the order `Columns` expects them.
  static let otherColumns = ["click", "bidid", "timestamp", "ipinyouid", "payprice", "slotprice"]

  /// Positions of the columns a row is read from.
  struct Columns {
    var click: Int
    var bidid: Int
    var timestamp: Int
    var ipinyouid: Int
    var payprice: Int
    var slotprice: Int
    var categorical: [Int]
    var count: Int

    init(header: DelimitedHeader, file: String) throws {
      let positions = try header.positions(
        of: IPinYouLogImporter.otherColumns + IPinYouLogImporter.spec.categorical.map(\.name),
        file: file)
      click = positions[0]
      bidid = positions[1]
      timestamp = positions[2]
      ipinyouid = positions[3]
      payprice = positions[4]
      slotprice = positions[5]
      categorical = Array(positions[6...])
      count = header.names.count
    }
  }

  /// Imports `file` in one transaction, replacing the data set's earlier rows of the file's split.
  public static func importFile(
    _ connection: Connection, file: URL, dataset: String = defaultDataset
  ) throws -> ImportReport {
    let reader = try LineReader(url: file)
    guard let headerLine = try reader.next() else {
      throw ImportError(file: file.path, message: "empty file", fix: "expected a header line")
    }
    let header = DelimitedHeader(line: headerLine, separator: "\t")
    let columns = try Columns(header: header, file: file.path)
    let split = header.contains("nclick") ? "test" : "train"

    var report = try ImportSession.run(
      connection: connection, dataset: dataset, file: file, splits: [split]
    ) { session in
      try registerDataset(
        connection, name: dataset, spec: spec, validation: "time",
        source: "iPinYou RTB log \(file.lastPathComponent) (make-ipinyou-data layout)", file: file)
      var loadedIds = RequestIdSet()
      while let line = try reader.next() {
        var outcome =
          reader.lastLineRejectReason.map { ParsedRow.rejected($0) }
          ?? parse(line, columns: columns, split: split, dataset: dataset)
        if case .record(let record) = outcome, !loadedIds.insert(record.requestId) {
          outcome = .rejected(RejectReason.duplicateId)
        }
        switch outcome {
        case .record(let record): try session.load(record)
        case .rejected(let reason):
          try session.reject(line: reader.lineNumber, reason: reason, rawLine: line)
        case .skipped(let reason): session.skip(reason: reason)
        }
      }
    }
    report.idsInOtherSplit = try countIdsInOtherSplit(connection, dataset: dataset, split: split)
    return report
  }

  /// Returns how many rows of `split` have a bid id that the data set's other split contains.
  /// Bid ids are unique across an iPinYou season, so each such row is one impression loaded
  /// twice, as when a train file and a test file cover the same days.
  static func countIdsInOtherSplit(_ connection: Connection, dataset: String, split: String)
    throws -> Int
  {
    let rows = try connection.query(
      """
      SELECT count(*) FROM adpilot.impressions
      WHERE dataset = $1 AND split = $2
        AND request_id IN (
            SELECT request_id FROM adpilot.impressions WHERE dataset = $1 AND split <> $2)
      """, [.text(dataset), .text(split)])
    return Int(try rows[0].int64(0))
  }

  /// Parses one data line.
  static func parse(_ line: String, columns: Columns, split: String, dataset: String)
    -> ParsedRow
  {
    guard !line.isEmpty else { return .rejected(RejectReason.emptyLine) }
    guard !line.utf8.contains(0) else { return .rejected(RejectReason.nulByte) }
    let fields = splitFields(line, separator: "\t")
    guard fields.count == columns.count else { return .rejected(RejectReason.wrongColumnCount) }
    let label = fields[columns.click]
    guard !label.isEmpty else { return .rejected(RejectReason.missingLabel) }
    guard let click = parseClick(label) else { return .rejected(RejectReason.invalidLabel) }
    guard let time = parseBeijingTimestamp(fields[columns.timestamp]) else {
      return .rejected(RejectReason.invalidTime)
    }
    let cost = iPinYouCostMicros(fields[columns.payprice])
    guard let costMicros = cost.micros else { return .rejected(cost.reason) }
    let slotprice: Double?
    switch NumberField(fields[columns.slotprice]) {
    case .missing: slotprice = nil
    case .value(let value): slotprice = value
    case .outOfRange: return .rejected(RejectReason.numberOutOfRange(in: "slotprice"))
    case .invalid: return .rejected(RejectReason.nonNumericNumber(in: "slotprice"))
    }
    guard let bidid = iPinYouValue(fields[columns.bidid]) else {
      return .rejected(RejectReason.missingId)
    }

    let categories = columns.categorical.map { iPinYouValue(fields[$0]) }
    let count = spec.categorical.count
    return .checkingIds(
      ImpressionRecord(
        dataset: dataset, time: time, requestId: bidid,
        userId: iPinYouValue(fields[columns.ipinyouid]), adId: categories[count - 2],
        campaignId: categories[count - 1], split: split, cat: categories, num: [slotprice],
        click: click, costMicros: costMicros))
  }

  /// Parses yyyyMMddHHmmssSSS in Beijing time (UTC+8 all year; China has had no daylight saving
  /// time since 1991). Returns nil unless the text is 17 digits of a valid date and time from
  /// 1970-01-01 UTC on.
  static func parseBeijingTimestamp(_ text: Substring) -> Date? {
    let digits = text.utf8.map { Int($0) - 48 }
    guard digits.count == 17, digits.allSatisfy({ (0...9).contains($0) }) else { return nil }
    func number(_ range: Range<Int>) -> Int { digits[range].reduce(0) { $0 * 10 + $1 } }
    let year = number(0..<4)
    let month = number(4..<6)
    let day = number(6..<8)
    let hour = number(8..<10)
    let minute = number(10..<12)
    let second = number(12..<14)
    let millisecond = number(14..<17)
    guard (1...12).contains(month), (1...daysInMonth(year: year, month: month)).contains(day),
      hour < 24, minute < 60, second < 60
    else { return nil }
    let days = daysFromCivil(year: year, month: month, day: day)
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second - 8 * 3_600
    // Day partitions start at 1970-01-01 UTC.
    guard seconds >= 0 else { return nil }
    return Date(timeIntervalSince1970: Double(seconds) + Double(millisecond) / 1000)
  }
}

/// Returns the days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant,
/// "chrono-Compatible Low-Level Date Algorithms", days_from_civil).
func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
  let shiftedYear = month <= 2 ? year - 1 : year
  let era = (shiftedYear >= 0 ? shiftedYear : shiftedYear - 399) / 400
  let yearOfEra = shiftedYear - era * 400
  let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
  let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
  return era * 146_097 + dayOfEra - 719_468
}

func daysInMonth(year: Int, month: Int) -> Int {
  switch month {
  case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
  case 4, 6, 9, 11: 30
  default: 31
  }
}

/// The request ids one import has loaded. A bid id of 32 lowercase hexadecimal digits, the form
/// iPinYou logs use, is kept as its 128-bit value, which takes less memory than the string.
/// Any other id is kept as text.
struct RequestIdSet {
  private struct Hex128: Hashable {
    var high: UInt64
    var low: UInt64
  }
  private var hex: Set<Hex128> = []
  private var other: Set<String> = []

  /// Adds `id` and returns false when the set already contained it.
  mutating func insert(_ id: String) -> Bool {
    if let value = Self.hexValue(id) {
      return hex.insert(value).inserted
    }
    return other.insert(id).inserted
  }

  /// Returns the value of 32 lowercase hexadecimal digits, or nil for any other text, so that
  /// two ids share a value only when their texts are equal.
  private static func hexValue(_ id: String) -> Hex128? {
    let bytes = id.utf8
    guard bytes.count == 32 else { return nil }
    var high: UInt64 = 0
    var low: UInt64 = 0
    for (index, byte) in bytes.enumerated() {
      let digit: UInt8
      switch byte {
      case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
      case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
      default: return nil
      }
      if index < 16 {
        high = high << 4 | UInt64(digit)
      } else {
        low = low << 4 | UInt64(digit)
      }
    }
    return Hex128(high: high, low: low)
  }
}
