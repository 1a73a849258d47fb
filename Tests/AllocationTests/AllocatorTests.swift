// Tests of the allocator on hand-computed cases: caps, tiers, minimums, exclusions and totals.
// Brute-force comparisons live in AllocatorBruteForceTests.swift.

import Foundation
import Testing

@testable import Allocation

/// Returns a campaign with value 1000 micros per click and the given limits.
func makeCampaign(
  _ id: String, budget: Int64 = 1_000_000, minimum: Int64 = 0, maximum: Int64? = nil,
  priority: Int = 0, valuePerClick: Int64 = 1000
) -> Campaign {
  Campaign(
    id: id, name: id, dataset: "test", valuePerClickMicros: valuePerClick,
    dailyBudgetMicros: budget, minDailyMicros: minimum, maxDailyMicros: maximum,
    priority: priority)
}

/// Returns a supply from (impressions, cost, clicks) triples.
func makeSupply(_ id: String, _ segments: [(Double, Double, Double)], hourly: [Double] = [])
  -> CampaignSupply
{
  CampaignSupply(
    campaignId: id,
    segments: segments.map { SupplySegment(impressions: $0.0, costMicros: $0.1, clicks: $0.2) },
    hourlyTraffic: hourly)
}

/// Returns the allocation of `id` in `result`.
func allocation(_ id: String, in result: AllocationResult) throws -> CampaignAllocation {
  try #require(result.allocations.first { $0.campaignId == id })
}

private let planDate = "2026-03-10"  // a Tuesday

/// Campaign a: slopes 10 then 5 per micro; campaign b: slopes 8 then 1 (value 1000 per click).
private let handSupply = [
  "a": makeSupply("a", [(100, 200, 2), (100, 100, 0.5)]),
  "b": makeSupply("b", [(50, 100, 0.8), (100, 300, 0.3)]),
]

@Test func allocatorEqualizesMarginalValue() throws {
  let result = try Allocator.allocate(
    campaigns: [makeCampaign("a"), makeCampaign("b")], supply: handSupply,
    totalBudgetMicros: 350, planDate: planDate)
  // Order of purchase: a's slope 10 (200), b's slope 8 (100), a's slope 5 (the last 50).
  let a = try allocation("a", in: result)
  let b = try allocation("b", in: result)
  #expect(a.amountMicros == 250)
  #expect(b.amountMicros == 100)
  #expect(a.expectedValueMicros == 2250)
  #expect(a.expectedClicks == 2.25)
  #expect(a.expectedImpressions == 150)
  #expect(a.marginalValue == 5)
  #expect(a.binding == .budget)
  #expect(a.rank == 1)
  #expect(b.expectedValueMicros == 800)
  #expect(b.marginalValue == 1)
  #expect(b.binding == .budget)
  #expect(b.rank == 2)
  #expect(result.allocatedMicros == 350)
  #expect(result.absorbableMicros == 700)
  #expect(result.sumOfCapsMicros == 2_000_000)
}

@Test func allocatorReturnsInputOrder() throws {
  let result = try Allocator.allocate(
    campaigns: [makeCampaign("b"), makeCampaign("a")], supply: handSupply,
    totalBudgetMicros: 350, planDate: planDate)
  #expect(result.allocations.map(\.campaignId) == ["b", "a"])
}

@Test func allocatorRespectsCampaignCap() throws {
  let result = try Allocator.allocate(
    campaigns: [makeCampaign("a", budget: 120), makeCampaign("b", budget: 500, maximum: 60)],
    supply: handSupply, totalBudgetMicros: 1000, planDate: planDate)
  let a = try allocation("a", in: result)
  let b = try allocation("b", in: result)
  #expect(a.amountMicros == 120)
  #expect(a.capMicros == 120)
  #expect(a.binding == .cap)
  #expect(a.marginalValue == 10)
  #expect(b.amountMicros == 60)
  #expect(b.capMicros == 60)
  #expect(b.binding == .cap)
  #expect(result.sumOfCapsMicros == 180)
  #expect(result.allocatedMicros == 180)
}

@Test func allocatorStopsAtTraffic() throws {
  let result = try Allocator.allocate(
    campaigns: [makeCampaign("a"), makeCampaign("b")], supply: handSupply,
    totalBudgetMicros: 10_000, planDate: planDate)
  let a = try allocation("a", in: result)
  #expect(a.amountMicros == 300)
  #expect(a.binding == .traffic)
  #expect(a.marginalValue == 0)
  #expect(try allocation("b", in: result).amountMicros == 400)
  #expect(result.allocatedMicros == 700)
  #expect(result.absorbableMicros == 700)
}

@Test func allocatorServesHigherTierFirst() throws {
  // b has the worse curve but the higher priority: it is filled to its traffic first.
  let result = try Allocator.allocate(
    campaigns: [makeCampaign("a", priority: 0), makeCampaign("b", priority: 1)],
    supply: handSupply, totalBudgetMicros: 450, planDate: planDate)
  let a = try allocation("a", in: result)
  let b = try allocation("b", in: result)
  #expect(b.amountMicros == 400)
  #expect(b.binding == .traffic)
  #expect(a.amountMicros == 50)
  #expect(a.binding == .budget)
  #expect(a.expectedValueMicros == 500)
}

@Test func allocatorLowerTierGetsNothingWhenBudgetShort() throws {
  let result = try Allocator.allocate(
    campaigns: [makeCampaign("a", priority: -1), makeCampaign("b", priority: 3)],
    supply: handSupply, totalBudgetMicros: 250, planDate: planDate)
  #expect(try allocation("b", in: result).amountMicros == 250)
  #expect(try allocation("a", in: result).amountMicros == 0)
  #expect(try allocation("a", in: result).binding == .budget)
}

@Test func allocatorMeetsMinimumsFirst() throws {
  // b's minimum of 150 buys its slope-8 piece and half of its slope-1 piece; the remaining
  // 100 go to a's best piece.
  let result = try Allocator.allocate(
    campaigns: [makeCampaign("a"), makeCampaign("b", minimum: 150)], supply: handSupply,
    totalBudgetMicros: 250, planDate: planDate)
  let a = try allocation("a", in: result)
  let b = try allocation("b", in: result)
  #expect(b.amountMicros == 150)
  #expect(b.binding == .minimum)
  #expect(b.expectedValueMicros == 850)
  #expect(a.amountMicros == 100)
  #expect(a.binding == .budget)
}

@Test func allocatorMeetsLowerTierMinimumBeforeHigherTier() throws {
  let result = try Allocator.allocate(
    campaigns: [makeCampaign("a", priority: 1), makeCampaign("b", minimum: 50, priority: 0)],
    supply: handSupply, totalBudgetMicros: 300, planDate: planDate)
  #expect(try allocation("b", in: result).amountMicros == 50)
  #expect(try allocation("a", in: result).amountMicros == 250)
}

@Test func allocatorReportsUnmetMinimums() throws {
  let campaigns = [
    makeCampaign("a", minimum: 200, priority: 1),
    makeCampaign("b", minimum: 100),
    makeCampaign("c", minimum: 50),
  ]
  let supply = handSupply.merging(["c": makeSupply("c", [(10, 100, 1)])]) { $1 }
  do {
    _ = try Allocator.allocate(
      campaigns: campaigns, supply: supply, totalBudgetMicros: 260, planDate: planDate)
    Issue.record("allocated with unmet minimums")
  } catch {
    // a takes 200 (higher tier), b gets 60 of 100, c gets nothing of 50.
    #expect(error.campaignIds == ["b", "c"])
    #expect(error.shortfallMicros == 90)
    #expect(
      error.description
        == "minimums exceed the budget by 90 micros: 'b' short 40, 'c' short 50; "
        + "raise the total budget or lower min_daily_micros of these campaigns")
  }
}

@Test func allocatorLimitsMinimumToTraffic() throws {
  // a's traffic costs 300 in all, so its minimum of 1000 is met by 300.
  let result = try Allocator.allocate(
    campaigns: [makeCampaign("a", minimum: 1000)], supply: handSupply,
    totalBudgetMicros: 300, planDate: planDate)
  #expect(try allocation("a", in: result).amountMicros == 300)
  #expect(try allocation("a", in: result).binding == .traffic)
}

@Test func allocatorZeroBudgetGivesZeros() throws {
  let result = try Allocator.allocate(
    campaigns: [makeCampaign("a"), makeCampaign("b")], supply: handSupply,
    totalBudgetMicros: 0, planDate: planDate)
  #expect(result.allocatedMicros == 0)
  for item in result.allocations {
    #expect(item.amountMicros == 0)
    #expect(item.expectedValueMicros == 0)
    #expect(item.binding == .budget)
  }
  #expect(try allocation("a", in: result).marginalValue == 10)
}

@Test func allocatorWithoutTrafficGivesZero() throws {
  let supply = ["b": makeSupply("b", [(10, 0, 1)])]
  let result = try Allocator.allocate(
    campaigns: [makeCampaign("a"), makeCampaign("b")], supply: supply,
    totalBudgetMicros: 1000, planDate: planDate)
  #expect(try allocation("a", in: result).binding == .noTraffic)
  #expect(try allocation("b", in: result).binding == .noTraffic)
  #expect(result.allocatedMicros == 0)
  #expect(result.absorbableMicros == 0)
  #expect(result.sumOfCapsMicros == 0)
}

@Test func allocatorExcludesPausedAndOutOfFlight() throws {
  var paused = makeCampaign("a")
  paused.status = "paused"
  var ended = makeCampaign("b")
  ended.flightEnd = "2026-03-09"
  var future = makeCampaign("c")
  future.flightStart = "2026-03-11"
  var lastDay = makeCampaign("d")
  lastDay.flightStart = "2026-03-10"
  lastDay.flightEnd = "2026-03-10"
  let supply = handSupply.merging([
    "c": makeSupply("c", [(100, 200, 2)]), "d": makeSupply("d", [(100, 200, 2)]),
  ]) { $1 }
  let result = try Allocator.allocate(
    campaigns: [paused, ended, future, lastDay], supply: supply, totalBudgetMicros: 1000,
    planDate: planDate)
  for id in ["a", "b", "c"] {
    #expect(try allocation(id, in: result).amountMicros == 0)
    #expect(try allocation(id, in: result).binding == .inactive)
  }
  #expect(try allocation("d", in: result).amountMicros == 200)
  #expect(try allocation("d", in: result).binding == .traffic)
  #expect(result.sumOfCapsMicros == 1_000_000)
}

@Test func allocatorExcludesDayPartingWithoutHours() throws {
  var campaign = makeCampaign("a")
  campaign.dayParting = [1: Set(0..<24)]  // Mondays only; the plan day is a Tuesday.
  let result = try Allocator.allocate(
    campaigns: [campaign], supply: handSupply, totalBudgetMicros: 1000, planDate: planDate)
  #expect(try allocation("a", in: result).amountMicros == 0)
  #expect(try allocation("a", in: result).binding == .dayParting)
}

@Test func allocatorExcludesSkippedLocalDay() throws {
  // Samoa moved across the date line, so 2011-12-30 never happened in Pacific/Apia.
  var samoa = makeCampaign("a")
  samoa.timeZone = try #require(TimeZone(identifier: "Pacific/Apia"))
  let result = try Allocator.allocate(
    campaigns: [samoa, makeCampaign("b")], supply: handSupply, totalBudgetMicros: 1000,
    planDate: "2011-12-30")
  #expect(try allocation("a", in: result).amountMicros == 0)
  #expect(try allocation("a", in: result).binding == .noLocalDay)
  #expect(try allocation("b", in: result).amountMicros > 0)
  let rows = try PacingPlanner.plan(
    campaign: samoa, allocation: try allocation("a", in: result), supply: handSupply["a"]!,
    planDate: "2011-12-30")
  #expect(rows.isEmpty)
}

@Test func allocatorScalesTrafficToActiveHours() throws {
  // Six of 24 equally weighted hours are active, so a quarter of the traffic can be bought.
  var campaign = makeCampaign("a")
  campaign.dayParting = [2: Set(9..<15)]
  let supply = ["a": makeSupply("a", [(1000, 2000, 20)])]
  let result = try Allocator.allocate(
    campaigns: [campaign], supply: supply, totalBudgetMicros: 10_000, planDate: planDate)
  let a = try allocation("a", in: result)
  #expect(a.amountMicros == 500)
  #expect(a.binding == .traffic)
  #expect(a.expectedClicks == 5)
  #expect(result.absorbableMicros == 500)
}

@Test func allocatorWeighsActiveHoursByTraffic() throws {
  var campaign = makeCampaign("a")
  campaign.dayParting = [2: [0]]
  var hourly = [Double](repeating: 1, count: 24)
  hourly[0] = 9  // hour 0 has 9 of the 32 weight units.
  let supply = ["a": makeSupply("a", [(3200, 3200, 32)], hourly: hourly)]
  let result = try Allocator.allocate(
    campaigns: [campaign], supply: supply, totalBudgetMicros: 10_000, planDate: planDate)
  #expect(try allocation("a", in: result).amountMicros == 900)
}

/// One totals case: budget, caps and total traffic cost of each campaign, and the expected sum.
struct TotalsCase: Sendable, CustomStringConvertible {
  var budget: Int64
  var caps: [Int64]
  var trafficCosts: [Double]
  var absorbable: Int64
  var allocated: Int64
  var description: String { "budget \(budget) caps \(caps) traffic \(trafficCosts)" }
}

@Test(arguments: [
  TotalsCase(
    budget: 1000, caps: [300, 300], trafficCosts: [1000, 1000], absorbable: 600,
    allocated: 600),
  TotalsCase(
    budget: 1000, caps: [5000, 5000], trafficCosts: [200.5, 300.7], absorbable: 500,
    allocated: 500),
  TotalsCase(
    budget: 333, caps: [5000, 5000, 5000], trafficCosts: [1000, 1000, 1000],
    absorbable: 3000, allocated: 333),
  TotalsCase(
    budget: 1001, caps: [400, 400, 400], trafficCosts: [350.9, 1000, 0.4],
    absorbable: 750, allocated: 750),
  TotalsCase(
    budget: 7, caps: [3, 3, 3], trafficCosts: [3.3, 3.3, 3.3], absorbable: 9,
    allocated: 7),
  TotalsCase(budget: 0, caps: [10], trafficCosts: [10], absorbable: 10, allocated: 0),
  TotalsCase(budget: 100, caps: [0, 0], trafficCosts: [100, 100], absorbable: 0, allocated: 0),
  TotalsCase(
    budget: 1_000_000_007, caps: [400_000_001, 900_000_000],
    trafficCosts: [1e9 / 3, 7e8 + 0.5], absorbable: 1_033_333_333, allocated: 1_000_000_007),
])
func allocatorTotalIsMinimumOfLimits(_ totals: TotalsCase) throws {
  var campaigns: [Campaign] = []
  var supply: [String: CampaignSupply] = [:]
  for (index, cap) in totals.caps.enumerated() {
    let id = "c\(index)"
    campaigns.append(makeCampaign(id, budget: cap))
    // Three bands of different slopes so that the fill splits pieces.
    let cost = totals.trafficCosts[index]
    supply[id] = makeSupply(
      id,
      [
        (cost / 3, cost / 3, Double(index + 1)), (cost / 2, cost / 2, 0.7),
        (cost / 6, cost / 6, 0.01 * Double(index + 1)),
      ])
  }
  let result = try Allocator.allocate(
    campaigns: campaigns, supply: supply, totalBudgetMicros: totals.budget, planDate: planDate)
  #expect(result.absorbableMicros == totals.absorbable)
  #expect(result.allocatedMicros == totals.allocated)
  #expect(result.allocations.map(\.amountMicros).reduce(0, +) == totals.allocated)
  #expect(result.allocatedMicros == min(totals.budget, result.sumOfCapsMicros, totals.absorbable))
  for (item, cap) in zip(result.allocations, totals.caps) {
    #expect(item.amountMicros <= cap)
    #expect(item.amountMicros >= 0)
  }
}

@Test func allocatorRanksByBestSegmentThenId() throws {
  let supply = [
    "x": makeSupply("x", [(10, 100, 1)]),
    "y": makeSupply("y", [(10, 100, 2)]),
    "w": makeSupply("w", [(10, 100, 1)]),
  ]
  let result = try Allocator.allocate(
    campaigns: [makeCampaign("x"), makeCampaign("y"), makeCampaign("w"), makeCampaign("z")],
    supply: supply, totalBudgetMicros: 0, planDate: planDate)
  #expect(result.allocations.map(\.rank) == [3, 1, 2, 4])
}

@Test func allocatorRejectsInvalidPlanDate() {
  #expect(throws: AllocationError.self) {
    try Allocator.allocate(
      campaigns: [], supply: [:], totalBudgetMicros: 0, planDate: "2026-13-01")
  }
}

@Test func allocatorRejectsNegativeBudget() {
  #expect(throws: AllocationError.self) {
    try Allocator.allocate(
      campaigns: [makeCampaign("a")], supply: handSupply, totalBudgetMicros: -1,
      planDate: planDate)
  }
}

@Test func allocatorRejectsDuplicateIds() throws {
  do {
    _ = try Allocator.allocate(
      campaigns: [makeCampaign("a"), makeCampaign("a")], supply: handSupply,
      totalBudgetMicros: 1, planDate: planDate)
    Issue.record("accepted duplicate ids")
  } catch {
    #expect(error.campaignIds == ["a"])
  }
}

@Test func allocatorRejectsInvalidSupply() {
  let negative = ["a": makeSupply("a", [(10, -5, 1)])]
  #expect(throws: AllocationError.self) {
    try Allocator.allocate(
      campaigns: [makeCampaign("a")], supply: negative, totalBudgetMicros: 1, planDate: planDate)
  }
  let shortHours = ["a": makeSupply("a", [(10, 5, 1)], hourly: [1, 2, 3])]
  #expect(throws: AllocationError.self) {
    try Allocator.allocate(
      campaigns: [makeCampaign("a")], supply: shortHours, totalBudgetMicros: 1,
      planDate: planDate)
  }
}

@Test func allocatorSumsHugeCapsWithoutOverflow() throws {
  let supply = [
    "a": makeSupply("a", [(1e6, 1e19, 1e3)]), "b": makeSupply("b", [(1e6, 1e19, 2e3)]),
  ]
  let result = try Allocator.allocate(
    campaigns: [makeCampaign("a", budget: Int64.max), makeCampaign("b", budget: Int64.max)],
    supply: supply, totalBudgetMicros: 1_000_000, planDate: planDate)
  #expect(result.sumOfCapsMicros == Int64.max)
  #expect(result.absorbableMicros == Int64.max)
  #expect(result.allocatedMicros == 1_000_000)
  #expect(try allocation("b", in: result).amountMicros == 1_000_000)
}

@Test func allocatorRejectsInvalidFlightDate() throws {
  var campaign = makeCampaign("a")
  campaign.flightEnd = "2026-02-30"
  do {
    _ = try Allocator.allocate(
      campaigns: [campaign], supply: handSupply, totalBudgetMicros: 1, planDate: planDate)
    Issue.record("accepted an invalid flight date")
  } catch {
    #expect(error.campaignIds == ["a"])
    #expect(error.message == "campaign 'a' has an invalid flight date '2026-02-30'")
  }
}

@Test func allocatorBreaksTiesById() throws {
  let supply = [
    "c2": makeSupply("c2", [(50, 50, 1)]), "c0": makeSupply("c0", [(50, 50, 1)]),
    "c1": makeSupply("c1", [(50, 50, 1)]),
  ]
  let campaigns = [makeCampaign("c2"), makeCampaign("c1"), makeCampaign("c0")]
  let result = try Allocator.allocate(
    campaigns: campaigns, supply: supply, totalBudgetMicros: 75, planDate: planDate)
  #expect(result.allocations.map(\.amountMicros) == [0, 25, 50])
  #expect(result.allocations.map(\.rank) == [3, 2, 1])
  let again = try Allocator.allocate(
    campaigns: campaigns.reversed(), supply: supply, totalBudgetMicros: 75, planDate: planDate)
  #expect(again.allocations.map(\.amountMicros) == [50, 25, 0])
}

@Test func allocationAndEvenPlanAgree() throws {
  var campaign = makeCampaign("a")
  campaign.timeZone = try #require(TimeZone(identifier: "Europe/Berlin"))
  campaign.dayParting = [2: Set(8..<22)]
  let hourly = (0..<24).map { 1 + Double(($0 * 7) % 5) }
  let supply = ["a": makeSupply("a", [(5000, 9000, 90), (8000, 12000, 20)], hourly: hourly)]
  let result = try Allocator.allocate(
    campaigns: [campaign], supply: supply, totalBudgetMicros: 7777, planDate: planDate)
  let item = try allocation("a", in: result)
  #expect(item.amountMicros == 7777)
  let rows = try PacingPlanner.plan(
    campaign: campaign, allocation: item, supply: try #require(supply["a"]), planDate: planDate)
  #expect(rows.map(\.spendMicros).reduce(0, +) == 7777)
  let impressions = rows.map(\.impressions).reduce(0, +)
  let clicks = rows.map(\.expectedClicks).reduce(0, +)
  #expect(abs(impressions - item.expectedImpressions) < 1e-3 * item.expectedImpressions)
  #expect(abs(clicks - item.expectedClicks) < 1e-3 * item.expectedClicks)
  for row in rows where !(8..<22).contains(row.localHour) {
    #expect(row.spendMicros == 0)
  }
}

/// A local day whose length differs from 24 hours: zone, date, and the traffic cost of a day
/// whose 24 hours cost 2400 micros.
struct DayLengthCase: Sendable, CustomStringConvertible {
  var zone: String
  var date: String
  var costMicros: Int64
  var description: String { "\(zone) \(date)" }
}

@Test(arguments: [
  DayLengthCase(zone: "America/New_York", date: "2026-03-08", costMicros: 2300),
  DayLengthCase(zone: "America/New_York", date: "2026-11-01", costMicros: 2500),
  DayLengthCase(zone: "America/New_York", date: "2026-07-01", costMicros: 2400),
  DayLengthCase(zone: "Australia/Lord_Howe", date: "2026-04-05", costMicros: 2450),
  DayLengthCase(zone: "Australia/Lord_Howe", date: "2026-10-04", costMicros: 2350),
])
func allocationFollowsDayLength(_ day: DayLengthCase) throws {
  // 2400 impressions at 1 micro over 24 hours: 100 micros of traffic in each whole hour.
  var campaign = makeCampaign("a", budget: 10_000)
  campaign.timeZone = try #require(TimeZone(identifier: day.zone))
  let supply = ["a": makeSupply("a", [(2400, 2400, 24)])]
  let result = try Allocator.allocate(
    campaigns: [campaign], supply: supply, totalBudgetMicros: 10_000, planDate: day.date)
  let item = try allocation("a", in: result)
  #expect(item.amountMicros == day.costMicros)
  #expect(item.binding == .traffic)

  let rows = try PacingPlanner.plan(
    campaign: campaign, allocation: item, supply: try #require(supply["a"]), planDate: day.date)
  #expect(rows.map(\.spendMicros).reduce(0, +) == day.costMicros)
  for row in rows.dropLast() {
    #expect(row.spendMicros == 100, "hour from \(row.hourStart)")
    #expect(abs(row.impressions - 100) < 1e-9, "hour from \(row.hourStart)")
  }
  // Lord Howe's change days end with half an hour.
  let last = try #require(rows.last)
  #expect(last.spendMicros == (day.costMicros % 100 == 0 ? 100 : 50))
}

@Test func bindingRawValuesAreSnakeCase() {
  #expect(
    Binding.allCases.map(\.rawValue) == [
      "budget", "cap", "minimum", "traffic", "no_traffic", "day_parting", "inactive",
      "no_local_day",
    ])
}

@Test func allocatorRanksTiersThenExcludedLast() throws {
  var paused = makeCampaign("a-paused")
  paused.status = "paused"
  let supply = [
    "a-paused": makeSupply("a-paused", [(10, 100, 5)]),
    "b-low": makeSupply("b-low", [(10, 100, 3)]),
    "c-high": makeSupply("c-high", [(10, 100, 1)]),
  ]
  let result = try Allocator.allocate(
    campaigns: [paused, makeCampaign("b-low"), makeCampaign("c-high", priority: 2)],
    supply: supply, totalBudgetMicros: 100, planDate: planDate)
  // The higher tier ranks first despite its worse curve; the paused campaign ranks last.
  #expect(result.allocations.map(\.rank) == [3, 2, 1])
}
