// Tests of the pacing planner: exact sums, local days across DST changes, modes and replanning.
// Expected spends are computed by hand from the documented weights and multipliers.

import Foundation
import Testing

@testable import Allocation

/// Returns an allocation of `amount` micros for `campaign`.
private func makeAllocation(_ campaign: Campaign, _ amount: Int64) -> CampaignAllocation {
  CampaignAllocation(
    campaignId: campaign.id, amountMicros: amount, capMicros: campaign.capMicros,
    expectedValueMicros: 0, expectedClicks: 0, expectedImpressions: 0, rank: 1,
    marginalValue: 0, binding: .budget)
}

/// Returns a campaign in `zone` with pacing `mode`.
private func pacedCampaign(
  zone: String = "UTC", mode: PacingMode = .even, dayParting: [Int: Set<Int>]? = nil
) throws -> Campaign {
  var campaign = makeCampaign("p")
  campaign.timeZone = try #require(TimeZone(identifier: zone))
  campaign.pacing = mode
  campaign.dayParting = dayParting
  return campaign
}

/// One segment of 2400 impressions at 1 micro each with pCTR 0.01: capacity 100 per even hour.
private let flatSupply = makeSupply("p", [(2400, 2400, 24)])

/// 24000 impressions at 1 micro each: capacity 1000 per even hour.
private let largeSupply = makeSupply("p", [(24000, 24000, 240)])

private func plan(
  _ campaign: Campaign, _ amount: Int64, supply: CampaignSupply = flatSupply,
  date: String = "2026-03-10"
) throws -> [HourlyPlanRow] {
  try PacingPlanner.plan(
    campaign: campaign, allocation: makeAllocation(campaign, amount), supply: supply,
    planDate: date)
}

private func utc(_ text: String) throws -> Date {
  try #require(ISO8601DateFormatter().date(from: text))
}

@Test func pacingEvenSplitsByLargestRemainder() throws {
  let rows = try plan(try pacedCampaign(), 1000)
  // 1000 / 24 = 41.67: every hour gets 41, and the 16 leftover micros go to hours 0...15.
  #expect(rows.count == 24)
  #expect(
    rows.map(\.spendMicros) == Array(repeating: 42, count: 16) + Array(repeating: 41, count: 8))
  #expect(rows.map(\.localHour) == Array(0..<24))
  #expect(rows[0].hourStart == (try utc("2026-03-10T00:00:00Z")))
}

@Test func pacingEvenFollowsHourlyTraffic() throws {
  var hourly = [Double](repeating: 1, count: 24)
  hourly[20] = 3
  hourly[21] = 2
  let supply = makeSupply("p", [(2700, 2700, 27)], hourly: hourly)
  let rows = try plan(try pacedCampaign(), 1350, supply: supply)
  // 27 weight units: 50 micros per unit.
  #expect(rows[20].spendMicros == 150)
  #expect(rows[21].spendMicros == 100)
  #expect(rows[0].spendMicros == 50)
  #expect(rows.map(\.spendMicros).reduce(0, +) == 1350)
}

@Test func pacingRowFigures() throws {
  let rows = try plan(try pacedCampaign(), 1200)
  for row in rows {
    #expect(row.spendMicros == 50)
    #expect(row.impressions == 50)
    #expect(abs(row.expectedClicks - 0.5) < 1e-12)
    #expect(abs(row.pctrThreshold - 0.01) < 1e-12)
    #expect(row.throttleRate == 0.5)
  }
}

@Test func pacingThresholdFallsWithSpend() throws {
  // Two bands: pCTR 0.02 and 0.005, each 50 micros of traffic per hour.
  let supply = makeSupply("p", [(1200, 1200, 24), (1200, 1200, 6)])
  let high = try plan(try pacedCampaign(), 600, supply: supply)
  #expect(abs(high[0].pctrThreshold - 0.02) < 1e-12)
  #expect(high[0].throttleRate == 0.25)
  let low = try plan(try pacedCampaign(), 1800, supply: supply)
  #expect(abs(low[0].pctrThreshold - 0.005) < 1e-12)
  #expect(low[0].throttleRate == 0.75)
  #expect(abs(low[0].expectedClicks - 1.125) < 1e-12)
}

@Test func pacingZeroAmountBuysNothing() throws {
  let rows = try plan(try pacedCampaign(), 0)
  #expect(rows.count == 24)
  for row in rows {
    #expect(row.spendMicros == 0)
    #expect(row.impressions == 0)
    #expect(row.pctrThreshold == 1)
    #expect(row.throttleRate == 0)
  }
}

/// One DST case: zone, date, row count, first hour in UTC and the local hours.
struct DSTCase: Sendable, CustomStringConvertible {
  var zone: String
  var date: String
  var rows: Int
  var firstHourUTC: String
  var localHours: [Int]
  var description: String { "\(zone) \(date)" }
}

@Test(arguments: [
  DSTCase(
    zone: "America/New_York", date: "2026-03-08", rows: 23,
    firstHourUTC: "2026-03-08T05:00:00Z", localHours: [0, 1] + Array(3..<24)),
  DSTCase(
    zone: "America/New_York", date: "2026-11-01", rows: 25,
    firstHourUTC: "2026-11-01T04:00:00Z", localHours: [0, 1, 1] + Array(2..<24)),
  DSTCase(
    zone: "America/New_York", date: "2026-07-01", rows: 24,
    firstHourUTC: "2026-07-01T04:00:00Z", localHours: Array(0..<24)),
  DSTCase(
    zone: "Europe/Berlin", date: "2026-03-29", rows: 23,
    firstHourUTC: "2026-03-28T23:00:00Z", localHours: [0, 1] + Array(3..<24)),
  DSTCase(
    zone: "Europe/Berlin", date: "2026-10-25", rows: 25,
    firstHourUTC: "2026-10-24T22:00:00Z", localHours: [0, 1, 2, 2] + Array(3..<24)),
  DSTCase(
    zone: "Asia/Shanghai", date: "2026-12-31", rows: 24,
    firstHourUTC: "2026-12-30T16:00:00Z", localHours: Array(0..<24)),
])
func pacingCoversLocalDay(_ dst: DSTCase) throws {
  for mode in PacingMode.allCases {
    let rows = try plan(try pacedCampaign(zone: dst.zone, mode: mode), 999_997, date: dst.date)
    #expect(rows.count == dst.rows)
    #expect(rows.map(\.localHour) == dst.localHours)
    #expect(rows.first?.hourStart == (try utc(dst.firstHourUTC)))
    #expect(rows.map(\.spendMicros).reduce(0, +) == 999_997)
    for (earlier, later) in zip(rows, rows.dropFirst()) {
      #expect(later.hourStart.timeIntervalSince(earlier.hourStart) == 3600)
    }
  }
}

@Test func pacingDayPartingWithoutHoursThrows() throws {
  let campaign = try pacedCampaign(dayParting: [1: [9]])  // Mondays; 2026-03-10 is a Tuesday.
  #expect(throws: AllocationError.self) {
    try plan(campaign, 100)
  }
  let rows = try plan(campaign, 0)
  #expect(rows.count == 24)
  #expect(rows.allSatisfy { $0.spendMicros == 0 })
}

@Test func pacingSpendsOnlyInActiveHours() throws {
  let campaign = try pacedCampaign(dayParting: [2: [9, 10, 11]])
  let rows = try plan(campaign, 301)
  #expect(rows[9].spendMicros == 101)
  #expect(rows[10].spendMicros == 100)
  #expect(rows[11].spendMicros == 100)
  #expect(rows.map(\.spendMicros).reduce(0, +) == 301)
}

@Test func pacingFrontLoadedMultipliers() throws {
  // Three active hours: multipliers 1.5, 1 and 0.5.
  let campaign = try pacedCampaign(mode: .frontLoaded, dayParting: [2: [6, 7, 8]])
  let rows = try plan(campaign, 150)
  #expect(rows[6].spendMicros == 75)
  #expect(rows[7].spendMicros == 50)
  #expect(rows[8].spendMicros == 25)
}

@Test func pacingFrontLoadedStaysWithinCapacity() throws {
  // 2300 of 2400 micros of traffic: early hours would want more than their 100 micros.
  let rows = try plan(try pacedCampaign(mode: .frontLoaded), 2300)
  #expect(rows.map(\.spendMicros).reduce(0, +) == 2300)
  for row in rows {
    #expect(row.spendMicros <= 100)
    #expect(row.throttleRate <= 1)
  }
  #expect(rows[0].spendMicros == 100)
  #expect(rows[23].spendMicros < 100)
  for (earlier, later) in zip(rows, rows.dropFirst()) {
    #expect(earlier.spendMicros >= later.spendMicros)
  }
}

@Test func pacingAsapFillsHoursInOrder() throws {
  let rows = try plan(try pacedCampaign(mode: .asap), 250)
  #expect(rows[0].spendMicros == 100)
  #expect(rows[1].spendMicros == 100)
  #expect(rows[2].spendMicros == 50)
  #expect(rows[3...].allSatisfy { $0.spendMicros == 0 })
  #expect(rows[0].throttleRate == 1)
}

@Test func pacingAmountAboveTrafficStillSums() throws {
  let rows = try plan(try pacedCampaign(), 4800)
  #expect(rows.map(\.spendMicros).reduce(0, +) == 4800)
  #expect(rows.allSatisfy { $0.spendMicros == 200 })
  #expect(rows.allSatisfy { $0.throttleRate == 1 })
}

@Test func pacingNeverExceedsCap() throws {
  var campaign = try pacedCampaign()
  campaign.dailyBudgetMicros = 240
  let rows = try plan(campaign, 1000)
  #expect(rows.map(\.spendMicros).reduce(0, +) == 240)
}

@Test func replanSpreadsRemainderOverHoursLeft() throws {
  let campaign = try pacedCampaign()
  let rows = try PacingPlanner.replan(
    campaign: campaign, allocation: makeAllocation(campaign, 2400), supply: largeSupply,
    planDate: "2026-03-10", spentMicros: 1000, now: try utc("2026-03-10T12:30:00Z"))
  // 1400 micros over half of hour 12 and all of 13...23: 11.5 hour units.
  #expect(rows.count == 12)
  #expect(rows.first?.localHour == 12)
  #expect(rows.map(\.spendMicros).reduce(0, +) == 1400)
  #expect(rows[0].spendMicros == 61)
  #expect(rows[1].spendMicros == 122)
  #expect(rows[11].spendMicros == 121)
}

@Test func replanAfterOverspendPlansNothing() throws {
  let campaign = try pacedCampaign()
  let rows = try PacingPlanner.replan(
    campaign: campaign, allocation: makeAllocation(campaign, 2400), supply: flatSupply,
    planDate: "2026-03-10", spentMicros: 3000, now: try utc("2026-03-10T08:00:00Z"))
  #expect(rows.count == 16)
  #expect(rows.allSatisfy { $0.spendMicros == 0 })
}

@Test func replanNeverExceedsCap() throws {
  var campaign = try pacedCampaign()
  campaign.dailyBudgetMicros = 500
  let rows = try PacingPlanner.replan(
    campaign: campaign, allocation: makeAllocation(campaign, 2400), supply: flatSupply,
    planDate: "2026-03-10", spentMicros: 200, now: try utc("2026-03-10T20:00:00Z"))
  #expect(rows.count == 4)
  #expect(rows.map(\.spendMicros).reduce(0, +) == 300)
}

@Test func replanAfterDayEndReturnsNoRows() throws {
  let campaign = try pacedCampaign()
  let rows = try PacingPlanner.replan(
    campaign: campaign, allocation: makeAllocation(campaign, 2400), supply: flatSupply,
    planDate: "2026-03-10", spentMicros: 2400, now: try utc("2026-03-11T00:00:00Z"))
  #expect(rows.isEmpty)
}

@Test func replanAfterLastActiveHourPlansNothing() throws {
  let campaign = try pacedCampaign(dayParting: [2: [9, 10, 11]])
  let rows = try PacingPlanner.replan(
    campaign: campaign, allocation: makeAllocation(campaign, 300), supply: flatSupply,
    planDate: "2026-03-10", spentMicros: 100, now: try utc("2026-03-10T22:30:00Z"))
  #expect(rows.map(\.localHour) == [22, 23])
  #expect(rows.allSatisfy { $0.spendMicros == 0 })
}

@Test func replanWithinActiveHours() throws {
  let campaign = try pacedCampaign(dayParting: [2: [9, 10, 11]])
  let rows = try PacingPlanner.replan(
    campaign: campaign, allocation: makeAllocation(campaign, 300), supply: flatSupply,
    planDate: "2026-03-10", spentMicros: 100, now: try utc("2026-03-10T10:00:00Z"))
  #expect(rows.count == 14)
  #expect(rows[0].spendMicros == 100)
  #expect(rows[1].spendMicros == 100)
  #expect(rows[2...].allSatisfy { $0.spendMicros == 0 })
}

@Test func replanRejectsNegativeSpend() throws {
  let campaign = try pacedCampaign()
  #expect(throws: AllocationError.self) {
    try PacingPlanner.replan(
      campaign: campaign, allocation: makeAllocation(campaign, 10), supply: flatSupply,
      planDate: "2026-03-10", spentMicros: -1, now: Date(timeIntervalSince1970: 0))
  }
}

@Test func replanAcrossDSTKeepsLocalHours() throws {
  let campaign = try pacedCampaign(zone: "America/New_York")
  let rows = try PacingPlanner.replan(
    campaign: campaign, allocation: makeAllocation(campaign, 2300), supply: flatSupply,
    planDate: "2026-03-08", spentMicros: 0, now: try utc("2026-03-08T06:00:00Z"))
  // 06:00Z is 01:00 EST; the rows left are local 1 and 3...23.
  #expect(rows.map(\.localHour) == [1] + Array(3..<24))
  #expect(rows.map(\.spendMicros).reduce(0, +) == 2300)
}
