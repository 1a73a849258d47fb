// The hidden click model of the synthetic log: the true click probability of an impression from
// the features logged with it. It must use only logged features, so that AUC(true_pctr) is the
// best AUC a model of those features can expect to reach on the log.

import Foundation

/// The true click model: a logit that adds small per-field effects and a target-attention term.
///
/// logit = base + sum of per-field value effects + interestScale * (1 - exp(-s / interestSaturation))
/// where s = sum over the logged history items of (categoryMatch * [item category == ad category]
/// + brandMatch * [item brand == ad brand]). The interest term is a sum over the behaviour
/// sequence of a match between each item and the candidate ad, which is what DIN's target
/// attention with sum pooling computes (Zhou et al., KDD 2018). Every logged item counts the
/// same, because the models see no item positions. The term is a product of ad and history
/// features, so a logistic regression over the raw fields and a bag of history items cannot
/// express it.
struct HiddenClickModel: Sendable {
  static let base = -5.0
  static let categoryMatch = 1.0
  static let brandMatch = 1.5
  static let interestScale = 2.6
  static let interestSaturation = 6.0
  /// Effects of slot s0 (top of the page) to s5.
  static let slotEffects = [0.45, 0.25, 0.05, -0.10, -0.25, -0.40]
  /// Effects of price bands p1 (cheapest) to p5.
  static let priceBandEffects = [0.15, 0.05, 0.0, -0.10, -0.20]

  /// Per-value effects of each user field, indexed [field][value].
  let userEffects: [[Double]]
  let adEffects: [Double]
  let categoryEffects: [Double]
  /// Advertiser effect of each campaign's advertiser, indexed like SyntheticCampaigns.all.
  let advertiserEffects: [Double]
  let hourEffects: [Double]
  let weekdayEffects: [Double]

  init(seed: UInt64, ads: Int) {
    var random = SyntheticRandom(seed: seed, stream: 2)
    userEffects = SyntheticSchema.userFields.map { field in
      field.values.map { _ in 0.5 * (random.uniform() - 0.5) }
    }
    adEffects = (0..<ads).map { _ in 0.15 * random.normal() }
    categoryEffects = (0..<SyntheticSchema.categoryCount).map { _ in 0.5 * (random.uniform() - 0.5)
    }
    var byAdvertiser = [String: Double]()
    for campaign in SyntheticCampaigns.all where byAdvertiser[campaign.advertiser] == nil {
      byAdvertiser[campaign.advertiser] = 0.2 * (random.uniform() - 0.5)
    }
    advertiserEffects = SyntheticCampaigns.all.map { byAdvertiser[$0.advertiser] ?? 0 }
    // Evenings click a little more than nights: a smooth daily cycle peaking at 20:00 UTC.
    hourEffects = (0..<24).map { 0.12 * cos(2 * Double.pi * Double($0 - 20) / 24) }
    weekdayEffects = (0..<7).map { _ in 0.16 * (random.uniform() - 0.5) }
  }

  /// Returns the match s between an ad and the user's latest `length` items.
  static func interestMatch(
    ad: SyntheticAd, user: Int, history: BehaviourHistory, length: Int
  ) -> Double {
    var match = 0.0
    for k in 0..<min(length, history.count(user: user)) {
      let item = history.item(user: user, recency: k)
      if item.category == ad.category { match += categoryMatch }
      if item.brand == ad.brand { match += brandMatch }
    }
    return match
  }

  /// Returns the click probability of showing ad `adIndex` to `user` in a slot, hour (0-23) and
  /// weekday (0 = Monday), given the ad's interest match with the user's history.
  func probability(
    world: SyntheticWorld, user: Int, adIndex: Int, slot: Int, hour: Int, weekday: Int,
    interestMatch: Double
  ) -> Double {
    let ad = world.ads[adIndex]
    var logit = Self.base
    for field in 0..<SyntheticWorld.profileWidth {
      logit += userEffects[field][world.profileValue(user: user, field: field)]
    }
    logit += adEffects[adIndex]
    logit += categoryEffects[ad.category]
    logit += advertiserEffects[ad.campaign]
    logit += Self.priceBandEffects[ad.priceBand]
    logit += Self.slotEffects[slot] + hourEffects[hour] + weekdayEffects[weekday]
    logit += Self.interestScale * (1 - exp(-interestMatch / Self.interestSaturation))
    return 1 / (1 + exp(-logit))
  }
}
