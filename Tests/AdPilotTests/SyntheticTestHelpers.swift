// Helpers for the synthetic generator tests: collecting a whole small log, AUC and a per-field
// click-rate baseline. Test code only, for small configurations.

import Foundation

@testable import AdPilot

/// One generated day: its behaviour events and impressions, both in time order.
struct CollectedDay: Equatable {
  var index: Int
  var date: String
  var events: [SyntheticEvent]
  var impressions: [ImpressionRecord]
}

/// A whole generated log held in memory (small configurations only).
struct CollectedLog {
  var history: [SyntheticEvent]
  var days: [CollectedDay]
  var requests: [SyntheticAdRequest]
  /// Sizes of the impression chunks, in the order they arrived.
  var chunkSizes: [Int]

  var impressions: [ImpressionRecord] { days.flatMap(\.impressions) }

  init(_ config: SyntheticConfig, chunkSize: Int = 16_384) throws {
    var history = [SyntheticEvent]()
    var days = [CollectedDay]()
    var requests = [SyntheticAdRequest]()
    var chunkSizes = [Int]()
    try SyntheticGenerator(config).stream(
      chunkSize: chunkSize,
      population: { _ in },
      history: { history = $0 },
      day: { days.append(CollectedDay(index: $0, date: $1, events: $2, impressions: [])) },
      impressions: { records in
        chunkSizes.append(records.count)
        days[days.count - 1].impressions += records
      },
      requests: { requests = $0 })
    self.history = history
    self.days = days
    self.requests = requests
    self.chunkSizes = chunkSizes
  }
}

/// Returns the area under the ROC curve of scores against 0/1 labels (Mann-Whitney U, tied scores
/// get their average rank).
func areaUnderCurve(scores: [Double], labels: [Int16]) -> Double {
  let order = scores.indices.sorted { scores[$0] < scores[$1] }
  var rankSumPositive = 0.0
  var positives = 0.0
  var start = 0
  while start < order.count {
    var end = start
    while end + 1 < order.count && scores[order[end + 1]] == scores[order[start]] { end += 1 }
    let averageRank = Double(start + end) / 2 + 1
    for i in start...end where labels[order[i]] == 1 {
      rankSumPositive += averageRank
      positives += 1
    }
    start = end + 1
  }
  let negatives = Double(scores.count) - positives
  return (rankSumPositive - positives * (positives + 1) / 2) / (positives * negatives)
}

/// Scores rows with a per-field click-rate model fitted on the same rows: the sum over
/// categorical fields of logit(smoothed click rate of the value) - logit(base rate). It uses every
/// raw field but no cross of the ad with the history, like a logistic regression on raw fields.
func perFieldRateScores(_ rows: [ImpressionRecord]) -> [Double] {
  let clicks = rows.reduce(0.0) { $0 + Double($1.click) }
  let base = clicks / Double(rows.count)
  let prior = 20.0
  let fieldCount = rows.first?.cat.count ?? 0
  var tables = Array(repeating: [String: (clicks: Double, count: Double)](), count: fieldCount)
  for row in rows {
    for (field, value) in row.cat.enumerated() {
      let key = value ?? ""
      let old = tables[field][key] ?? (0, 0)
      tables[field][key] = (old.clicks + Double(row.click), old.count + 1)
    }
  }
  func logit(_ p: Double) -> Double { log(p / (1 - p)) }
  return rows.map { row in
    var score = 0.0
    for (field, value) in row.cat.enumerated() {
      let cell = tables[field][value ?? ""] ?? (0, 0)
      let rate = (cell.clicks + prior * base) / (cell.count + prior)
      score += logit(rate) - logit(base)
    }
    return score
  }
}
