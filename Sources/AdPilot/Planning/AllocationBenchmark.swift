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
  }

  /// Plans `campaigns` synthetic UTC campaigns with `segments` pCTR bands each for one day.
  public static func run(campaigns count: Int, segments: Int = 16, seed: UInt64 = 1) throws
    -> Figures
  {
    var random = SeededGenerator(seed: seed)
    var campaigns: [Campaign] = []
    var supply: [String: CampaignSupply] = [:]
    var absorbable = 0.0
    for index in 0..<count {
      let id = "bench-\(index)"
      campaigns.append(
        Campaign(
          id: id, name: id, dataset: "bench",
          valuePerClickMicros: Int64.random(in: 200_000...2_000_000, using: &random),
          dailyBudgetMicros: Int64.random(in: 1_000_000...50_000_000, using: &random),
          pacing: index % 10 == 0 ? .frontLoaded : .even))
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
    let budget = Int64(absorbable * 0.1)
    let date = "2026-03-10"

    let started = Date()
    let result = try Allocator.allocate(
      campaigns: campaigns, supply: supply, totalBudgetMicros: budget, planDate: date)
    var rows = 0
    for (campaign, allocation) in zip(campaigns, result.allocations) {
      guard let campaignSupply = supply[campaign.id] else { continue }
      rows +=
        try PacingPlanner.plan(
          campaign: campaign, allocation: allocation, supply: campaignSupply, planDate: date
        ).count
    }
    let seconds = Date().timeIntervalSince(started)
    return Figures(
      campaigns: count, hourlyRows: rows, allocatedMicros: result.allocatedMicros,
      seconds: seconds)
  }
}
