// The outcome of one allocation run: each campaign's amount and why it got that amount.
// Allocator fills these in; PacingPlanner reads the amounts.

/// A binding constraint: the limit that decided a campaign's amount.
///
/// Raw values are snake_case, like the other words stored in the database (`front_loaded`).
public enum Binding: String, Sendable, Equatable, CaseIterable {
  /// The total budget ran out before the campaign reached its cap or the end of its traffic.
  /// Campaigns of a lower tier left with nothing get this binding too.
  case budget
  /// The campaign reached its cap (the daily budget or the daily maximum).
  case cap
  /// The campaign got its minimum and nothing more.
  case minimum
  /// The campaign bought all of its forecast traffic before reaching its cap.
  case traffic
  /// The campaign has no forecast traffic with a positive cost on the plan day.
  case noTraffic = "no_traffic"
  /// The campaign's day-parting leaves no active hours on the plan day.
  case dayParting = "day_parting"
  /// The campaign is paused or the plan day is outside its flight dates.
  case inactive
  /// The plan date does not exist in the campaign's time zone, which skipped that day.
  case noLocalDay = "no_local_day"
}

/// A campaign allocation: the amount of one campaign and the figures that explain it.
public struct CampaignAllocation: Sendable, Equatable {
  /// The id of the campaign.
  public var campaignId: String
  /// The daily amount in micros, between the campaign's minimum and its cap.
  public var amountMicros: Int64
  /// The campaign's cap in micros (`Campaign.capMicros`).
  public var capMicros: Int64
  /// The expected value of the impressions the amount buys, in micros.
  public var expectedValueMicros: Double
  /// The expected clicks of the impressions the amount buys.
  public var expectedClicks: Double
  /// The number of impressions the amount buys.
  public var expectedImpressions: Double
  /// The rank (1 = best) by value per micro of the campaign's best segment, ties by id.
  public var rank: Int
  /// The value per micro of the next micro the campaign would spend (0 when nothing is left).
  public var marginalValue: Double
  /// The limit that decided the amount.
  public var binding: Binding

  /// Creates an allocation.
  public init(
    campaignId: String, amountMicros: Int64, capMicros: Int64, expectedValueMicros: Double,
    expectedClicks: Double, expectedImpressions: Double, rank: Int, marginalValue: Double,
    binding: Binding
  ) {
    self.campaignId = campaignId
    self.amountMicros = amountMicros
    self.capMicros = capMicros
    self.expectedValueMicros = expectedValueMicros
    self.expectedClicks = expectedClicks
    self.expectedImpressions = expectedImpressions
    self.rank = rank
    self.marginalValue = marginalValue
    self.binding = binding
  }
}

/// An allocation result: the allocations in the order of the input campaigns, and the totals.
public struct AllocationResult: Sendable, Equatable {
  /// One allocation per input campaign, in input order.
  public var allocations: [CampaignAllocation]
  /// The total budget the run was given, in micros.
  public var totalBudgetMicros: Int64
  /// The sum of the amounts: min(total budget, sum of caps, absorbable).
  public var allocatedMicros: Int64
  /// The sum of the caps of the campaigns that can spend on the plan day.
  public var sumOfCapsMicros: Int64
  /// The sum over those campaigns of min(cap, cost of all their traffic), each rounded down.
  public var absorbableMicros: Int64

  /// Creates a result.
  public init(
    allocations: [CampaignAllocation], totalBudgetMicros: Int64, allocatedMicros: Int64,
    sumOfCapsMicros: Int64, absorbableMicros: Int64
  ) {
    self.allocations = allocations
    self.totalBudgetMicros = totalBudgetMicros
    self.allocatedMicros = allocatedMicros
    self.sumOfCapsMicros = sumOfCapsMicros
    self.absorbableMicros = absorbableMicros
  }
}

/// An error of an allocation or pacing run: the problem, the campaigns concerned and the fix.
public struct AllocationError: Error, CustomStringConvertible, Sendable, Equatable {
  /// A short lowercase statement of what failed.
  public var message: String
  /// The ids of the campaigns concerned, possibly empty.
  public var campaignIds: [String]
  /// The micros missing to meet every minimum, when that is the problem.
  public var shortfallMicros: Int64?
  /// The change that lets the run succeed.
  public var fix: String

  /// Creates an error.
  public init(
    message: String, campaignIds: [String] = [], shortfallMicros: Int64? = nil, fix: String
  ) {
    self.message = message
    self.campaignIds = campaignIds
    self.shortfallMicros = shortfallMicros
    self.fix = fix
  }

  /// The error as one line: the message, then the fix.
  public var description: String { "\(message); \(fix)" }
}
