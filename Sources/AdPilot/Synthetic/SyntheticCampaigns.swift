// The fixed campaign set of the synthetic log: ids, advertisers, traffic shares and market prices.
// Budgets, value per click and schedules live in campaigns/synthetic/*.json, not here; a test
// checks that both list the same ids.

/// One synthetic campaign as the log generator sees it.
struct SyntheticCampaign: Sendable {
  /// Campaign id, as in campaigns/synthetic/<id>.json.
  var id: String
  /// Advertiser id logged in the ad's `advertiser` field.
  var advertiser: String
  /// Relative share of the traffic served to this campaign's ads.
  var trafficShare: Double
  /// Median market price of one impression in micros; prices are log-normal around it.
  var medianCostMicros: Double
  /// Standard deviation of the log of the price.
  var costLogSigma: Double
}

/// The campaign set `syn-01` ... `syn-12`.
enum SyntheticCampaigns {
  /// All campaigns, in id order. Two advertisers run two campaigns each.
  static let all: [SyntheticCampaign] = [
    .init(id: "syn-01", advertiser: "adv-01", trafficShare: 1.6, medianCostMicros: 2_200, costLogSigma: 0.45),
    .init(id: "syn-02", advertiser: "adv-02", trafficShare: 1.2, medianCostMicros: 1_600, costLogSigma: 0.50),
    .init(id: "syn-03", advertiser: "adv-03", trafficShare: 1.0, medianCostMicros: 3_100, costLogSigma: 0.40),
    .init(id: "syn-04", advertiser: "adv-04", trafficShare: 0.9, medianCostMicros: 1_200, costLogSigma: 0.60),
    .init(id: "syn-05", advertiser: "adv-05", trafficShare: 1.1, medianCostMicros: 2_600, costLogSigma: 0.50),
    .init(id: "syn-06", advertiser: "adv-06", trafficShare: 0.7, medianCostMicros: 4_000, costLogSigma: 0.35),
    .init(id: "syn-07", advertiser: "adv-07", trafficShare: 0.8, medianCostMicros: 1_900, costLogSigma: 0.55),
    .init(id: "syn-08", advertiser: "adv-08", trafficShare: 1.3, medianCostMicros: 1_400, costLogSigma: 0.50),
    .init(id: "syn-09", advertiser: "adv-09", trafficShare: 0.6, medianCostMicros: 2_900, costLogSigma: 0.45),
    .init(id: "syn-10", advertiser: "adv-10", trafficShare: 0.9, medianCostMicros: 2_100, costLogSigma: 0.50),
    .init(id: "syn-11", advertiser: "adv-01", trafficShare: 0.5, medianCostMicros: 3_500, costLogSigma: 0.40),
    .init(id: "syn-12", advertiser: "adv-05", trafficShare: 0.7, medianCostMicros: 1_700, costLogSigma: 0.60),
  ]

  /// The campaign ids, in order.
  static var ids: [String] { all.map(\.id) }
}
