// Builds the campaign files of the 9 iPinYou RLB advertisers from their cost per click and the
// logged cost of their market-price streams. It returns file contents; writing them is optional.

import Foundation

/// A builder of `campaigns/ipinyou_rlb/`: one campaign per advertiser and the portfolio.
///
/// value_per_click_micros = round(cpc * 10), where cpc (from the training-set statistics file,
/// total cost / clicks in CNY fen per 1000 impressions) is converted to micro-CNY per click.
/// daily_budget_micros = the advertiser's mean daily logged cost in the streams, rounded.
/// The portfolio's daily budget is a quarter of the sum of those means, rounded, so the
/// allocator has to choose: the campaigns together could spend four times as much.
public enum IPinYouCampaigns {
  public static let dataset = IPinYouStreamImporter.defaultDataset

  /// A generated file: its name inside the campaign directory and its JSON text.
  public struct File: Sendable, Equatable {
    public var name: String
    public var json: String
  }

  /// Reads cpc per advertiser from the tab-separated statistics file (header `campaign, cpc, ...`).
  public static func readCostPerClick(trainInfo: URL) throws -> [String: Double] {
    let reader = try LineReader(url: trainInfo)
    guard let headerLine = try reader.next() else {
      throw ImportError(file: trainInfo.path, message: "empty file", fix: "expected a header line")
    }
    let header = DelimitedHeader(line: headerLine, separator: "\t")
    let positions = try header.positions(of: ["campaign", "cpc"], file: trainInfo.path)
    var costPerClick: [String: Double] = [:]
    while let line = try reader.next() {
      if line.isEmpty { continue }
      let fields = splitFields(line, separator: "\t")
      guard fields.count == header.names.count,
        case .value(let cpc) = NumberField(fields[positions[1]]),
        cpc >= 0, !fields[positions[0]].isEmpty
      else {
        throw ImportError(
          file: trainInfo.path, line: reader.lineNumber,
          message: "invalid row: expected \(header.names.count) columns with a cpc >= 0",
          fix: "check the file")
      }
      costPerClick[String(fields[positions[0]])] = cpc
    }
    return costPerClick
  }

  /// Builds the files for every advertiser of `streams`, sorted by name, portfolio last.
  public static func files(costPerClick: [String: Double], streams: IPinYouStreamSummary) throws
    -> [File]
  {
    var files: [File] = []
    var totalDailyCost = 0.0
    for (advertiser, totals) in streams.advertisers.sorted(by: { $0.key < $1.key }) {
      guard !advertiser.isEmpty, advertiser.allSatisfy({ $0.isASCII && $0.isNumber }) else {
        throw ImportError(
          file: "market-price streams", message: "invalid advertiser id '\(advertiser)'",
          fix: "iPinYou advertiser ids are decimal numbers")
      }
      guard let cpc = costPerClick[advertiser] else {
        throw ImportError(
          file: "campaign statistics", message: "no cpc for advertiser \(advertiser)",
          fix: "use the statistics file of the same advertisers as the streams")
      }
      totalDailyCost += totals.meanDailyCostMicros
      files.append(
        File(
          name: "ipinyou-\(advertiser).json",
          json: campaignJSON(
            advertiser: advertiser, valuePerClickMicros: Int64((cpc * 10).rounded()),
            dailyBudgetMicros: Int64(totals.meanDailyCostMicros.rounded()))))
    }
    let portfolio = Int64((totalDailyCost / 4).rounded())
    files.append(
      File(
        name: "portfolio.json",
        json: "{\"dataset\": \"\(dataset)\", \"daily_budget_micros\": \(portfolio)}\n"))
    return files
  }

  /// Reads both inputs and builds the files.
  public static func files(trainInfo: URL, streams: URL) throws -> [File] {
    try files(
      costPerClick: readCostPerClick(trainInfo: trainInfo),
      streams: IPinYouStreamSummary(file: streams))
  }

  /// Writes `files` into `directory`, creating it if needed, and returns the written paths.
  @discardableResult
  public static func write(_ files: [File], to directory: URL) throws -> [URL] {
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    return try files.map { file in
      let url = directory.appendingPathComponent(file.name)
      try Data(file.json.utf8).write(to: url, options: .atomic)
      return url
    }
  }

  /// Returns the campaign id of an advertiser's streams, as in its campaign file and in the
  /// impressions' campaign_id column.
  public static func campaignId(advertiser: String) -> String {
    "ipinyou-\(advertiser)"
  }

  static func campaignJSON(advertiser: String, valuePerClickMicros: Int64, dailyBudgetMicros: Int64)
    -> String
  {
    """
    {
      "id": "\(campaignId(advertiser: advertiser))",
      "name": "iPinYou advertiser \(advertiser)",
      "advertiser": "\(advertiser)",
      "dataset": "\(dataset)",
      "value_per_click_micros": \(valuePerClickMicros),
      "daily_budget_micros": \(dailyBudgetMicros),
      "min_daily_micros": 0,
      "max_daily_micros": null,
      "lifetime_budget_micros": null,
      "priority": 0,
      "pacing": "even",
      "time_zone": "\(IPinYouStreamImporter.timeZone)",
      "day_parting": null,
      "flight_start": null,
      "flight_end": null,
      "targeting": {},
      "status": "active"
    }

    """
  }
}
