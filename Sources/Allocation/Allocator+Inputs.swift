// Allocator inputs: checks of the campaigns and forecasts, and each campaign's curve for the day.
// Nothing here decides amounts; Allocator.swift does.

extension Allocator {
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

      let day: LocalDay
      if let cached = days[campaign.timeZone.identifier] {
        day = cached
      } else {
        day = try LocalDay(date: date, timeZone: campaign.timeZone)
        days[campaign.timeZone.identifier] = day
      }
      let scale = activeShare(day: day, campaign: campaign, hourlyTraffic: forecast?.hourlyTraffic)
      if campaign.status != "active" || !isInFlight(campaign, on: date) {
        exclusion = .inactive
      } else if day.hours.isEmpty {
        exclusion = .noLocalDay
      } else if !day.activeHours(campaign.dayParting).contains(true) {
        exclusion = .dayParting
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

  /// Returns the share of a 24-hour day's traffic weight that falls in the campaign's active
  /// hours of the plan day. It is 1 for a campaign without day-parting on a day of 24 hours,
  /// and 23/24 on a day of 23 hours of uniform traffic.
  static func activeShare(day: LocalDay, campaign: Campaign, hourlyTraffic: [Double]?) -> Double {
    let weights = day.trafficWeights(hourlyTraffic ?? [])
    let active = day.activeHours(campaign.dayParting)
    let total = LocalDay.fullDayWeight(hourlyTraffic ?? [])
    var inActive = 0.0
    for (weight, isActive) in zip(weights, active) where isActive {
      inActive += weight
    }
    return total > 0 ? inActive / total : 0
  }
}
