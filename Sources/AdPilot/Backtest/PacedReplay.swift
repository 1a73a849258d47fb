// Replays one day of impressions under AdPilot's own plan: allocate at the start of the day, pace
// each campaign by the hour, and re-plan every hour from actual spend with the same Allocator and
// PacingPlanner calls that `adpilot allocate` makes. It reads no database and writes nothing.

import Allocation
import Foundation

/// The outcome of a paced replay of one day.
struct PacedDay: Sendable {
  var purchase: DayPurchase
  /// The allocation made at the start of the day.
  var allocation: AllocationResult
  /// The hourly plans made at the start of the day, by campaign id.
  var startPlans: [String: [HourlyPlanRow]]
  /// RMS over campaign-hours of actual minus start-of-day planned spend, over the mean planned
  /// spend of a campaign-hour; 0 when nothing was planned.
  var pacingError: Double
}

enum PacedReplay {
  /// Plans the day at its start and walks `impressions` (in time order) through the plan.
  ///
  /// An impression is bought when three conditions hold. Its campaign has spent less than
  /// `hourSlack` times the current hour's planned spend in that hour. Its value per cost reaches
  /// the hour row's `valuePerMicroThreshold`. Its price fits both the campaign's amount for the
  /// day and the day's budget. An hour may thus pass its plan, but the day never passes its
  /// amount. At every hour start what is left of the budget
  /// is allocated again over the hours left and each campaign is re-planned with
  /// `PacingPlanner.replan` from its spend so far.
  static func run(
    campaigns: [Campaign], supply: [String: CampaignSupply], budgetMicros: Int64,
    planDate: String, impressions: [ReplayImpression], hourSlack: Double = 1
  ) throws -> PacedDay {
    let allocation = try Allocator.allocate(
      campaigns: campaigns, supply: supply, totalBudgetMicros: budgetMicros, planDate: planDate)
    var allocations: [CampaignAllocation] = []
    var startPlans: [String: [HourlyPlanRow]] = [:]
    var rows: [[HourlyPlanRow]] = []
    for (index, campaign) in campaigns.enumerated() {
      let campaignSupply =
        supply[campaign.id] ?? CampaignSupply(campaignId: campaign.id, segments: [])
      let plan = try PacingPlanner.plan(
        campaign: campaign, allocation: allocation.allocations[index], supply: campaignSupply,
        planDate: planDate)
      allocations.append(allocation.allocations[index])
      startPlans[campaign.id] = plan
      rows.append(plan)
    }
    guard let hourStarts = rows.first?.map(\.hourStart) else {
      return PacedDay(
        purchase: DayPurchase(), allocation: allocation, startPlans: startPlans, pacingError: 0)
    }

    var purchase = DayPurchase()
    var spent = [Int64](repeating: 0, count: campaigns.count)
    var hourSpent = [Int64](repeating: 0, count: campaigns.count)
    var actual = [[Int64]](
      repeating: [Int64](repeating: 0, count: hourStarts.count), count: campaigns.count)
    var hour = 0
    var current = rows.map { $0.first }
    var dayAmounts = allocations.map(\.amountMicros)
    var totalSpent: Int64 = 0

    for impression in impressions {
      // Re-plan at each hour start that this impression has passed.
      while hour + 1 < hourStarts.count && impression.time >= hourStarts[hour + 1] {
        hour += 1
        let amounts = try reallocate(
          campaigns: campaigns, supply: supply, budgetMicros: allocation.allocatedMicros,
          spent: spent, planDate: planDate, hour: hour)
        for (index, campaign) in campaigns.enumerated() {
          var rest = allocations[index]
          rest.amountMicros = spent[index] + amounts[index]
          dayAmounts[index] = rest.amountMicros
          let replanned = try PacingPlanner.replan(
            campaign: campaign, allocation: rest,
            supply: supply[campaign.id] ?? CampaignSupply(campaignId: campaign.id, segments: []),
            planDate: planDate, spentMicros: spent[index], now: hourStarts[hour])
          current[index] = replanned.first
          hourSpent[index] = 0
        }
      }
      let index = impression.campaign
      guard let row = current[index],
        Double(hourSpent[index]) < Double(row.spendMicros) * hourSlack,
        impression.valuePerCost >= row.valuePerMicroThreshold,
        spent[index] + impression.costMicros <= dayAmounts[index],
        totalSpent + impression.costMicros <= budgetMicros
      else { continue }
      purchase.buy(impression)
      totalSpent += impression.costMicros
      spent[index] += impression.costMicros
      hourSpent[index] += impression.costMicros
      actual[index][hour] += impression.costMicros
    }

    return PacedDay(
      purchase: purchase, allocation: allocation, startPlans: startPlans,
      pacingError: pacingError(actual: actual, planned: rows))
  }

  /// Splits what is left of the day's budget over the campaigns again with the allocator, on
  /// each campaign's forecast for the hours from `hour` on, and returns each campaign's amount
  /// for the rest of the day. Money thus moves to the campaigns whose traffic beat the forecast.
  static func reallocate(
    campaigns: [Campaign], supply: [String: CampaignSupply], budgetMicros: Int64,
    spent: [Int64], planDate: String, hour: Int
  ) throws -> [Int64] {
    let left = max(0, budgetMicros - spent.reduce(0, +))
    var rest: [String: CampaignSupply] = [:]
    for campaign in campaigns {
      guard var forecast = supply[campaign.id] else { continue }
      let weights =
        forecast.hourlyTraffic.count == 24
        ? forecast.hourlyTraffic : [Double](repeating: 1, count: 24)
      // NOTE: hour positions are read as local hours, which holds on days of 24 hours.
      let total = weights.reduce(0, +)
      let share = total > 0 ? weights[min(hour, 23)...].reduce(0, +) / total : 0
      forecast.segments = forecast.segments.map {
        SupplySegment(
          impressions: $0.impressions * share, costMicros: $0.costMicros * share,
          clicks: $0.clicks * share)
      }
      rest[campaign.id] = forecast
    }
    let capped = campaigns.map { campaign -> Campaign in
      var copy = campaign
      copy.dailyBudgetMicros = max(0, min(campaign.capMicros, left))
      copy.maxDailyMicros = nil
      copy.minDailyMicros = 0
      return copy
    }
    return try Allocator.allocate(
      campaigns: capped, supply: rest, totalBudgetMicros: left, planDate: planDate
    ).allocations.map(\.amountMicros)
  }

  /// Returns RMS(actual - planned) over every campaign-hour, over the mean planned spend.
  static func pacingError(actual: [[Int64]], planned: [[HourlyPlanRow]]) -> Double {
    var squares = 0.0
    var plannedTotal = 0.0
    var cells = 0
    for (campaignActual, campaignPlan) in zip(actual, planned) {
      for (spend, row) in zip(campaignActual, campaignPlan) {
        let difference = Double(spend - row.spendMicros)
        squares += difference * difference
        plannedTotal += Double(row.spendMicros)
        cells += 1
      }
    }
    guard cells > 0, plannedTotal > 0 else { return 0 }
    return (squares / Double(cells)).squareRoot() / (plannedTotal / Double(cells))
  }
}
