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
  /// RMS over the day's hours of actual minus start-of-day planned spend (all campaigns), over
  /// the mean planned spend of an hour. It is 0 when nothing was planned.
  var pacingError: Double
}

/// The rules by which the replay's bidder follows the plan.
struct BiddingRules: Sendable {
  /// The cap on an hour's spend, as a multiple of the hour's planned spend. Nil leaves hours
  /// uncapped, so the hourly threshold alone paces the day.
  var hourSlack: Double? = nil
  /// The share of the day's budget held back from ordinary purchases. A few impressions worth
  /// far more than the rest can arrive after the budget would otherwise be gone.
  var reserveFraction = 0.01
  /// The multiple of the hour's threshold that an impression's value per cost must reach to
  /// spend the reserve.
  var reserveFactor = 5.0
}

enum PacedReplay {
  /// Plans the day at its start and walks `impressions` (in time order) through the plan.
  ///
  /// The plan splits the budget less the reserve. An impression is bought when its value per
  /// cost reaches its campaign's hour-row `valuePerMicroThreshold`, and its price fits the day's
  /// budget without touching the reserve, or it is worth `reserveFactor` times the threshold and
  /// fits the whole budget. With an `hourSlack`, the campaign must also have spent less than
  /// that multiple of the hour's planned spend in the hour. At every hour start what is left of
  /// the budget is allocated again over the forecast of the hours left, scaled by the day's
  /// traffic so far against the forecast's, and each campaign is re-planned with
  /// `PacingPlanner.replan` from its spend so far.
  static func run(
    campaigns: [Campaign], supply: [String: CampaignSupply], budgetMicros: Int64,
    planDate: String, impressions: [ReplayImpression], rules: BiddingRules = BiddingRules()
  ) throws -> PacedDay {
    let reserve = Int64((Double(budgetMicros) * rules.reserveFraction).rounded(.down))
    let allocation = try Allocator.allocate(
      campaigns: campaigns, supply: supply, totalBudgetMicros: budgetMicros - reserve,
      planDate: planDate)
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
    var totalSpent: Int64 = 0
    var seen = 0

    for impression in impressions {
      // Re-plan at each hour start that this impression has passed.
      while hour + 1 < hourStarts.count && impression.time >= hourStarts[hour + 1] {
        hour += 1
        // The forecast scaled by how busy the day has been so far.
        let volume = observedVolume(seen: seen, supply: supply, hours: hour)
        let scaled = supply.mapValues { forecast in
          var copy = forecast
          copy.segments = forecast.segments.map {
            SupplySegment(
              impressions: $0.impressions * volume, costMicros: $0.costMicros * volume,
              clicks: $0.clicks * volume)
          }
          return copy
        }
        let amounts = try reallocate(
          campaigns: campaigns, supply: scaled, budgetMicros: budgetMicros - reserve,
          spent: spent, planDate: planDate, hour: hour)
        for (index, campaign) in campaigns.enumerated() {
          var rest = allocations[index]
          rest.amountMicros = spent[index] + amounts[index]
          let replanned = try PacingPlanner.replan(
            campaign: campaign, allocation: rest,
            supply: scaled[campaign.id] ?? CampaignSupply(campaignId: campaign.id, segments: []),
            planDate: planDate, spentMicros: spent[index], now: hourStarts[hour])
          current[index] = replanned.first
          hourSpent[index] = 0
        }
      }
      seen += 1
      let index = impression.campaign
      guard let row = current[index],
        impression.valuePerCost >= row.valuePerMicroThreshold,
        spent[index] + impression.costMicros <= campaigns[index].capMicros,
        totalSpent + impression.costMicros <= budgetMicros
      else { continue }
      if let slack = rules.hourSlack,
        Double(hourSpent[index]) >= Double(row.spendMicros) * slack
      {
        continue
      }
      let outsideReserve = budgetMicros - totalSpent - impression.costMicros >= reserve
      guard
        outsideReserve
          || impression.valuePerCost >= rules.reserveFactor * row.valuePerMicroThreshold
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

  /// Returns the day's traffic so far over the forecast's for the first `hours` hours, clamped to
  /// 0.5...2. Returns 1 before any traffic was forecast.
  ///
  /// NOTE: hour positions are read as local hours, which is exact only on days of 24 hours.
  static func observedVolume(seen: Int, supply: [String: CampaignSupply], hours: Int) -> Double {
    var expected = 0.0
    for forecast in supply.values where forecast.hourlyTraffic.count == 24 {
      expected += forecast.hourlyTraffic[..<min(hours, 24)].reduce(0, +)
    }
    guard expected > 0 else { return 1 }
    return min(2, max(0.5, Double(seen) / expected))
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

  /// Returns the hourly pacing error of the day against `planned` rows of every campaign.
  static func pacingError(actual: [[Int64]], planned: [[HourlyPlanRow]]) -> Double {
    pacingError(
      actual: actual, planned: planned.map { rows in rows.map { Double($0.spendMicros) } })
  }

  /// Returns RMS over the hours of the day of (actual - planned spend of all campaigns in the
  /// hour), over the mean planned spend of an hour. Returns 0 when nothing was planned.
  static func pacingError(actual: [[Int64]], planned: [[Double]]) -> Double {
    let hours = actual.map(\.count).max() ?? 0
    var actualByHour = [Double](repeating: 0, count: hours)
    var plannedByHour = [Double](repeating: 0, count: hours)
    for (campaignActual, campaignPlan) in zip(actual, planned) {
      for (hour, (spend, plan)) in zip(campaignActual, campaignPlan).enumerated() {
        actualByHour[hour] += Double(spend)
        plannedByHour[hour] += plan
      }
    }
    let plannedTotal = plannedByHour.reduce(0, +)
    guard hours > 0, plannedTotal > 0 else { return 0 }
    var squares = 0.0
    for (spend, plan) in zip(actualByHour, plannedByHour) {
      squares += (spend - plan) * (spend - plan)
    }
    return (squares / Double(hours)).squareRoot() / (plannedTotal / Double(hours))
  }

  /// Returns the pacing error of a policy without hourly plans against an even plan of its own:
  /// each campaign's spend for the day spread over the hours in proportion to `traffic`.
  ///
  /// NOTE: traffic positions are read as the hour positions of `hourStarts`, which is exact only
  /// on days of 24 hours.
  static func evenPlanPacingError(
    bought: [ReplayImpression], campaignCount: Int, hourStarts: [Date], traffic: [[Double]]
  ) -> Double {
    guard !hourStarts.isEmpty else { return 0 }
    var actual = [[Int64]](
      repeating: [Int64](repeating: 0, count: hourStarts.count), count: campaignCount)
    for impression in bought {
      let hour = max(0, (hourStarts.lastIndex { $0 <= impression.time } ?? 0))
      actual[impression.campaign][hour] += impression.costMicros
    }
    var planned: [[Double]] = []
    for campaign in 0..<campaignCount {
      let amount = Double(actual[campaign].reduce(0, +))
      var weights = hourStarts.indices.map { hour -> Double in
        let hourly = campaign < traffic.count ? traffic[campaign] : []
        return hourly.isEmpty ? 1 : hourly[min(hour, hourly.count - 1)]
      }
      if weights.reduce(0, +) <= 0 {
        weights = weights.map { _ in 1 }
      }
      let total = weights.reduce(0, +)
      planned.append(weights.map { amount * $0 / total })
    }
    return pacingError(actual: actual, planned: planned)
  }
}
