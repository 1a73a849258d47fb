// The fixed campaign set of the synthetic log: ids, advertisers, traffic shares and market prices.
// Budgets, value per click and schedules are in campaigns/synthetic/*.json, not here, and a test
// checks that both list the same ids.

/// One campaign of the synthetic log, with the parameters the generator draws traffic and prices from.
struct SyntheticCampaign: Sendable {
  /// Campaign id, as in campaigns/synthetic/<id>.json.
  var id: String
  /// Advertiser id logged in the ad's `advertiser` field.
  var advertiser: String
  /// Relative share of the traffic served to this campaign's ads.
  var trafficShare: Double
  /// Median market price of one impression in micros. Prices are log-normal around it.
  var medianCostMicros: Double
  /// Standard deviation of the log of the price.
  var costLogSigma: Double
}

extension SyntheticCampaign {
  fileprivate init(
    _ id: String, _ advertiser: String, share: Double, medianCost: Double, sigma: Double
  ) {
    self.init(
      id: id, advertiser: advertiser, trafficShare: share, medianCostMicros: medianCost,
      costLogSigma: sigma)
  }
}

/// The campaign set `syn-01` ... `syn-12`.
enum SyntheticCampaigns {
  /// All campaigns, in id order. Two advertisers run two campaigns each.
  static let all: [SyntheticCampaign] = [
    // id, advertiser, traffic share, median cost of an impression (micros), sigma of log cost
    .init("syn-01", "adv-01", share: 1.6, medianCost: 2_200, sigma: 0.45),
    .init("syn-02", "adv-02", share: 1.2, medianCost: 1_600, sigma: 0.50),
    .init("syn-03", "adv-03", share: 1.0, medianCost: 3_100, sigma: 0.40),
    .init("syn-04", "adv-04", share: 0.9, medianCost: 1_200, sigma: 0.60),
    .init("syn-05", "adv-05", share: 1.1, medianCost: 2_600, sigma: 0.50),
    .init("syn-06", "adv-06", share: 0.7, medianCost: 4_000, sigma: 0.35),
    .init("syn-07", "adv-07", share: 0.8, medianCost: 1_900, sigma: 0.55),
    .init("syn-08", "adv-08", share: 1.3, medianCost: 1_400, sigma: 0.50),
    .init("syn-09", "adv-09", share: 0.6, medianCost: 2_900, sigma: 0.45),
    .init("syn-10", "adv-10", share: 0.9, medianCost: 2_100, sigma: 0.50),
    .init("syn-11", "adv-01", share: 0.5, medianCost: 3_500, sigma: 0.40),
    .init("syn-12", "adv-05", share: 0.7, medianCost: 1_700, sigma: 0.60),
  ]

  /// The campaign ids, in order.
  static var ids: [String] { all.map(\.id) }
}
