// The fixed population of a synthetic log: users with profiles and latent interests, and ads in
// campaigns. It is built once from the seed and stores no impressions, so its memory is
// proportional to users + ads only.

import Foundation

/// Users and ads drawn from the configuration's seed.
struct SyntheticWorld: Sendable {
  /// Number of fields in a user profile.
  static let profileWidth = SyntheticSchema.userFields.count
  /// Number of favourite categories per user.
  static let favouriteCount = 3
  /// Share of a user's behaviour events drawn from the favourites (the rest are uniform).
  static let favouriteEventShare = 0.85
  /// Weights of the favourite categories, most favoured first.
  static let favouriteWeights = [0.55, 0.30, 0.15]
  /// Probability that an event in a favourite category shows the user's favourite brand there.
  static let favouriteBrandShare = 0.6

  let userCount: Int
  /// Profile value indexes, user-major: profiles[u * profileWidth + f].
  let profiles: [UInt8]
  /// Favourite categories, user-major: favourites[u * favouriteCount + i].
  let favourites: [UInt16]
  /// The favourite brand in each favourite category, same layout as `favourites`.
  let favouriteBrands: [UInt16]
  /// Sampler of users by activity (log-normal weights), for events and impressions.
  let activity: AliasSampler
  /// Each user's activity relative to the mean (mean 1), which scales the daily event rate.
  let relativeActivity: [Double]

  let ads: [SyntheticAd]
  /// Ad indexes per category, for ads chosen by the user's recent interests.
  let adsByCategory: [[Int]]
  /// Ad indexes per campaign (index into SyntheticCampaigns.all).
  let adsByCampaign: [[Int]]
  /// Sampler of campaigns by traffic share.
  let campaignSampler: AliasSampler

  let userIds: [String]

  init(config: SyntheticConfig) {
    var random = SyntheticRandom(seed: config.seed, stream: 1)
    userCount = config.users

    var profiles = [UInt8]()
    var favourites = [UInt16]()
    var favouriteBrands = [UInt16]()
    var weights = [Double]()
    profiles.reserveCapacity(config.users * Self.profileWidth)
    favourites.reserveCapacity(config.users * Self.favouriteCount)
    favouriteBrands.reserveCapacity(config.users * Self.favouriteCount)
    weights.reserveCapacity(config.users)
    for _ in 0..<config.users {
      for field in SyntheticSchema.userFields {
        profiles.append(UInt8(random.index(field.values.count)))
      }
      let segment = Int(profiles[profiles.count - Self.profileWidth + SyntheticSchema.segmentField])
      for category in Self.drawFavourites(segment: segment, random: &random) {
        favourites.append(UInt16(category))
        let brand =
          category * SyntheticSchema.brandsPerCategory
          + random.index(SyntheticSchema.brandsPerCategory)
        favouriteBrands.append(UInt16(brand))
      }
      weights.append(exp(0.7 * random.normal()))
    }
    self.profiles = profiles
    self.favourites = favourites
    self.favouriteBrands = favouriteBrands
    let meanWeight = weights.reduce(0, +) / Double(max(1, weights.count))
    relativeActivity = weights.map { $0 / meanWeight }
    activity = AliasSampler(weights: weights)
    userIds = (0..<config.users).map { "u" + SyntheticSchema.zeroPadded($0 + 1, width: 6) }

    let ads = Self.drawAds(count: config.ads, random: &random)
    self.ads = ads
    adsByCategory = (0..<SyntheticSchema.categoryCount).map { category in
      ads.indices.filter { ads[$0].category == category }
    }
    adsByCampaign = SyntheticCampaigns.all.indices.map { campaign in
      ads.indices.filter { ads[$0].campaign == campaign }
    }
    campaignSampler = AliasSampler(weights: SyntheticCampaigns.all.map(\.trafficShare))
  }

  /// Draws three distinct favourite categories. The first comes from the segment's three home
  /// categories with probability 0.6, which makes the segment field weakly informative.
  private static func drawFavourites(segment: Int, random: inout SyntheticRandom) -> [Int] {
    var chosen = [Int]()
    if random.bernoulli(0.6) {
      chosen.append(segment * 3 + random.index(3))
    }
    while chosen.count < favouriteCount {
      let category = random.index(SyntheticSchema.categoryCount)
      if !chosen.contains(category) { chosen.append(category) }
    }
    return chosen
  }

  /// Draws ads. Ad i belongs to campaign i mod 12, and each campaign sells in three categories.
  private static func drawAds(count: Int, random: inout SyntheticRandom) -> [SyntheticAd] {
    let campaigns = SyntheticCampaigns.all
    return (0..<count).map { index in
      let campaign = index % campaigns.count
      let campaignCategories = [
        (2 * campaign) % SyntheticSchema.categoryCount,
        (2 * campaign + 1) % SyntheticSchema.categoryCount,
        (5 * campaign + 7) % SyntheticSchema.categoryCount,
      ]
      let category = campaignCategories[random.index(campaignCategories.count)]
      let brand =
        category * SyntheticSchema.brandsPerCategory
        + random.index(SyntheticSchema.brandsPerCategory)
      return SyntheticAd(
        id: "ad-" + SyntheticSchema.zeroPadded(index + 1, width: 4),
        campaign: campaign,
        category: category,
        brand: brand,
        priceBand: random.index(SyntheticSchema.priceBands.count))
    }
  }

  /// Returns the profile value index of field `field` for user `user`.
  func profileValue(user: Int, field: Int) -> Int {
    Int(profiles[user * Self.profileWidth + field])
  }

  /// Draws one behaviour item (category, brand) from a user's latent interests.
  func drawItem(user: Int, random: inout SyntheticRandom) -> (category: Int, brand: Int) {
    if random.bernoulli(Self.favouriteEventShare) {
      var slot = Self.favouriteCount - 1
      var u = random.uniform()
      for (i, weight) in Self.favouriteWeights.enumerated() {
        if u < weight {
          slot = i
          break
        }
        u -= weight
      }
      let key = user * Self.favouriteCount + slot
      let category = Int(favourites[key])
      if random.bernoulli(Self.favouriteBrandShare) {
        return (category, Int(favouriteBrands[key]))
      }
      return (
        category,
        category * SyntheticSchema.brandsPerCategory
          + random.index(SyntheticSchema.brandsPerCategory)
      )
    }
    let category = random.index(SyntheticSchema.categoryCount)
    return (
      category,
      category * SyntheticSchema.brandsPerCategory
        + random.index(SyntheticSchema.brandsPerCategory)
    )
  }
}

/// One ad: its campaign and attributes as value indexes.
struct SyntheticAd: Sendable {
  var id: String
  /// Index into SyntheticCampaigns.all.
  var campaign: Int
  var category: Int
  var brand: Int
  var priceBand: Int
}

/// Walker's alias method: O(1) draws from a fixed discrete distribution (Vose's construction).
struct AliasSampler: Sendable {
  private var probability: [Double]
  private var alias: [Int]

  /// Builds the tables from non-negative weights with a positive sum.
  init(weights: [Double]) {
    let count = weights.count
    let total = weights.reduce(0, +)
    var scaled = weights.map { $0 * Double(count) / total }
    probability = Array(repeating: 1, count: count)
    alias = Array(0..<count)
    var small = scaled.indices.filter { scaled[$0] < 1 }
    var large = scaled.indices.filter { scaled[$0] >= 1 }
    while let s = small.popLast(), let l = large.popLast() {
      probability[s] = scaled[s]
      alias[s] = l
      scaled[l] -= 1 - scaled[s]
      if scaled[l] < 1 { small.append(l) } else { large.append(l) }
    }
    // Entries left in either list keep probability 1 (rounding leftovers).
  }

  /// Draws an index with probability proportional to its weight.
  func draw(_ random: inout SyntheticRandom) -> Int {
    let column = random.index(probability.count)
    return random.uniform() < probability[column] ? column : alias[column]
  }
}
