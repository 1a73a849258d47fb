// Field names, vocabularies and the feature spec of the synthetic data set. These are fixed
// tables: nothing here draws random numbers, and only table sizes depend on the configuration.

import CTR

/// The fields of the synthetic data set, in feature-spec order, and their value strings.
enum SyntheticSchema {
  /// Data set name in adpilot.datasets and every table's `dataset` column.
  static let dataset = "synthetic"
  /// Number of item categories. Every ad and behaviour item has one.
  static let categoryCount = 24
  /// Brands per category. Brand b belongs to category b / brandsPerCategory.
  static let brandsPerCategory = 8
  static var brandCount: Int { categoryCount * brandsPerCategory }

  /// User profile fields (role user) and their values, in spec order.
  static let userFields: [(name: String, values: [String])] = [
    ("gender", ["f", "m", "u"]),
    ("age_band", ["18-24", "25-34", "35-44", "45-54", "55-64", "65+"]),
    ("city_tier", ["tier1", "tier2", "tier3", "tier4"]),
    ("device_os", ["ios", "android", "web"]),
    ("segment", (0..<8).map { "seg-\($0)" }),
    ("income_band", ["inc-1", "inc-2", "inc-3", "inc-4", "inc-5"]),
    ("membership", ["none", "silver", "gold", "platinum"]),
    ("occupation", ["student", "office", "service", "retired", "freelance", "other"]),
  ]
  /// Index of the segment field in `userFields`. A segment's home categories seed interests.
  static let segmentField = 4

  /// Ad fields (role ad), in spec order after the user fields.
  static let adFieldNames = ["ad_id", "ad_category", "ad_brand", "advertiser", "price_band"]
  static let priceBands = ["p1", "p2", "p3", "p4", "p5"]

  /// Context fields (role context), in spec order after the ad fields.
  static let contextFieldNames = ["hour", "slot", "weekday"]
  static let slots = ["s0", "s1", "s2", "s3", "s4", "s5"]
  /// Weekday names indexed by ISO weekday - 1 (Monday first).
  static let weekdays = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
  static let hours = (0..<24).map { $0 < 10 ? "h0\($0)" : "h\($0)" }

  /// Behaviour item sub-fields: each shares the embedding table of an ad field.
  static let sequenceFields = [("hist_category", "ad_category"), ("hist_brand", "ad_brand")]

  static let categories = (0..<categoryCount).map { $0 < 10 ? "cat-0\($0)" : "cat-\($0)" }
  static let brands = (0..<brandCount).map { "brand-" + zeroPadded($0, width: 3) }

  /// Returns the number as text, zero-padded to `width` digits.
  static func zeroPadded(_ value: Int, width: Int) -> String {
    let digits = String(value)
    return String(repeating: "0", count: max(0, width - digits.count)) + digits
  }

  /// Builds the spec: 8 user, 5 ad and 3 context fields, and a (category, brand) sequence.
  static func featureSpec(ads: Int, maxSequenceLength: Int) -> FeatureSpec {
    var fields: [CategoricalField] = userFields.map {
      CategoricalField(
        name: $0.name, role: .user, buckets: collisionFreeBuckets(name: $0.name, values: $0.values))
    }
    // NOTE: ad ids get a plain power-of-two table, so a few ads share a row. A collision-free
    // table for n ids needs on the order of n^2 rows (birthday bound), and ad_id has small effects.
    fields.append(CategoricalField(name: "ad_id", role: .ad, buckets: powerOfTwoBuckets(ads)))
    let advertisers = Array(Set(SyntheticCampaigns.all.map(\.advertiser))).sorted()
    let adValues = [categories, brands, advertisers, priceBands]
    for (name, values) in zip(adFieldNames.dropFirst(), adValues) {
      fields.append(
        CategoricalField(
          name: name, role: .ad, buckets: collisionFreeBuckets(name: name, values: values)))
    }
    for (name, values) in zip(contextFieldNames, [hours, slots, weekdays]) {
      fields.append(
        CategoricalField(
          name: name, role: .context, buckets: collisionFreeBuckets(name: name, values: values)))
    }
    return FeatureSpec(
      categorical: fields,
      numeric: [],
      sequence: sequenceFields.map { SequenceField(name: $0.0, sharesEmbeddingWith: $0.1) },
      maxSequenceLength: maxSequenceLength,
      embeddingDimension: 16)
  }

  /// Returns the smallest power of two >= 4 x `count`, and at least 16.
  static func powerOfTwoBuckets(_ count: Int) -> Int {
    var size = 16
    while size < 4 * count { size *= 2 }
    return size
  }

  /// Returns the smallest table size from max(16, 4 x values) up at which the CTR encoder's hash
  /// puts every value of the field in its own row. The hidden model gives each value its own
  /// effect, so a shared row would cap the AUC a trained model can reach. The search stops at
  /// 64 x values and then falls back to `powerOfTwoBuckets`.
  static func collisionFreeBuckets(name: String, values: [String]) -> Int {
    let first = max(16, 4 * values.count)
    for size in first...(64 * values.count + first) {
      let encoder = FeatureEncoder(
        spec: FeatureSpec(categorical: [CategoricalField(name: name, role: .ad, buckets: size)]))
      let rows = Set(values.map { encoder.categoricalRow(field: 0, value: $0) })
      if rows.count == values.count { return size }
    }
    return powerOfTwoBuckets(values.count)
  }
}
