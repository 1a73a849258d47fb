// Forecast traffic that a campaign can buy on its plan day, in pCTR bands, with hourly weights.
// The forecast itself is made elsewhere from impression logs; this file only stores it.

/// A supply segment: one pCTR band of a campaign's eligible traffic over its whole local plan day.
///
/// The pCTR of the band is `clicks / impressions`. Buying a fraction of the segment buys that
/// fraction of its impressions, cost and clicks.
public struct SupplySegment: Sendable, Equatable {
  /// The forecast number of eligible impressions in the band.
  public var impressions: Double
  /// The cost of buying every impression of the band, in micros.
  public var costMicros: Double
  /// The expected clicks from every impression of the band (the sum of their pCTRs).
  public var clicks: Double

  /// Creates a segment.
  public init(impressions: Double, costMicros: Double, clicks: Double) {
    self.impressions = impressions
    self.costMicros = costMicros
    self.clicks = clicks
  }
}

/// A campaign's forecast supply: its eligible traffic in pCTR bands and how it spreads over hours.
public struct CampaignSupply: Sendable, Equatable {
  /// The id of the campaign that can buy this traffic.
  public var campaignId: String
  /// The pCTR bands of a local day of 24 hours, best band first by convention. Planning scales
  /// them to the hours of the plan day.
  public var segments: [SupplySegment]
  /// Relative traffic weights by local hour of day (24 entries, index 0 = 00:00 to 01:00); an
  /// empty array means the traffic is uniform over the hours.
  public var hourlyTraffic: [Double]

  /// Creates a supply; `hourlyTraffic` has 24 non-negative weights or is empty.
  public init(campaignId: String, segments: [SupplySegment], hourlyTraffic: [Double] = []) {
    self.campaignId = campaignId
    self.segments = segments
    self.hourlyTraffic = hourlyTraffic
  }
}
