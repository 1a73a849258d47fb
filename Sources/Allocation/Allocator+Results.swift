// Allocator results: rounding to integer micros, ranks, and what each amount buys and why.
// The amounts come from the fill in Allocator.swift; nothing here moves value between tiers.

extension Allocator {
  /// Rounds a non-negative micro amount down to Int64, saturating at Int64.max. A value within
  /// 1e-6 micros below an integer counts as that integer, so that sums of fractions such as
  /// 1000/3 + 1000/2 + 1000/6 (999.9999999999999 in Double) round to 1000.
  static func floorMicros(_ value: Double) -> Int64 {
    let floored = (value + 1e-6).rounded(.down)
    return floored >= 9.2e18 ? Int64.max : Int64(max(0, floored))
  }

  /// Rounds the real amounts down to micros, then moves single micros until they add up to
  /// `targetMicros`: additions go to the largest fractional parts first, then higher tiers;
  /// removals (only from floating-point excess) take from the smallest parts, lowest tiers.
  /// Every amount stays between the campaign's minimum and its limit.
  static func roundToMicros(
    _ fractional: [Double], entries: [Entry], order: [Int], targetMicros: Int64
  ) -> [Int64] {
    var amounts = [Int64](repeating: 0, count: entries.count)
    var remainders = [Double](repeating: 0, count: entries.count)
    for index in order {
      let entry = entries[index]
      let floored = min(max(floorMicros(fractional[index]), entry.minimumMicros), entry.limitMicros)
      amounts[index] = floored
      remainders[index] = fractional[index] - Double(floored)
    }
    var difference = targetMicros - order.reduce(Int64(0)) { $0.addingSaturated(amounts[$1]) }

    let tierRank = Dictionary(uniqueKeysWithValues: order.enumerated().map { ($1, $0) })
    let byRemainder = order.sorted { a, b in
      remainders[a] != remainders[b]
        ? remainders[a] > remainders[b] : (tierRank[a] ?? 0) < (tierRank[b] ?? 0)
    }
    while difference > 0 {
      var moved = false
      for index in byRemainder where difference > 0 && amounts[index] < entries[index].limitMicros {
        amounts[index] += 1
        difference -= 1
        moved = true
      }
      if !moved { break }
    }
    while difference < 0 {
      var moved = false
      for index in byRemainder.reversed()
      where difference < 0 && amounts[index] > entries[index].minimumMicros {
        amounts[index] -= 1
        difference += 1
        moved = true
      }
      if !moved { break }
    }
    return amounts
  }

  /// Ranks campaigns (1 = best): campaigns that can spend before excluded ones, then higher
  /// priority tiers first, then by the value per micro of their best segment, ties by id.
  static func rank(_ entries: [Entry]) -> [Int] {
    let order = entries.indices.sorted { a, b in
      let (first, second) = (entries[a], entries[b])
      if (first.exclusion == nil) != (second.exclusion == nil) {
        return first.exclusion == nil
      }
      if first.campaign.priority != second.campaign.priority {
        return first.campaign.priority > second.campaign.priority
      }
      let (x, y) = (first.curve.bestSlope, second.curve.bestSlope)
      return x != y ? x > y : first.campaign.id < second.campaign.id
    }
    var ranks = [Int](repeating: 0, count: entries.count)
    for (position, index) in order.enumerated() {
      ranks[index] = position + 1
    }
    return ranks
  }

  /// Describes what the amount buys and which limit decided it.
  static func describe(_ entry: Entry, amountMicros: Int64, rank: Int) -> CampaignAllocation {
    let campaign = entry.campaign
    let purchase = entry.curve.purchase(Double(amountMicros))
    let binding: Binding
    if let exclusion = entry.exclusion {
      binding = exclusion
    } else if amountMicros >= campaign.capMicros {
      binding = .cap
    } else if amountMicros >= entry.limitMicros {
      binding = .traffic
    } else if entry.minimumMicros > 0 && amountMicros <= entry.minimumMicros {
      binding = .minimum
    } else {
      binding = .budget
    }
    return CampaignAllocation(
      campaignId: campaign.id, amountMicros: amountMicros, capMicros: campaign.capMicros,
      expectedValueMicros: purchase.valueMicros, expectedClicks: purchase.clicks,
      expectedImpressions: purchase.impressions, rank: rank,
      marginalValue: purchase.marginalValue, binding: binding)
  }
}

extension Int64 {
  /// Returns the sum, or Int64.max when it would overflow. Caps of Int64.max are valid in
  /// campaign files, so plain sums of caps could trap. Both operands are non-negative here.
  func addingSaturated(_ other: Int64) -> Int64 {
    let (sum, overflow) = addingReportingOverflow(other)
    return overflow ? .max : sum
  }
}
