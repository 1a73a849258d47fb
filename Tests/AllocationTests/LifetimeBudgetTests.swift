// Tests of lifetime budgets: the share of what is left for one plan day over the remaining
// flight, and the limit it puts on a campaign's daily maximum and minimum.

import Allocation
import Testing

private func campaign(lifetime: Int64?, flightEnd: String?) -> Campaign {
  Campaign(
    id: "life", name: "life", dataset: "d", valuePerClickMicros: 1_000_000,
    dailyBudgetMicros: 5_000_000, minDailyMicros: 3_000_000, maxDailyMicros: 4_000_000,
    lifetimeBudgetMicros: lifetime, flightStart: "2026-03-01", flightEnd: flightEnd)
}

@Test func lifetimeShareSpreadsRemainderOverFlight() throws {
  let c = campaign(lifetime: 10_000_000, flightEnd: "2026-03-13")
  // 8,000,000 left over 10, 11, 12 and 13 March.
  #expect(try c.lifetimeShare(planDate: "2026-03-10", spentMicros: 2_000_000) == 2_000_000)
  // 7 micros over 3 days round down to 2 a day.
  #expect(try c.lifetimeShare(planDate: "2026-03-11", spentMicros: 9_999_993) == 2)
  // The last day gets all that is left.
  #expect(try c.lifetimeShare(planDate: "2026-03-13", spentMicros: 9_999_993) == 7)
}

@Test func lifetimeShareEdgeCases() throws {
  #expect(
    try campaign(lifetime: nil, flightEnd: nil).lifetimeShare(
      planDate: "2026-03-10", spentMicros: 0) == nil)
  #expect(
    try campaign(lifetime: 10_000_000, flightEnd: nil).lifetimeShare(
      planDate: "2026-03-10", spentMicros: 1_500_000) == 8_500_000)
  let ended = campaign(lifetime: 10_000_000, flightEnd: "2026-03-09")
  #expect(try ended.lifetimeShare(planDate: "2026-03-10", spentMicros: 0) == 0)
  let overspent = campaign(lifetime: 10_000_000, flightEnd: "2026-03-13")
  #expect(try overspent.lifetimeShare(planDate: "2026-03-10", spentMicros: 12_000_000) == 0)
}

@Test func lifetimeShareRejectsBadInput() {
  let c = campaign(lifetime: 10_000_000, flightEnd: "2026-03-13")
  #expect(throws: AllocationError.self) {
    try c.lifetimeShare(planDate: "2026-03-10", spentMicros: -1)
  }
  #expect(throws: AllocationError.self) {
    try c.lifetimeShare(planDate: "March 10", spentMicros: 0)
  }
}

@Test func lifetimeLimitLowersMaximumAndMinimum() throws {
  let c = campaign(lifetime: 10_000_000, flightEnd: "2026-03-13")
  // 4,000,000 left over 4 days: 1,000,000 a day, below both the maximum and the minimum.
  let limited = try c.limitedByLifetime(planDate: "2026-03-10", spentMicros: 6_000_000)
  #expect(limited.maxDailyMicros == 1_000_000)
  #expect(limited.minDailyMicros == 1_000_000)
  #expect(limited.capMicros == 1_000_000)
  // 2,500,000 a day is below the maximum, so it becomes the maximum.
  let shared = try c.limitedByLifetime(planDate: "2026-03-10", spentMicros: 0)
  #expect(shared.maxDailyMicros == 2_500_000)
  #expect(shared.minDailyMicros == 2_500_000)
  // 25,000,000 a day is above the maximum, which stays.
  let roomy = try campaign(lifetime: 100_000_000, flightEnd: "2026-03-13").limitedByLifetime(
    planDate: "2026-03-10", spentMicros: 0)
  #expect(roomy.maxDailyMicros == 4_000_000)
  #expect(roomy.minDailyMicros == 3_000_000)
  let unchanged = try campaign(lifetime: nil, flightEnd: nil).limitedByLifetime(
    planDate: "2026-03-10", spentMicros: 0)
  #expect(unchanged.maxDailyMicros == 4_000_000)
  #expect(unchanged.minDailyMicros == 3_000_000)
}
