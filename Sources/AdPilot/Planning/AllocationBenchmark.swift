// Measures in-memory planning: synthetic campaigns with random forecasts are allocated and paced
// over 24 hours with the same Allocator and PacingPlanner calls as `adpilot allocate`. No I/O.

import Allocation
import Foundation

/// A planning benchmark on synthetic campaigns.
public enum AllocationBenchmark {
  /// The figures of one benchmark run.
  public struct Figures: Sendable {
    public var campaigns: Int
    public var hourlyRows: Int
    public var allocatedMicros: Int64
    /// Wall-clock seconds of allocation and pacing, without building the inputs.
    public var seconds: Double
    /// The sum of the allocations' expected values.
    public var expectedValueMicros: Double
  }

  /// A synthetic planning problem: campaigns, their forecast supply and the day's budget.
  public struct Problem: Sendable {
    public var campaigns: [Campaign]
    public var supply: [String: CampaignSupply]
    public var budgetMicros: Int64
    public var planDate = "2026-03-10"
  }

  /// Returns `count` synthetic UTC campaigns with `segments` pCTR bands each and a budget of a
  /// tenth of what their traffic absorbs. With `constrained`, every fifth campaign has a minimum,
  /// every seventh a maximum below its budget, and a third sit in a higher priority tier.
  public static func problem(
    campaigns count: Int, segments: Int = 16, seed: UInt64 = 1, constrained: Bool = false
  ) -> Problem {
    var random = SeededGenerator(seed: seed)
    var campaigns: [Campaign] = []
    var supply: [String: CampaignSupply] = [:]
    var absorbable = 0.0
    for index in 0..<count {
      let id = "bench-\(index)"
      let budget = Int64.random(in: 1_000_000...50_000_000, using: &random)
      var campaign = Campaign(
        id: id, name: id, dataset: "bench",
        valuePerClickMicros: Int64.random(in: 200_000...2_000_000, using: &random),
        dailyBudgetMicros: budget,
        pacing: index % 10 == 0 ? .frontLoaded : .even)
      if constrained {
        campaign.minDailyMicros = index % 5 == 0 ? budget / 20 : 0
        campaign.maxDailyMicros = index % 7 == 0 ? budget / 2 : nil
        campaign.priority = index % 3 == 0 ? 1 : 0
      }
      campaigns.append(campaign)
      var bands: [SupplySegment] = []
      for band in 0..<segments {
        let impressions = Double.random(in: 100...10_000, using: &random)
        let costPerImpression = Double.random(in: 500...5_000, using: &random)
        let pctr = 0.02 * pow(0.8, Double(band)) * Double.random(in: 0.8...1.2, using: &random)
        bands.append(
          SupplySegment(
            impressions: impressions, costMicros: impressions * costPerImpression,
            clicks: impressions * pctr))
        absorbable += impressions * costPerImpression
      }
      let hourly = (0..<24).map { hour in 1 + 0.5 * sin(Double(hour) / 24 * 2 * .pi) }
      supply[id] = CampaignSupply(campaignId: id, segments: bands, hourlyTraffic: hourly)
    }
    return Problem(campaigns: campaigns, supply: supply, budgetMicros: Int64(absorbable * 0.1))
  }

  /// Plans `campaigns` synthetic UTC campaigns with `segments` pCTR bands each for one day.
  public static func run(campaigns count: Int, segments: Int = 16, seed: UInt64 = 1) throws
    -> Figures
  {
    try run(problem(campaigns: count, segments: segments, seed: seed))
  }

  /// Allocates and paces `problem` and times both steps.
  public static func run(_ problem: Problem) throws -> Figures {
    let started = Date()
    let result = try Allocator.allocate(
      campaigns: problem.campaigns, supply: problem.supply,
      totalBudgetMicros: problem.budgetMicros, planDate: problem.planDate)
    var rows = 0
    for (campaign, allocation) in zip(problem.campaigns, result.allocations) {
      guard let campaignSupply = problem.supply[campaign.id] else { continue }
      rows +=
        try PacingPlanner.plan(
          campaign: campaign, allocation: allocation, supply: campaignSupply,
          planDate: problem.planDate
        ).count
    }
    let seconds = Date().timeIntervalSince(started)
    return Figures(
      campaigns: problem.campaigns.count, hourlyRows: rows,
      allocatedMicros: result.allocatedMicros, seconds: seconds,
      expectedValueMicros: result.allocations.reduce(0) { $0 + $1.expectedValueMicros })
  }

  /// Returns `problem` and AdPilot's expected value on it as JSON for an outside solver: the
  /// budget, and per campaign its tier, minimum, cap, value per click and segments as
  /// `[cost micros, clicks]` pairs.
  public static func exportJSON(_ problem: Problem, expectedValueMicros: Double) throws -> Data {
    let campaigns: [[String: Any]] = problem.campaigns.map { campaign in
      let segments = problem.supply[campaign.id]?.segments ?? []
      return [
        "id": campaign.id,
        "priority": campaign.priority,
        "min_micros": campaign.minDailyMicros,
        "cap_micros": campaign.capMicros,
        "value_per_click_micros": campaign.valuePerClickMicros,
        "segments": segments.map { [$0.costMicros, $0.clicks] },
      ]
    }
    let object: [String: Any] = [
      "budget_micros": problem.budgetMicros,
      "adpilot_expected_value_micros": expectedValueMicros,
      "campaigns": campaigns,
    ]
    return try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
  }
}
