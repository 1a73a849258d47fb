// One served impression as stored in adpilot.impressions, and the summary an importer returns.
// Pure values: nothing here touches the database.

import Foundation

/// An impression row of `adpilot.impressions`, with feature values in the data set's spec order.
public struct ImpressionRecord: Sendable, Equatable {
  public var dataset: String
  public var time: Date
  public var requestId: String
  public var userId: String?
  public var adId: String?
  public var campaignId: String?
  /// `train` or `test`.
  public var split: String
  /// Categorical values in the order of `FeatureSpec.categorical`; nil is missing.
  public var cat: [String?]
  /// Numeric values in the order of `FeatureSpec.numeric`; nil is missing.
  public var num: [Double?]
  /// Behaviour items flattened item-major, most recent item first, real items only.
  public var seq: [String?]
  public var click: Int16
  /// Cost of this impression in micro units of the data set's currency.
  public var costMicros: Int64
  /// Click probability estimated by an outside model that came with the log.
  public var loggedPCTR: Double?
  /// Click probability a synthetic generator drew the click from.
  public var truePCTR: Double?

  /// The maximum UTF-8 bytes of a request, user, ad or campaign id that importers load.
  /// `adpilot.ad_requests` and `adpilot.ad_scores` key rows by data set (at most 63 bytes),
  /// request id and ad id. PostgreSQL 15's B-tree index rejects an entry of more than 2,704
  /// bytes, so without the limit `requests from-impressions` failed on the first longer pair.
  /// An iPinYou bid id takes 32 bytes.
  public static let maxIdBytes = 1024

  /// Returns whether every id of the record fits ``maxIdBytes``.
  var idsFit: Bool {
    [requestId, userId, adId, campaignId].allSatisfy { ($0?.utf8.count ?? 0) <= Self.maxIdBytes }
  }

  public init(
    dataset: String, time: Date, requestId: String, userId: String? = nil, adId: String? = nil,
    campaignId: String? = nil, split: String = "train", cat: [String?] = [], num: [Double?] = [],
    seq: [String?] = [], click: Int16, costMicros: Int64 = 0, loggedPCTR: Double? = nil,
    truePCTR: Double? = nil
  ) {
    self.dataset = dataset
    self.time = time
    self.requestId = requestId
    self.userId = userId
    self.adId = adId
    self.campaignId = campaignId
    self.split = split
    self.cat = cat
    self.num = num
    self.seq = seq
    self.click = click
    self.costMicros = costMicros
    self.loggedPCTR = loggedPCTR
    self.truePCTR = truePCTR
  }
}

/// A summary of one file's import: rows loaded, and rows set aside by reason.
public struct ImportReport: Sendable, Equatable, CustomStringConvertible {
  public var file: String
  public var dataset: String
  /// The split the import loaded and replaced, or nil when it loaded both.
  public var split: String?
  /// Rows written to `adpilot.impressions`.
  public var loaded: Int
  /// Clicks among the loaded rows.
  public var clicks: Int
  /// Rows written to `adpilot.rejected_rows`, by reason.
  public var rejected: [String: Int]
  /// Valid rows the importer leaves out on purpose (not rejected), by reason.
  public var skipped: [String: Int]
  /// Rows of the data set (of the splits the file loads) that an earlier import had loaded and
  /// this one deleted first.
  public var replaced = 0
  /// The longest run of days without a loaded row between the first and last loaded day, or
  /// nil when no run has more than ``DayGap/noticeableDays`` days.
  public var dayGap: DayGap?
  /// Loaded rows whose request id the data set's other split contains too. Only the iPinYou
  /// log importer counts them, because its bid ids name one impression each.
  public var idsInOtherSplit = 0
  /// Loaded rows equal in time, click and features to a row of the data set's other split.
  /// Only the iPinYou CTR importer counts them, because its rows carry no ids.
  public var rowsInOtherSplit = 0

  public init(
    file: String, dataset: String, loaded: Int = 0, clicks: Int = 0,
    rejected: [String: Int] = [:], skipped: [String: Int] = [:]
  ) {
    self.file = file
    self.dataset = dataset
    self.loaded = loaded
    self.clicks = clicks
    self.rejected = rejected
    self.skipped = skipped
  }

  /// Rows rejected for any reason.
  public var rejectedTotal: Int { rejected.values.reduce(0, +) }

  /// The split this import did not load, or nil when it loaded both.
  var otherSplit: String? {
    split.map { $0 == "train" ? "test" : "train" }
  }

  /// A note for the import's output when loaded rows share their ids with the other split, or
  /// nil when none does.
  public var overlapNote: String? {
    guard idsInOtherSplit > 0, let other = otherSplit else { return nil }
    let rows =
      idsInOtherSplit == 1
      ? "1 row of this file has" : "\(idsInOtherSplit) rows of this file have"
    return "note: \(rows) a bid id that split '\(other)' of data set '\(dataset)' contains too, "
      + "so the data set logs those impressions twice and training, allocation and backtests "
      + "count them twice. Check that the \(other) file logs other days than this one, or "
      + "import one of them with another --dataset"
  }

  /// A note for the import's output when loaded rows equal rows of the other split, or nil
  /// when none does.
  public var sameRowsNote: String? {
    guard rowsInOtherSplit > 0, let other = otherSplit else { return nil }
    let rows =
      rowsInOtherSplit == 1
      ? "1 row of this file equals a row" : "\(rowsInOtherSplit) rows of this file equal rows"
    return "note: \(rows) of split '\(other)' of data set '\(dataset)' in time, click and "
      + "features, so both splits may come from the same file, and validation would then score "
      + "rows the models trained on. Check that the \(other) file is another file than this one"
  }

  /// A note for the import's output when lines end inside a quoted field, or nil when none
  /// does. A quoted value with a line break splits its row into two such lines.
  public var unclosedQuoteNote: String? {
    guard let count = rejected[RejectReason.unclosedQuote] else { return nil }
    let lines = count == 1 ? "1 line ends" : "\(count) lines end"
    return "note: \(lines) inside a quoted field. Each line is read as one row, so a quoted "
      + "value that contains a line break splits its row; replace the line breaks inside "
      + "values (for example with spaces) and import the file again"
  }

  public var description: String {
    var text = "\(file): dataset \(dataset), "
    if let split {
      text += "split \(split), "
    }
    text += "loaded \(loaded) rows (\(clicks) clicks)"
    for (reason, count) in rejected.sorted(by: { $0.key < $1.key }) {
      text += ", rejected \(count) (\(reason))"
    }
    for (reason, count) in skipped.sorted(by: { $0.key < $1.key }) {
      text += ", skipped \(count) (\(reason))"
    }
    if replaced > 0 {
      text += "; replaced the \(replaced) rows loaded before"
    }
    return text
  }
}

/// A run of UTC days without loaded rows between two days with rows.
public struct DayGap: Sendable, Equatable {
  /// Gaps of more days than this are reported: a week covers weekends and short outages.
  public static let noticeableDays = 7

  /// The last day with rows before the gap, YYYY-MM-DD.
  public var before: String
  /// The first day with rows after the gap, YYYY-MM-DD.
  public var after: String
  /// The days in between, none of which has a row.
  public var emptyDays: Int

  /// Returns the longest gap between the days of `days` (days since 1970-01-01), or nil when
  /// no gap is longer than ``noticeableDays``.
  static func longest(in days: Set<Int>) -> DayGap? {
    let sorted = days.sorted()
    var best: (before: Int, after: Int, empty: Int)?
    for (before, after) in zip(sorted, sorted.dropFirst()) {
      let empty = after - before - 1
      if empty > noticeableDays && empty > (best?.empty ?? 0) {
        best = (before, after, empty)
      }
    }
    guard let best else { return nil }
    return DayGap(
      before: ImpressionWriter.isoDate(utcDay: best.before),
      after: ImpressionWriter.isoDate(utcDay: best.after), emptyDays: best.empty)
  }

  /// A note for the import's output.
  public var note: String {
    "note: no row falls on the \(emptyDays) days between \(before) and \(after). Training "
      + "validates on the last logged days, so if the rows from \(after) on are not expected, "
      + "check their timestamps"
  }
}
