// Builds each campaign's forecast supply for a plan day from recent impressions: traffic per
// local hour and response-curve segments in bands of pCTR per unit cost. It streams the history
// into fixed-size histograms, so memory does not grow with the number of impressions read.

import Allocation
import CTR
import Foundation
import Postgres

/// Accumulates one campaign's history into value-per-cost bands and local-hour counts.
struct SupplyHistogram {
  /// Bands of log2(pCTR / cost per impression in micros), an eighth of an octave wide, so
  /// marginal values at the campaigns' cuts differ by at most about 9%.
  static let bandsPerOctave = 8.0
  static let lowestLog2 = -48.0
  static let bandCount = 400

  var impressions = [Double](repeating: 0, count: bandCount)
  var cost = [Double](repeating: 0, count: bandCount)
  var clicks = [Double](repeating: 0, count: bandCount)
  var hourly = [Double](repeating: 0, count: 24)

  /// Returns the band of an impression; free impressions fall in the best band.
  static func band(pctr: Double, costMicros: Int64) -> Int {
    guard costMicros > 0 else { return bandCount - 1 }
    let ratio = max(pctr, 1e-12) / Double(costMicros)
    let position = (log2(ratio) - lowestLog2) * bandsPerOctave
    return min(bandCount - 1, max(0, Int(position.rounded(.down))))
  }

  mutating func add(pctr: Double, costMicros: Int64, localHour: Int) {
    let index = Self.band(pctr: pctr, costMicros: costMicros)
    impressions[index] += 1
    cost[index] += Double(costMicros)
    clicks[index] += pctr
    hourly[localHour] += 1
  }

  /// Returns the supply for one day: the history divided by the number of days it spans.
  func supply(campaignId: String, days: Double) -> CampaignSupply {
    var segments: [SupplySegment] = []
    for index in stride(from: Self.bandCount - 1, through: 0, by: -1) where impressions[index] > 0 {
      segments.append(
        SupplySegment(
          impressions: impressions[index] / days, costMicros: cost[index] / days,
          clicks: clicks[index] / days))
    }
    return CampaignSupply(
      campaignId: campaignId, segments: segments, hourlyTraffic: hourly.map { $0 / days })
  }
}

/// The forecast of every campaign of a data set for one plan day.
struct SupplyForecast {
  var supply: [String: CampaignSupply]
  /// The days of log the history spans, in fractions of a day where it covers part of a slot.
  var historyDays: Double
  /// The impressions of the history window with a campaign id.
  var historyRows: Int
  /// Those of `historyRows` that belong to a planned campaign and pass its targeting.
  var campaignRows: Int
  /// The source of the pCTR: a model id or "logged pctr".
  var pctrSource: String
}

/// Reads `historyDays` days before `planDay` and forecasts each campaign's supply.
///
/// A campaign's eligible traffic is the impressions logged with its campaign id whose
/// categorical fields take one of the values its `targeting` allows for each field it names.
///
/// pCTR comes from `model` when given, else from the impressions' logged_pctr column.
func forecastSupply(
  _ connection: Connection, dataset: DatasetInfo, campaigns: [Campaign], planDay: Date,
  historyDays: Int, model: (any ClickModel)?, modelId: String?
) throws -> SupplyForecast {
  let from = planDay.addingTimeInterval(-Double(historyDays) * 86_400)
  let index = Dictionary(
    campaigns.enumerated().map { ($1.id, $0) }, uniquingKeysWith: { first, _ in first })
  var histograms = [SupplyHistogram](repeating: SupplyHistogram(), count: campaigns.count)
  let calendars = campaigns.map { campaign -> Calendar in
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = campaign.timeZone
    return calendar
  }
  var daysSeen = Set<Int>()
  var campaignRows = 0
  let filters = try campaigns.map { try targetingFilter($0, spec: dataset.spec) }

  try setCopyParameters(
    connection,
    ["dataset": dataset.name, "from": isoInstant(from), "to": isoInstant(planDay)])
  let sql = """
    COPY (
        SELECT campaign_id, extract(epoch FROM time)::float8, cost_micros, logged_pctr,
               cat_values, num_values, seq_values
        FROM adpilot.impressions
        WHERE dataset = current_setting('adpilot.copy_dataset')
          AND time >= current_setting('adpilot.copy_from')::timestamptz
          AND time < current_setting('adpilot.copy_to')::timestamptz
          AND campaign_id IS NOT NULL
        ORDER BY time, request_id
    ) TO STDOUT (FORMAT binary)
    """

  // Rows wait here until a full batch is scored by the model.
  struct Pending {
    var campaign: Int
    var hour: Int
    var cost: Int64
  }
  let batchSize = 4096
  let encoder = model.map { FeatureEncoder(spec: $0.spec) }
  var batch = EncodedBatch(spec: model?.spec ?? dataset.spec, capacity: batchSize)
  var pending: [Pending] = []
  pending.reserveCapacity(batchSize)
  var missingPCTR = 0

  func scorePending() {
    guard let model, !pending.isEmpty else { return }
    let predictions = model.predict(batch, threads: ProcessInfo.processInfo.activeProcessorCount)
    for (item, pctr) in zip(pending, predictions) {
      histograms[item.campaign].add(
        pctr: Double(pctr), costMicros: item.cost, localHour: item.hour)
    }
    pending.removeAll(keepingCapacity: true)
    batch.removeAll()
  }

  let rows = try connection.copyOut(sql) { row in
    let time = Date(timeIntervalSince1970: try row.float8(1))
    // Days are counted as 24-hour slots of the window, so a campaign whose local days straddle
    // UTC midnight is not counted twice. Every row counts, so that a day on which targeting
    // matched nothing is a day of no traffic rather than no day at all.
    daysSeen.insert(Int((time.timeIntervalSince(from) / 86_400).rounded(.down)))
    guard let campaign = index[try row.text(0)] else { return }
    if !filters[campaign].isEmpty {
      let values = try row.textArray(4)
      for (field, allowed) in filters[campaign] {
        guard field < values.count, let value = values[field], allowed.contains(value) else {
          return
        }
      }
    }
    campaignRows += 1
    let hour = calendars[campaign].component(.hour, from: time)
    let cost = try row.int64(2)
    if let encoder {
      encoder.append(
        cat: try row.textArray(4), num: try row.float8Array(5), seq: try row.textArray(6),
        label: 0, to: &batch)
      pending.append(Pending(campaign: campaign, hour: hour, cost: cost))
      if pending.count == batchSize { scorePending() }
    } else if let pctr = try row.optionalFloat8(3) {
      histograms[campaign].add(pctr: pctr, costMicros: cost, localHour: hour)
    } else {
      missingPCTR += 1
    }
  }
  scorePending()
  if model == nil, missingPCTR > 0 {
    throw PipelineError(
      "data set '\(dataset.name)': \(missingPCTR) history impressions have no logged_pctr and "
        + "no champion model scores them; train a model with `adpilot train --dataset "
        + "\(dataset.name)`")
  }

  let days = try loggedDays(
    connection, dataset: dataset.name, slots: daysSeen, from: from, to: planDay)
  var supply: [String: CampaignSupply] = [:]
  for (position, campaign) in campaigns.enumerated() {
    supply[campaign.id] = histograms[position].supply(
      campaignId: campaign.id, days: max(days, 1.0 / 24))
  }
  return SupplyForecast(
    supply: supply, historyDays: days, historyRows: rows, campaignRows: campaignRows,
    pctrSource: modelId ?? "logged pctr")
}

/// Returns the days of log in the 24-hour `slots` (counted from `from`) that hold impressions.
///
/// A slot counts in full where the log covers it, and in part where it starts before the
/// data set's first logged UTC day or ends after its last one. Slots follow the campaigns' local
/// days, and logs are kept by UTC day, so without this the first or last slot of a window
/// that reaches past the log counts a few hours of traffic as a whole day.
///
/// NOTE: a log whose days start elsewhere (iPinYou's at Beijing midnight, 16:00 UTC) is still
/// taken to cover its first and last UTC days whole, so up to 16 empty hours can count.
func loggedDays(
  _ connection: Connection, dataset: String, slots: Set<Int>, from: Date, to: Date
) throws -> Double {
  guard !slots.isEmpty, let range = try impressionTimeRange(connection, dataset: dataset) else {
    return 0
  }
  let day = 86_400.0
  let firstDay = (range.first.timeIntervalSince1970 / day).rounded(.down) * day
  let lastDay = (range.last.timeIntervalSince1970 / day).rounded(.down) * day + day
  let start = max(from.timeIntervalSince1970, firstDay)
  let end = min(to.timeIntervalSince1970, lastDay)
  return slots.reduce(0.0) { total, slot in
    let slotStart = from.timeIntervalSince1970 + Double(slot) * day
    return total + max(0, min(slotStart + day, end) - max(slotStart, start)) / day
  }
}

/// Returns a campaign's targeting as (categorical field position, allowed values) pairs.
/// - Throws: `PipelineError` naming the campaign and the field when the data set does not log a
///   field the campaign targets.
func targetingFilter(_ campaign: Campaign, spec: FeatureSpec) throws -> [(Int, Set<String>)] {
  let names = spec.categorical.map(\.name)
  return try campaign.targeting.keys.sorted().map { field in
    guard let position = names.firstIndex(of: field) else {
      let known = names.isEmpty ? "none" : names.joined(separator: ", ")
      throw PipelineError(
        "campaign '\(campaign.id)': targeting names field '\(field)', which data set "
          + "'\(campaign.dataset)' does not log; use one of its categorical fields (\(known)) "
          + "or remove the filter")
    }
    return (position, Set(campaign.targeting[field] ?? []))
  }
}
