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

  public var description: String {
    var text = "\(file): dataset \(dataset), loaded \(loaded) rows (\(clicks) clicks)"
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
