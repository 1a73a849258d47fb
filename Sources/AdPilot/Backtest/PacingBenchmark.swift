// Replays synthetic days of a million or more impressions through the same forecast, allocate and
// hourly re-plan steps as the backtest. Every hour has enough impressions that its pacing error
// measures the planner rather than the luck of a few purchases. No database is involved.

import Allocation
import Foundation

/// A pacing benchmark on synthetic days.
public enum PacingBenchmark {
  /// The figures of the replayed days.
  public struct Figures: Sendable {
    public var days: Int
    public var impressionsPerDay: Int
    public var campaigns: Int
    /// Mean hourly pacing error over the replayed days (see the backtest's definition).
    public var pacingError: Double
    /// The worst day's hourly pacing error.
    public var worstPacingError: Double
    /// Spend above the budget, summed over days, in micros.
    public var overDeliveryMicros: Int64
    /// Mean value bought over the hindsight optimum's.
    public var meanRatio: Double
    public var seconds: Double
  }

  /// The traffic of one synthetic campaign: its share of impressions and the centres of its
  /// pCTR and price distributions.
  struct CampaignTraffic {
    var share: Double
    var logPCTR: Double
    var logCost: Double
  }

  /// Replays `days` synthetic days of `impressionsPerDay` impressions over `campaigns` UTC
  /// campaigns, each forecast from the `historyDays` synthetic days before it, at a budget of
  /// `budgetFraction` of each day's cost.
  public static func run(
    impressionsPerDay: Int, days: Int, campaigns count: Int = 20, historyDays: Int = 3,
    budgetFraction: Double = 0.25, seed: UInt64 = 1
  ) throws -> Figures {
    var random = SeededGenerator(seed: seed)
    var campaigns: [Campaign] = []
    var traffic: [CampaignTraffic] = []
    for index in 0..<count {
      let id = "pacing-\(index)"
      campaigns.append(
        Campaign(
          id: id, name: id, dataset: "pacing",
          valuePerClickMicros: Int64.random(in: 500_000...2_000_000, using: &random),
          dailyBudgetMicros: Int64.max / 4))
      traffic.append(
        CampaignTraffic(
          share: Double.random(in: 0.5...2, using: &random),
          logPCTR: log(0.02) + Double.random(in: -0.5...0.5, using: &random),
          logCost: log(1_500) + Double.random(in: -0.3...0.3, using: &random)))
    }
    let totalShare = traffic.reduce(0) { $0 + $1.share }
    let planDay = Date(timeIntervalSince1970: 1_773_100_800)  // 2026-03-10 00:00 UTC

    var history: [[ReplayImpression]] = []
    for offset in stride(from: historyDays, through: 1, by: -1) {
      history.append(
        day(
          start: planDay.addingTimeInterval(-Double(offset) * 86_400), count: impressionsPerDay,
          campaigns: campaigns, traffic: traffic, totalShare: totalShare, random: &random))
    }

    let started = Date()
    var errors: [Double] = []
    var ratios: [Double] = []
    var overDelivery: Int64 = 0
    for replayed in 0..<days {
      let start = planDay.addingTimeInterval(Double(replayed) * 86_400)
      let today = day(
        start: start, count: impressionsPerDay, campaigns: campaigns, traffic: traffic,
        totalShare: totalShare, random: &random)
      let supply = forecast(history.suffix(historyDays), campaigns: campaigns)
      let budget = Int64(budgetFraction * Double(today.reduce(0) { $0 + $1.costMicros }))
      let paced = try PacedReplay.run(
        campaigns: campaigns, supply: supply, budgetMicros: budget,
        planDate: formatPlanDate(start), impressions: today)
      let optimum = BacktestPolicies.hindsightOptimum(today, budgetMicros: budget)
      errors.append(paced.pacingError)
      ratios.append(optimum.valueMicros > 0 ? paced.purchase.valueMicros / optimum.valueMicros : 1)
      overDelivery += max(0, paced.purchase.spendMicros - budget)
      history.append(today)
    }
    return Figures(
      days: days, impressionsPerDay: impressionsPerDay, campaigns: count,
      pacingError: errors.reduce(0, +) / Double(max(errors.count, 1)),
      worstPacingError: errors.max() ?? 0, overDeliveryMicros: overDelivery,
      meanRatio: ratios.reduce(0, +) / Double(max(ratios.count, 1)),
      seconds: Date().timeIntervalSince(started))
  }

  /// Returns one day of impressions in time order. Traffic follows a daily cycle (busiest in
  /// the evening), the day's volume varies by up to 10%, and each impression's pCTR and price
  /// are log-normal around its campaign's centres.
  static func day(
    start: Date, count: Int, campaigns: [Campaign], traffic: [CampaignTraffic],
    totalShare: Double, random: inout SeededGenerator
  ) -> [ReplayImpression] {
    let volume = Int(Double(count) * Double.random(in: 0.9...1.1, using: &random))
    var cumulative: [Double] = []
    var sum = 0.0
    for campaign in traffic {
      sum += campaign.share / totalShare
      cumulative.append(sum)
    }
    var impressions: [ReplayImpression] = []
    impressions.reserveCapacity(volume)
    for _ in 0..<volume {
      // Rejection sampling of the time of day from 1 + 0.6 cos(2 pi (t - 20 h) / 24 h).
      var seconds = 0.0
      repeat {
        seconds = Double.random(in: 0..<86_400, using: &random)
      } while Double.random(in: 0..<1.6, using: &random)
        > 1 + 0.6 * cos(2 * .pi * (seconds - 20 * 3_600) / 86_400)
      let draw = Double.random(in: 0..<1, using: &random)
      let index = min(cumulative.firstIndex { draw < $0 } ?? traffic.count - 1, traffic.count - 1)
      let pctr = min(0.5, exp(traffic[index].logPCTR + 0.6 * normal(&random)))
      let cost = Int64(max(1, exp(traffic[index].logCost + 0.5 * normal(&random))).rounded())
      impressions.append(
        ReplayImpression(
          campaign: index, time: start.addingTimeInterval(seconds), costMicros: cost,
          pctr: pctr, click: Double.random(in: 0..<1, using: &random) < pctr,
          valueMicros: pctr * Double(campaigns[index].valuePerClickMicros)))
    }
    impressions.sort { $0.time < $1.time }
    return impressions
  }

  /// Returns each campaign's supply forecast from the days of `history`, as the backtest builds
  /// it from the database.
  static func forecast(_ history: ArraySlice<[ReplayImpression]>, campaigns: [Campaign])
    -> [String: CampaignSupply]
  {
    var histograms = [SupplyHistogram](repeating: SupplyHistogram(), count: campaigns.count)
    for day in history {
      for impression in day {
        // The campaigns are UTC, so the local hour is the hour of the Unix day.
        let seconds = impression.time.timeIntervalSince1970.truncatingRemainder(dividingBy: 86_400)
        histograms[impression.campaign].add(
          pctr: impression.pctr, costMicros: impression.costMicros,
          localHour: min(23, Int(seconds / 3_600)))
      }
    }
    var supply: [String: CampaignSupply] = [:]
    for (index, campaign) in campaigns.enumerated() {
      supply[campaign.id] = histograms[index].supply(
        campaignId: campaign.id, days: Double(max(history.count, 1)))
    }
    return supply
  }

  /// Returns a standard normal draw by the Box-Muller transform.
  static func normal(_ random: inout SeededGenerator) -> Double {
    let u = Double.random(in: Double.ulpOfOne..<1, using: &random)
    let v = Double.random(in: 0..<1, using: &random)
    return (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
  }
}
