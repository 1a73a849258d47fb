// The pacing planner: spreads a campaign's daily amount over the hours of its local day.
// It reads the allocation and forecast handed to it and never touches files or the database.

import Foundation

/// An hourly plan row: what a campaign should spend in one local hour and how to deliver it.
public struct HourlyPlanRow: Sendable, Equatable {
  /// The start of the hour as an instant (print it in UTC).
  public var hourStart: Date
  /// The local hour of day, 0...23, in the campaign's time zone (repeated on a 25-hour day).
  public var localHour: Int
  /// The planned spend in micros.
  public var spendMicros: Int64
  /// The impressions the spend buys.
  public var impressions: Double
  /// The expected clicks of those impressions.
  public var expectedClicks: Double
  /// The pCTR of the lowest band bought at this spend (1 when the hour buys nothing).
  public var pctrThreshold: Double
  /// The fraction of the hour's eligible impressions to buy, 0...1.
  public var throttleRate: Double
  /// The lowest value per micro of cost (pCTR x value per click / cost) that the spend buys:
  /// an impression at or above it is bought while the hour has budget left. It is infinite
  /// when the hour buys nothing and 0 when the spend buys all of the hour's traffic.
  public var valuePerMicroThreshold: Double

  /// Creates a row.
  public init(
    hourStart: Date, localHour: Int, spendMicros: Int64, impressions: Double,
    expectedClicks: Double, pctrThreshold: Double, throttleRate: Double,
    valuePerMicroThreshold: Double = 0
  ) {
    self.hourStart = hourStart
    self.localHour = localHour
    self.spendMicros = spendMicros
    self.impressions = impressions
    self.expectedClicks = expectedClicks
    self.pctrThreshold = pctrThreshold
    self.throttleRate = throttleRate
    self.valuePerMicroThreshold = valuePerMicroThreshold
  }
}

/// A planner of hourly spend over a campaign's local plan day.
///
/// The plan day is the campaign's own local day in its time zone, so it has 23, 24 or 25 hours
/// around DST changes. Supply segments describe a local day of 24 hours. An hour's share of them
/// is its `hourlyTraffic` weight over the sum of the 24 weights, so a day of 23 or 25 hours has
/// that many hours of traffic. An hour's capacity (the most it can absorb) is its share of the
/// segments' cost. Hourly spends are integer micros that add up exactly to the amount, by
/// largest-remainder rounding with ties going to the earlier hour.
///
/// - `even`: spend in proportion to each active hour's traffic weight.
/// - `frontLoaded`: the same weights times a multiplier that falls linearly from 1.5 at the first
///   active hour to 0.5 at the last (1 when only one hour is active).
/// - `asap`: fill active hours in order, each up to its capacity.
///
/// Even and front-loaded plans never put more than an hour's capacity in it while other active
/// hours have room. The allocator never gives more than the active hours can absorb. Any larger
/// amount has its excess spread over the active hours in proportion to the mode's weights, and
/// the throttle rate of those hours stays at 1.
public enum PacingPlanner {
  /// Plans the hours of `planDate` (a local day of the campaign's time zone) for the allocation.
  ///
  /// The planned total is min(allocation amount, campaign cap).
  /// - Throws: `AllocationError` for an invalid plan date or supply, or a positive amount on a
  ///   day whose day-parting leaves no active hour.
  public static func plan(
    campaign: Campaign, allocation: CampaignAllocation, supply: CampaignSupply, planDate: String
  ) throws(AllocationError) -> [HourlyPlanRow] {
    let day = try planDay(campaign: campaign, supply: supply, planDate: planDate)
    let amount = max(0, min(allocation.amountMicros, campaign.capMicros))
    let fractions = day.hours.map { _ in 1.0 }
    return try makeRows(
      campaign: campaign, supply: supply, day: day, amountMicros: amount, hourFractions: fractions)
  }

  /// Replans the hours left after `now`, given `spentMicros` already spent on the plan day.
  ///
  /// The remaining amount is min(allocation amount, cap) minus the spend, and 0 once the spend
  /// reaches it, so a replan never takes the day past the cap. Only hours that end after `now`
  /// get rows. The hour under way counts for the part that is left of it, both in its weight
  /// and in its capacity. When no active hour is left, the rows plan no spend, so they add up
  /// to less than the remaining amount.
  /// - Throws: `AllocationError` for a negative spend, an invalid plan date or supply.
  public static func replan(
    campaign: Campaign, allocation: CampaignAllocation, supply: CampaignSupply, planDate: String,
    spentMicros: Int64, now: Date
  ) throws(AllocationError) -> [HourlyPlanRow] {
    guard spentMicros >= 0 else {
      throw AllocationError(
        message: "campaign '\(campaign.id)': spend so far must be >= 0, got \(spentMicros)",
        campaignIds: [campaign.id], fix: "pass the actual spend of the plan day in micros")
    }
    let day = try planDay(campaign: campaign, supply: supply, planDate: planDate)
    let planned = max(0, min(allocation.amountMicros, campaign.capMicros))
    let remaining = max(0, planned - spentMicros)

    var fractions: [Double] = []
    for (index, hour) in day.hours.enumerated() {
      let end = index + 1 < day.hours.count ? day.hours[index + 1].start : day.end
      let length = end.timeIntervalSince(hour.start)
      let left = end.timeIntervalSince(max(now, hour.start))
      fractions.append(length > 0 ? min(1, max(0, left / length)) : 0)
    }
    let active = day.activeHours(campaign.dayParting)
    let anyHourLeft = zip(active, fractions).contains { $0 && $1 > 0 }
    let rows = try makeRows(
      campaign: campaign, supply: supply, day: day, amountMicros: anyHourLeft ? remaining : 0,
      hourFractions: fractions)
    return zip(rows, fractions).filter { $0.1 > 0 }.map(\.0)
  }

  /// Returns the first instant of the campaign's local plan day and of the next day.
  /// - Throws: `AllocationError` for an invalid plan date.
  public static func dayBounds(campaign: Campaign, planDate: String) throws(AllocationError)
    -> (start: Date, end: Date)
  {
    let day = try LocalDay(date: try Allocator.parsePlanDate(planDate), timeZone: campaign.timeZone)
    return (day.start, day.end)
  }

  // ---------------------------------------------------------------------------------------------

  static func planDay(campaign: Campaign, supply: CampaignSupply, planDate: String)
    throws(AllocationError) -> LocalDay
  {
    let date = try Allocator.parsePlanDate(planDate)
    try Allocator.checkSupply(supply, campaignId: campaign.id)
    return try LocalDay(date: date, timeZone: campaign.timeZone)
  }

  /// Builds the rows of `day`, spreading `amountMicros` over the active part of each hour
  /// (`hourFractions`: 1 for a whole hour, 0 for an hour already past).
  static func makeRows(
    campaign: Campaign, supply: CampaignSupply, day: LocalDay, amountMicros: Int64,
    hourFractions: [Double]
  ) throws(AllocationError) -> [HourlyPlanRow] {
    let weights = day.trafficWeights(supply.hourlyTraffic)
    let totalWeight = LocalDay.fullDayWeight(supply.hourlyTraffic)
    let dayActive = day.activeHours(campaign.dayParting)
    let active = zip(dayActive, hourFractions).map { $0 && $1 > 0 }
    if amountMicros > 0 && !active.contains(true) {
      throw AllocationError(
        message: "campaign '\(campaign.id)': no active hour left on \(day.date) for "
          + "\(amountMicros) micros",
        campaignIds: [campaign.id], fix: "allocate 0 or widen the campaign's day_parting")
    }

    // An hour's traffic is the day's segments scaled by the hour's share of the weights and by
    // the part of the hour that is left.
    var curves: [ResponseCurve] = []
    var capacity: [Double] = []
    var desired: [Double] = []
    let multipliers = frontLoadedMultipliers(dayActive)
    let dayCurve = ResponseCurve(
      segments: supply.segments, valuePerClickMicros: campaign.valuePerClickMicros)
    for index in day.hours.indices {
      let share = totalWeight > 0 ? weights[index] / totalWeight : 0
      let part = share * hourFractions[index]
      let curve = part > 0 ? dayCurve.scaled(by: part) : ResponseCurve(pieces: [])
      curves.append(curve)
      capacity.append(active[index] ? curve.totalCostMicros : 0)
      let multiplier = campaign.pacing == .frontLoaded ? multipliers[index] : 1
      desired.append(active[index] ? weights[index] * hourFractions[index] * multiplier : 0)
    }
    if !zip(desired, active).contains(where: { $0 > 0 && $1 }) {
      desired = active.map { $0 ? 1 : 0 }
    }

    let shares =
      campaign.pacing == .asap
      ? fillInOrder(Double(amountMicros), capacity: capacity, desired: desired)
      : spreadProportionally(Double(amountMicros), capacity: capacity, desired: desired)
    let spends = roundLargestRemainder(shares, totalMicros: amountMicros)

    var rows: [HourlyPlanRow] = []
    for (index, hour) in day.hours.enumerated() {
      rows.append(describeHour(hour, spendMicros: spends[index], curve: curves[index]))
    }
    return rows
  }

  /// Returns the front-loaded multiplier of each hour: 1.5 at the first active hour falling
  /// linearly to 0.5 at the last, 1 for a single active hour and 0 for inactive hours.
  static func frontLoadedMultipliers(_ active: [Bool]) -> [Double] {
    let count = active.filter { $0 }.count
    var multipliers = [Double](repeating: 0, count: active.count)
    var position = 0
    for index in active.indices where active[index] {
      multipliers[index] = count > 1 ? 1.5 - Double(position) / Double(count - 1) : 1
      position += 1
    }
    return multipliers
  }

  /// Spreads `amount` in proportion to `desired`, capping hours at `capacity` and handing what
  /// a capped hour cannot take to the others (water-filling). An excess over the total capacity
  /// is spread in proportion to `desired`.
  static func spreadProportionally(_ amount: Double, capacity: [Double], desired: [Double])
    -> [Double]
  {
    var shares = [Double](repeating: 0, count: desired.count)
    var open = desired.indices.filter { desired[$0] > 0 }
    var left = amount
    while left > 0 && !open.isEmpty {
      let total = open.reduce(0) { $0 + desired[$1] }
      let full = open.filter { left * desired[$0] / total >= capacity[$0] }
      if full.isEmpty {
        for index in open {
          shares[index] = left * desired[index] / total
        }
        return shares
      }
      for index in full {
        shares[index] = capacity[index]
        left -= capacity[index]
      }
      open.removeAll { full.contains($0) }
    }
    return addExcess(left, to: shares, desired: desired)
  }

  /// Fills hours in order, each up to its capacity; an excess is spread by `desired`.
  static func fillInOrder(_ amount: Double, capacity: [Double], desired: [Double]) -> [Double] {
    var shares = [Double](repeating: 0, count: desired.count)
    var left = amount
    for index in desired.indices where desired[index] > 0 && left > 0 {
      shares[index] = min(capacity[index], left)
      left -= shares[index]
    }
    return addExcess(left, to: shares, desired: desired)
  }

  static func addExcess(_ excess: Double, to shares: [Double], desired: [Double]) -> [Double] {
    let total = desired.reduce(0, +)
    guard excess > 0, total > 0 else { return shares }
    return zip(shares, desired).map { $0 + excess * $1 / total }
  }

  /// Rounds shares down to micros and gives the missing micros to the largest fractional parts,
  /// ties to the earlier hour, so that the result adds up to `totalMicros` exactly.
  static func roundLargestRemainder(_ shares: [Double], totalMicros: Int64) -> [Int64] {
    var spends = shares.map { Allocator.floorMicros($0) }
    let remainders = zip(shares, spends).map { $0 - Double($1) }
    let order = shares.indices.filter { shares[$0] > 0 }.sorted { a, b in
      remainders[a] != remainders[b] ? remainders[a] > remainders[b] : a < b
    }
    var difference = totalMicros - spends.reduce(0, +)
    while difference > 0 && !order.isEmpty {
      for index in order where difference > 0 {
        spends[index] += 1
        difference -= 1
      }
    }
    while difference < 0 {
      // Only floating-point excess lands here; take it back from the smallest parts.
      guard let index = order.reversed().first(where: { spends[$0] > 0 }) else { break }
      spends[index] -= 1
      difference += 1
    }
    return spends
  }

  /// Describes what an hour's spend buys on the hour's curve.
  ///
  /// The threshold is the pCTR of the lowest band the spend reaches, read as clicks per
  /// impression of that band. NOTE: this is an approximation because bands are treated as
  /// uniform, so the band's average pCTR is used as its lower edge. Bands are bought by value
  /// per micro, which matches pCTR order only when their costs per impression are equal.
  static func describeHour(_ hour: LocalDay.Hour, spendMicros: Int64, curve: ResponseCurve)
    -> HourlyPlanRow
  {
    let purchase = curve.purchase(Double(spendMicros))
    var threshold = 1.0
    if let last = purchase.lastPiece {
      threshold = curve.pieces[...last].map(\.pctr).min() ?? 1
    }
    let eligible = curve.pieces.reduce(0) { $0 + $1.impressions }
    let throttle = eligible > 0 ? min(1, purchase.impressions / eligible) : 0
    return HourlyPlanRow(
      hourStart: hour.start, localHour: hour.localHour, spendMicros: spendMicros,
      impressions: purchase.impressions, expectedClicks: purchase.clicks,
      pctrThreshold: threshold, throttleRate: throttle,
      valuePerMicroThreshold: cutSlope(curve, spendMicros: Double(spendMicros)))
  }

  /// Returns the value per micro at which a spend cuts the curve.
  ///
  /// A piece stands for a band of impressions whose value per micro spreads around the piece's
  /// slope. The band is taken to reach halfway, in log scale, to the slopes of its neighbours
  /// (as far again beyond its own slope at either end of the curve). A spend that buys the
  /// fraction f of a piece cuts the band at f of the way from its upper to its lower edge.
  static func cutSlope(_ curve: ResponseCurve, spendMicros: Double) -> Double {
    let pieces = curve.pieces
    guard spendMicros > 0, !pieces.isEmpty else { return .infinity }
    var before = 0.0
    var index = 0
    while index < pieces.count && before + pieces[index].costMicros < spendMicros {
      before += pieces[index].costMicros
      index += 1
    }
    guard index < pieces.count else { return 0 }
    let slopes = pieces.map { max($0.slope, 1e-300) }
    let slope = log(slopes[index])
    let above = index > 0 ? log(slopes[index - 1]) : nil
    let below = index + 1 < pieces.count ? log(slopes[index + 1]) : nil
    let halfAbove = above.map { ($0 - slope) / 2 } ?? below.map { (slope - $0) / 2 } ?? 0
    let halfBelow = below.map { (slope - $0) / 2 } ?? halfAbove
    let fraction = min(1, (spendMicros - before) / pieces[index].costMicros)
    if index + 1 == pieces.count && fraction >= 1 { return 0 }
    return exp(slope + halfAbove - fraction * (halfAbove + halfBelow))
  }
}
