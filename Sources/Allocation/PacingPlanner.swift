// The pacing planner: spreads a campaign's daily amount over the hours of its local day.
// It reads the allocation and forecast handed to it and never touches files or the database.

import Foundation

/// An hourly plan row: what a campaign should spend in one local hour and how to deliver it.
public struct HourlyPlanRow: Sendable, Equatable {
  /// The start of the hour as an instant (print it in UTC).
  public var hourStart: Date
  /// The local hour of day, 0...23, in the campaign's time zone (repeated on a 25-hour day).
  public var localHour: Int
  /// The planned spend in micros.
  public var spendMicros: Int64
  /// The impressions the spend buys.
  public var impressions: Double
  /// The expected clicks of those impressions.
  public var expectedClicks: Double
  /// The pCTR of the lowest band bought at this spend (1 when the hour buys nothing).
  public var pctrThreshold: Double
  /// The fraction of the hour's eligible impressions to buy, 0...1.
  public var throttleRate: Double

  /// Creates a row.
  public init(
    hourStart: Date, localHour: Int, spendMicros: Int64, impressions: Double,
    expectedClicks: Double, pctrThreshold: Double, throttleRate: Double
  ) {
    self.hourStart = hourStart
    self.localHour = localHour
    self.spendMicros = spendMicros
    self.impressions = impressions
    self.expectedClicks = expectedClicks
    self.pctrThreshold = pctrThreshold
    self.throttleRate = throttleRate
  }
}

/// A planner of hourly spend over a campaign's local plan day.
public enum PacingPlanner {
  /// Plans the hours of `planDate` (a local day of the campaign's time zone) for the allocation.
  public static func plan(
    campaign: Campaign, allocation: CampaignAllocation, supply: CampaignSupply, planDate: String
  ) throws(AllocationError) -> [HourlyPlanRow] {
    []
  }

  /// Replans the hours left after `now`, given `spentMicros` already spent on the plan day.
  public static func replan(
    campaign: Campaign, allocation: CampaignAllocation, supply: CampaignSupply, planDate: String,
    spentMicros: Int64, now: Date
  ) throws(AllocationError) -> [HourlyPlanRow] {
    []
  }
}
