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
  /// without traffic get 0. When a campaign's day-parting leaves only some hours, only those
  /// hours' share of its `hourlyTraffic` can be bought.
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

  // ---------------------------------------------------------------------------------------------

  /// A campaign with its curve, its limit and its minimum for the plan day.
  struct Entry {
    var campaign: Campaign
    /// The curve of the traffic in the campaign's active hours of the plan day.
    var curve: ResponseCurve
    /// The reason the campaign cannot spend on the plan day, or nil when it can.
    var exclusion: Binding?
    /// min(cap, cost of all its traffic), rounded down; 0 when excluded.
    var limitMicros: Int64
    /// min(minimum, limit): the minimum the campaign's traffic can take; 0 when excluded.
    var minimumMicros: Int64
  }

  static func parsePlanDate(_ text: String) throws(AllocationError) -> LocalDate {
    guard let date = LocalDate(text) else {
      throw AllocationError(
        message: "invalid plan date '\(text)'", fix: "write the plan date as YYYY-MM-DD")
    }
    return date
  }

  static func checkInputs(
    campaigns: [Campaign], supply: [String: CampaignSupply], totalBudgetMicros: Int64
  ) throws(AllocationError) {
    guard totalBudgetMicros >= 0 else {
      throw AllocationError(
        message: "total budget must be >= 0, got \(totalBudgetMicros)",
        fix: "pass a non-negative budget in micros")
    }
    var seen = Set<String>()
    for campaign in campaigns where !seen.insert(campaign.id).inserted {
      throw AllocationError(
        message: "duplicate campaign id '\(campaign.id)'", campaignIds: [campaign.id],
        fix: "give every campaign a unique id")
    }
    for campaign in campaigns {
      guard campaign.capMicros >= 0, campaign.minDailyMicros >= 0,
        campaign.valuePerClickMicros >= 0
      else {
        throw AllocationError(
          message: "campaign '\(campaign.id)' has a negative budget, minimum or value per click",
          campaignIds: [campaign.id], fix: "validate campaigns with CampaignFile before allocating")
      }
      for date in [campaign.flightStart, campaign.flightEnd] {
        if let date, LocalDate(date) == nil {
          throw AllocationError(
            message: "campaign '\(campaign.id)' has an invalid flight date '\(date)'",
            campaignIds: [campaign.id], fix: "write flight dates as YYYY-MM-DD")
        }
      }
      if let forecast = supply[campaign.id] {
        try checkSupply(forecast, campaignId: campaign.id)
      }
    }
  }

  static func checkSupply(_ forecast: CampaignSupply, campaignId: String) throws(AllocationError) {
    for (index, segment) in forecast.segments.enumerated() {
      let figures = [segment.impressions, segment.costMicros, segment.clicks]
      guard figures.allSatisfy({ $0.isFinite && $0 >= 0 }) else {
        throw AllocationError(
          message: "campaign '\(campaignId)': supply segment \(index) must have finite, "
            + "non-negative impressions, cost and clicks, got \(figures)",
          campaignIds: [campaignId], fix: "check the traffic forecast")
      }
    }
    let weights = forecast.hourlyTraffic
    guard weights.isEmpty || (weights.count == 24 && weights.allSatisfy { $0.isFinite && $0 >= 0 })
    else {
      throw AllocationError(
        message: "campaign '\(campaignId)': hourly traffic must have 24 finite, non-negative "
          + "weights, got \(weights.count) values",
        campaignIds: [campaignId], fix: "pass 24 weights by local hour, or none for uniform")
    }
  }

  /// Builds each campaign's entry: whether it can spend, and its curve over its active hours.
  static func makeEntries(
    campaigns: [Campaign], supply: [String: CampaignSupply], date: LocalDate
  ) throws(AllocationError) -> [Entry] {
    var days: [String: LocalDay] = [:]
    var entries: [Entry] = []
    entries.reserveCapacity(campaigns.count)
    for campaign in campaigns {
      let forecast = supply[campaign.id]
      let segments = forecast?.segments ?? []
      let vpc = campaign.valuePerClickMicros
      var exclusion: Binding? = nil
      var scale = 1.0

      if campaign.status != "active" || !isInFlight(campaign, on: date) {
        exclusion = .inactive
      } else if campaign.dayParting != nil {
        let day: LocalDay
        if let cached = days[campaign.timeZone.identifier] {
          day = cached
        } else {
          day = try LocalDay(date: date, timeZone: campaign.timeZone)
          days[campaign.timeZone.identifier] = day
        }
        scale = activeShare(day: day, campaign: campaign, hourlyTraffic: forecast?.hourlyTraffic)
        if !day.activeHours(campaign.dayParting).contains(true) {
          exclusion = .dayParting
        }
      }

      let curve = ResponseCurve(segments: segments, valuePerClickMicros: vpc, scale: scale)
      let unscaled = ResponseCurve(segments: segments, valuePerClickMicros: vpc)
      if exclusion == nil && curve.pieces.isEmpty {
        exclusion = .noTraffic
      }
      var limit: Int64 = 0
      if exclusion == nil {
        limit = min(campaign.capMicros, floorMicros(curve.totalCostMicros))
      }
      entries.append(
        Entry(
          campaign: campaign, curve: exclusion == nil ? curve : unscaled, exclusion: exclusion,
          limitMicros: limit, minimumMicros: min(campaign.minDailyMicros, limit)))
    }
    return entries
  }

  static func isInFlight(_ campaign: Campaign, on date: LocalDate) -> Bool {
    if let start = campaign.flightStart.flatMap(LocalDate.init), date < start {
      return false
    }
    if let end = campaign.flightEnd.flatMap(LocalDate.init), end < date {
      return false
    }
    return true
  }

  /// Returns the share of the day's traffic weight that falls in the campaign's active hours.
  static func activeShare(day: LocalDay, campaign: Campaign, hourlyTraffic: [Double]?) -> Double {
    let weights = day.trafficWeights(hourlyTraffic ?? [])
    let active = day.activeHours(campaign.dayParting)
    let total = weights.reduce(0, +)
    var inActive = 0.0
    for (weight, isActive) in zip(weights, active) where isActive {
      inActive += weight
    }
    return total > 0 ? inActive / total : 0
  }

  /// Rounds a non-negative micro amount down to Int64, saturating at Int64.max. A value within
  /// 1e-6 micros below an integer counts as that integer, so that sums of fractions such as
  /// 1000/3 + 1000/2 + 1000/6 (999.9999999999999 in Double) round to 1000.
  static func floorMicros(_ value: Double) -> Int64 {
    let floored = (value + 1e-6).rounded(.down)
    return floored >= 9.2e18 ? Int64.max : Int64(max(0, floored))
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

  /// Ranks campaigns (1 = best) by the value per micro of their best segment, ties by id.
  static func rank(_ entries: [Entry]) -> [Int] {
    let order = entries.indices.sorted { a, b in
      let (x, y) = (entries[a].curve.bestSlope, entries[b].curve.bestSlope)
      return x != y ? x > y : entries[a].campaign.id < entries[b].campaign.id
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
  /// Returns the sum, or Int64.max when it would overflow; sums of caps taken from files such
  /// as Int64.max budgets would otherwise trap. Both operands are non-negative here.
  func addingSaturated(_ other: Int64) -> Int64 {
    let (sum, overflow) = addingReportingOverflow(other)
    return overflow ? .max : sum
  }
}
