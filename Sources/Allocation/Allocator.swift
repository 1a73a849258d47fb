// The daily budget allocator: splits a total budget over campaigns by equalizing marginal value.
// It reads forecasts handed to it and never touches files, clocks or the database.

/// An allocator of a day's total budget over campaigns.
///
/// Each campaign's response curve buys its supply segments best-first by value per micro, so it
/// is concave and piecewise linear. Equalizing marginal value maximizes the sum of such curves
/// under one budget exactly, because it meets the KKT conditions of the fractional problem.
/// Within a priority tier, all segments are therefore bought in one order by value per micro
/// until the budget or the caps stop them. Priorities are strict tiers, highest `priority`
/// first, and every minimum is reserved before any tier is filled.
public enum Allocator {
  /// Allocates `totalBudgetMicros` over `campaigns` for the local day `planDate` ("YYYY-MM-DD").
  ///
  /// The total allocated is exactly min(total budget, sum of caps, absorbable traffic). Paused
  /// campaigns, campaigns outside their flight, campaigns with no active hour and campaigns
  /// without traffic get 0. Only the share of a 24-hour day's `hourlyTraffic` that falls in the
  /// campaign's active hours of the plan day can be bought, so day-parting and a day of 23 or
  /// 25 hours both scale the forecast. A minimum above what the campaign's traffic can absorb
  /// is lowered to that amount, and the campaign's binding is `.traffic`. Leftover micros after
  /// rounding down go to the largest fractional parts, then to higher tiers, then to smaller ids.
  ///
  /// - Throws: `AllocationError` for an invalid plan date, a negative budget, duplicate ids,
  ///   invalid supply figures, or minimums that the budget cannot cover (naming the campaigns
  ///   and the shortfall).
  /// - Returns: one allocation per campaign, in input order.
  public static func allocate(
    campaigns: [Campaign], supply: [String: CampaignSupply], totalBudgetMicros: Int64,
    planDate: String
  ) throws(AllocationError) -> AllocationResult {
    let date = try parsePlanDate(planDate)
    try checkInputs(campaigns: campaigns, supply: supply, totalBudgetMicros: totalBudgetMicros)

    let entries = try makeEntries(campaigns: campaigns, supply: supply, date: date)
    let eligible = entries.indices.filter { entries[$0].exclusion == nil }
    let sumOfCaps = eligible.reduce(Int64(0)) { $0.addingSaturated(entries[$1].campaign.capMicros) }
    let absorbable = eligible.reduce(Int64(0)) { $0.addingSaturated(entries[$1].limitMicros) }
    let target = min(totalBudgetMicros, absorbable)

    let tierOrder = eligible.sorted { a, b in
      let (x, y) = (entries[a].campaign, entries[b].campaign)
      return x.priority != y.priority ? x.priority > y.priority : x.id < y.id
    }
    try checkMinimums(entries: entries, order: tierOrder, budgetMicros: totalBudgetMicros)

    let fractional = fill(entries: entries, order: tierOrder, budgetMicros: totalBudgetMicros)
    let amounts = roundToMicros(
      fractional, entries: entries, order: tierOrder, targetMicros: target)

    let ranks = rank(entries)
    var allocations: [CampaignAllocation] = []
    for (index, entry) in entries.enumerated() {
      allocations.append(
        describe(entry, amountMicros: amounts[index], rank: ranks[index]))
    }
    return AllocationResult(
      allocations: allocations, totalBudgetMicros: totalBudgetMicros,
      allocatedMicros: amounts.reduce(0, +), sumOfCapsMicros: sumOfCaps,
      absorbableMicros: absorbable)
  }

  /// Throws when the budget cannot cover every minimum, naming the campaigns left short.
  static func checkMinimums(entries: [Entry], order: [Int], budgetMicros: Int64)
    throws(AllocationError)
  {
    var left = budgetMicros
    var short: [(id: String, micros: Int64)] = []
    for index in order {
      let minimum = entries[index].minimumMicros
      let granted = min(left, minimum)
      left -= granted
      if granted < minimum {
        short.append((entries[index].campaign.id, minimum - granted))
      }
    }
    guard !short.isEmpty else { return }
    let total = short.reduce(Int64(0)) { $0.addingSaturated($1.micros) }
    let list = short.map { "'\($0.id)' short \($0.micros)" }.joined(separator: ", ")
    throw AllocationError(
      message: "minimums exceed the budget by \(total) micros: \(list)",
      campaignIds: short.map(\.id), shortfallMicros: total,
      fix: "raise the total budget or lower min_daily_micros of these campaigns")
  }

  /// Fills each tier in turn by value per micro after reserving every minimum, in real micros.
  static func fill(entries: [Entry], order: [Int], budgetMicros: Int64) -> [Double] {
    var amounts = [Double](repeating: 0, count: entries.count)
    var left = Double(budgetMicros)
    for index in order {
      amounts[index] = Double(entries[index].minimumMicros)
      left -= amounts[index]
    }

    var tierStart = 0
    while tierStart < order.count && left > 0 {
      let priority = entries[order[tierStart]].campaign.priority
      var tierEnd = tierStart
      while tierEnd < order.count && entries[order[tierEnd]].campaign.priority == priority {
        tierEnd += 1
      }
      fillTier(
        Array(order[tierStart..<tierEnd]), entries: entries, amounts: &amounts, left: &left)
      tierStart = tierEnd
    }
    return amounts
  }

  /// Buys the tier's remaining pieces in one order: value per micro descending, then campaign
  /// id, then the campaign's own curve order. Each campaign's minimum already bought its best
  /// pieces, so only what lies beyond it is offered.
  static func fillTier(
    _ tier: [Int], entries: [Entry], amounts: inout [Double], left: inout Double
  ) {
    var offers: [(campaign: Int, slope: Double, piece: Int, costMicros: Double)] = []
    for index in tier {
      var skip = amounts[index]
      for (position, piece) in entries[index].curve.pieces.enumerated() {
        let available = piece.costMicros - skip
        skip = max(0, skip - piece.costMicros)
        if available > 0 {
          offers.append((index, piece.slope, position, available))
        }
      }
    }
    offers.sort { a, b in
      if a.slope != b.slope { return a.slope > b.slope }
      let (x, y) = (entries[a.campaign].campaign.id, entries[b.campaign].campaign.id)
      return x != y ? x < y : a.piece < b.piece
    }
    for offer in offers {
      guard left > 0 else { return }
      let room = Double(entries[offer.campaign].campaign.capMicros) - amounts[offer.campaign]
      let take = min(offer.costMicros, room, left)
      if take > 0 {
        amounts[offer.campaign] += take
        left -= take
      }
    }
  }
}
