// Tests of the allocator against exhaustive search over integer micros on small random cases.
// The search uses no marginal values and tries every split of the budget.

import Testing

@testable import Allocation

/// SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number generators", 2014),
/// so that the random cases are the same on every run and platform.
struct SplitMix64 {
  var state: UInt64

  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  mutating func int(_ range: ClosedRange<Int>) -> Int {
    range.lowerBound + Int(next() % UInt64(range.count))
  }

  mutating func unit() -> Double {
    Double(next() >> 11) / Double(1 << 53)
  }
}

/// Returns the value bought by `spend` on segments bought best-first by clicks per micro.
func bruteValue(_ segments: [SupplySegment], valuePerClick: Int64, spend: Double) -> Double {
  let order = segments.indices.filter { segments[$0].costMicros > 0 }.sorted { a, b in
    let (x, y) = (
      segments[a].clicks / segments[a].costMicros,
      segments[b].clicks / segments[b].costMicros
    )
    return x != y ? x > y : a < b
  }
  var left = spend
  var value = 0.0
  for index in order where left > 0 {
    let take = min(left, segments[index].costMicros)
    value += take / segments[index].costMicros * segments[index].clicks * Double(valuePerClick)
    left -= take
  }
  return value
}

/// A random case: campaigns, their supply and a budget.
struct RandomCase {
  var campaigns: [Campaign]
  var supply: [String: CampaignSupply]
  var budget: Int64
  /// The largest cost of one impression in each campaign's segments.
  var impressionCosts: [Double]

  init(seed: UInt64, tiers: Bool, minimums: Bool) {
    var random = SplitMix64(state: seed)
    let count = random.int(2...3)
    campaigns = []
    supply = [:]
    impressionCosts = []
    for index in 0..<count {
      let id = "c\(index)"
      var segments: [SupplySegment] = []
      var largestCost = 0.0
      for _ in 0..<random.int(1...3) {
        let impressions = Double(random.int(5...20))
        let costPerImpression = Double(random.int(1...4))
        let pctr = 0.001 + 0.2 * random.unit()
        segments.append(
          SupplySegment(
            impressions: impressions, costMicros: impressions * costPerImpression,
            clicks: impressions * pctr))
        largestCost = max(largestCost, costPerImpression)
      }
      let cap = Int64(random.int(0...70))
      let minimum =
        minimums && random.int(0...2) == 0 ? Int64(random.int(0...Int(min(cap, 25)))) : 0
      campaigns.append(
        Campaign(
          id: id, name: id, dataset: "test", valuePerClickMicros: Int64(random.int(100...2000)),
          dailyBudgetMicros: cap, minDailyMicros: minimum,
          priority: tiers ? random.int(0...1) : 0))
      supply[id] = CampaignSupply(campaignId: id, segments: segments)
      impressionCosts.append(largestCost)
    }
    budget = Int64(random.int(0...150))
  }
}

/// Finds the best integer allocation by exhaustive search over every split of the target among
/// campaigns, each between its minimum and its limit. Splits are ranked by the spend of each
/// tier from the highest tier down, then by total value. Returns nil when the minimums do not
/// fit in the budget.
func bruteForce(_ test: RandomCase) -> (amounts: [Int64], value: Double)? {
  let campaigns = test.campaigns
  let limits = campaigns.map { campaign in
    let cost = test.supply[campaign.id]?.segments.reduce(0) { $0 + $1.costMicros } ?? 0
    return min(campaign.capMicros, Int64(cost))
  }
  let minimums = zip(campaigns, limits).map { min($0.minDailyMicros, $1) }
  guard minimums.reduce(0, +) <= test.budget else { return nil }
  let target = min(test.budget, limits.reduce(0, +))
  let tiers = Set(campaigns.map(\.priority)).sorted(by: >)

  var best: (amounts: [Int64], score: [Double])? = nil
  var amounts = [Int64](repeating: 0, count: campaigns.count)
  func search(_ index: Int, _ left: Int64) {
    if index == campaigns.count - 1 {
      guard left >= minimums[index], left <= limits[index] else { return }
      amounts[index] = left
      var score = tiers.map { tier in
        Double(zip(campaigns, amounts).filter { $0.0.priority == tier }.map(\.1).reduce(0, +))
      }
      score.append(value(amounts))
      if best == nil || score.lexicographicallyPrecedes(best?.score ?? [], by: >) {
        best = (amounts, score)
      }
      return
    }
    var amount = minimums[index]
    while amount <= min(limits[index], left) {
      amounts[index] = amount
      search(index + 1, left - amount)
      amount += 1
    }
  }
  func value(_ amounts: [Int64]) -> Double {
    zip(campaigns, amounts).reduce(0) { total, pair in
      let segments = test.supply[pair.0.id]?.segments ?? []
      return total
        + bruteValue(segments, valuePerClick: pair.0.valuePerClickMicros, spend: Double(pair.1))
    }
  }
  search(0, target)
  guard let best else { return nil }
  return (best.amounts, value(best.amounts))
}

/// Checks the allocator against exhaustive search on one random case.
func checkAgainstBruteForce(_ test: RandomCase) throws {
  guard let expected = bruteForce(test) else {
    #expect(throws: AllocationError.self) {
      try Allocator.allocate(
        campaigns: test.campaigns, supply: test.supply, totalBudgetMicros: test.budget,
        planDate: "2026-03-10")
    }
    return
  }
  let result = try Allocator.allocate(
    campaigns: test.campaigns, supply: test.supply, totalBudgetMicros: test.budget,
    planDate: "2026-03-10")
  let amounts = result.allocations.map(\.amountMicros)
  #expect(amounts.reduce(0, +) == expected.amounts.reduce(0, +))
  #expect(result.allocatedMicros == expected.amounts.reduce(0, +))

  // Rounding to micros may cost each campaign at most one micro at its steepest slope.
  var tolerance = 1e-9
  var value = 0.0
  for (index, campaign) in test.campaigns.enumerated() {
    let segments = test.supply[campaign.id]?.segments ?? []
    let steepest = segments.map { $0.clicks / $0.costMicros }.max() ?? 0
    tolerance += steepest * Double(campaign.valuePerClickMicros)
    value += bruteValue(
      segments, valuePerClick: campaign.valuePerClickMicros, spend: Double(amounts[index]))
    #expect(
      abs(Double(amounts[index] - expected.amounts[index])) <= test.impressionCosts[index],
      "campaign \(campaign.id): allocator \(amounts[index]), search \(expected.amounts[index])")
    #expect(amounts[index] <= campaign.capMicros)
  }
  #expect(value >= expected.value - tolerance)
  #expect(abs(value - result.allocations.map(\.expectedValueMicros).reduce(0, +)) < 1e-6)
}

@Test(arguments: 0..<150)
func allocatorMatchesBruteForceOneTier(seed: Int) throws {
  try checkAgainstBruteForce(RandomCase(seed: UInt64(seed), tiers: false, minimums: false))
}

@Test(arguments: 0..<100)
func allocatorMatchesBruteForceWithTiers(seed: Int) throws {
  try checkAgainstBruteForce(RandomCase(seed: UInt64(1000 + seed), tiers: true, minimums: false))
}

@Test(arguments: 0..<100)
func allocatorMatchesBruteForceWithMinimums(seed: Int) throws {
  try checkAgainstBruteForce(RandomCase(seed: UInt64(2000 + seed), tiers: true, minimums: true))
}
