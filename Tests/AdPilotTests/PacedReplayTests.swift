// Tests of the paced replay's bidding rules and of the hourly pacing error, on hand-built days
// whose purchases and errors can be worked out by hand. No database is involved.

import Allocation
import Foundation
import Testing

@testable import AdPilot

/// Returns one UTC campaign whose forecast is 100 impressions a day at 1,000 micros and 10
/// value per micro, spread evenly over the 24 hours.
private func evenCampaign(budget: Int64) -> (Campaign, [String: CampaignSupply]) {
  let campaign = Campaign(
    id: "c", name: "c", dataset: "replay", valuePerClickMicros: 1_000_000,
    dailyBudgetMicros: budget)
  let supply = CampaignSupply(
    campaignId: "c",
    segments: [SupplySegment(impressions: 100, costMicros: 100_000, clicks: 1)],
    hourlyTraffic: [Double](repeating: 1, count: 24))
  return (campaign, ["c": supply])
}

private let dayStart = Date(timeIntervalSince1970: 1_773_100_800)  // 2026-03-10 00:00 UTC

/// Returns 100 ordinary impressions (1,000 micros, 12 value per micro) from 00:00 to 19:48, then one
/// at 23:30 that costs 400 micros and is worth 1,000 per micro.
private func dayWithLateJewel() -> [ReplayImpression] {
  var impressions = (0..<100).map { step in
    ReplayImpression(
      campaign: 0, time: dayStart.addingTimeInterval(Double(step) * 720), costMicros: 1_000,
      pctr: 0.012, click: false, valueMicros: 12_000)
  }
  impressions.append(
    ReplayImpression(
      campaign: 0, time: dayStart.addingTimeInterval(23.5 * 3_600), costMicros: 400, pctr: 0.4,
      click: true, valueMicros: 400_000))
  return impressions
}

@Test func reserveBuysLateValuableImpression() throws {
  let (campaign, supply) = evenCampaign(budget: 50_000)
  var rules = BiddingRules()
  rules.reserveFraction = 0.01
  let day = try PacedReplay.run(
    campaigns: [campaign], supply: supply, budgetMicros: 50_000, planDate: "2026-03-10",
    impressions: dayWithLateJewel(), rules: rules)
  // 49 ordinary impressions leave 1,000 micros, of which 500 are the reserve.
  #expect(day.purchase.spendMicros == 49_400)
  #expect(day.purchase.clicks == 1)
  #expect(day.purchase.valueMicros == 49 * 12_000 + 400_000)
}

@Test func withoutReserveBudgetRunsOutFirst() throws {
  let (campaign, supply) = evenCampaign(budget: 50_000)
  var rules = BiddingRules()
  rules.reserveFraction = 0
  let day = try PacedReplay.run(
    campaigns: [campaign], supply: supply, budgetMicros: 50_000, planDate: "2026-03-10",
    impressions: dayWithLateJewel(), rules: rules)
  #expect(day.purchase.spendMicros == 50_000)
  #expect(day.purchase.clicks == 0)
}

@Test func pacingErrorComparesHourTotals() {
  // Two campaigns that swap their planned hours still meet the plan of each hour.
  #expect(PacedReplay.pacingError(actual: [[10, 0], [0, 10]], planned: [[5, 5], [5, 5]]) == 0)
  // Hours of 20 and 0 against 10 and 10: RMS 10 over a mean of 10.
  #expect(PacedReplay.pacingError(actual: [[20, 0]], planned: [[10, 10]]) == 1)
  #expect(PacedReplay.pacingError(actual: [[0, 0]], planned: [[0, 0]]) == 0)
}

@Test func evenPlanFollowsTraffic() {
  let hours = [dayStart, dayStart.addingTimeInterval(3_600)]
  let bought = [
    ReplayImpression(
      campaign: 0, time: dayStart.addingTimeInterval(60), costMicros: 30, pctr: 0.1,
      click: false, valueMicros: 1),
    ReplayImpression(
      campaign: 0, time: dayStart.addingTimeInterval(3_660), costMicros: 10, pctr: 0.1,
      click: false, valueMicros: 1),
  ]
  // 40 micros planned 20 and 20: hours off by 10 each, over a mean of 20.
  let even = PacedReplay.evenPlanPacingError(
    bought: bought, campaignCount: 1, hourStarts: hours, traffic: [[1, 1]])
  #expect(even == 0.5)
  // Traffic of 3 to 1 plans 30 and 10, exactly what was spent.
  let followed = PacedReplay.evenPlanPacingError(
    bought: bought, campaignCount: 1, hourStarts: hours, traffic: [[3, 1]])
  #expect(followed == 0)
}

@Test func observedVolumeComparesTrafficSoFar() {
  let forecast = CampaignSupply(
    campaignId: "c", segments: [], hourlyTraffic: [Double](repeating: 10, count: 24))
  // Five hours forecast 50 impressions.
  #expect(PacedReplay.observedVolume(seen: 55, supply: ["c": forecast], hours: 5) == 1.1)
  #expect(PacedReplay.observedVolume(seen: 0, supply: ["c": forecast], hours: 5) == 0.5)
  #expect(PacedReplay.observedVolume(seen: 500, supply: ["c": forecast], hours: 5) == 2)
  #expect(PacedReplay.observedVolume(seen: 7, supply: ["c": forecast], hours: 0) == 1)
}
