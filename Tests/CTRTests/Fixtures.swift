// Specs, raw rows and encoded batches shared by the CTR tests.
// Everything is seeded, so a test gets the same numbers on every run.

@testable import CTR

enum Fixtures {
  /// Behaviour sequences: the query is the ad's category and shop, keys are past items.
  static func sequenceSpec(dimension: Int = 4, maxLength: Int = 5) -> FeatureSpec {
    FeatureSpec(
      categorical: [
        CategoricalField(name: "user_id", role: .user, buckets: 20),
        CategoricalField(name: "ad_category", role: .ad, buckets: 12),
        CategoricalField(name: "ad_shop", role: .ad, buckets: 9),
        CategoricalField(name: "hour", role: .context, buckets: 6),
      ],
      numeric: [NumericField(name: "price", role: .ad, buckets: 8)],
      sequence: [
        SequenceField(name: "hist_category", sharesEmbeddingWith: "ad_category"),
        SequenceField(name: "hist_shop", sharesEmbeddingWith: "ad_shop"),
      ],
      maxSequenceLength: maxLength,
      embeddingDimension: dimension)
  }

  /// Profile attention: user fields become keys, ad fields the query.
  static func profileSpec(dimension: Int = 4) -> FeatureSpec {
    FeatureSpec(
      categorical: [
        CategoricalField(name: "gender", role: .user, buckets: 4),
        CategoricalField(name: "age", role: .user, buckets: 7),
        CategoricalField(name: "ad_id", role: .ad, buckets: 15),
        CategoricalField(name: "site", role: .context, buckets: 5),
      ],
      numeric: [NumericField(name: "user_clicks", role: .user, buckets: 6)],
      embeddingDimension: dimension)
  }

  /// Anonymous context fields only: a plain DNN.
  static func plainSpec(dimension: Int = 4) -> FeatureSpec {
    FeatureSpec(
      categorical: [
        CategoricalField(name: "c1", role: .context, buckets: 10),
        CategoricalField(name: "c2", role: .context, buckets: 10),
      ],
      numeric: [NumericField(name: "i1", role: .context, buckets: 10)],
      embeddingDimension: dimension)
  }

  static func smallConfig() -> TrainingConfig {
    var config = TrainingConfig()
    config.attentionHidden = [6, 5]
    config.mlpHidden = [7, 5]
    return config
  }

  /// One raw row: categorical values, numeric values, flattened sequence, label.
  struct RawRow {
    var cat: [String?]
    var num: [Double?]
    var seq: [String?]
    var label: Float
  }

  /// Random rows for `spec` with a few missing values and sequences of random length.
  static func rows(spec: FeatureSpec, count: Int, seed: UInt64) -> [RawRow] {
    var random = SplitMix64(seed: seed)
    return (0..<count).map { _ in
      let cat: [String?] = spec.categorical.map { _ in
        random.next() % 7 == 0 ? nil : "v\(random.next() % 30)"
      }
      let num: [Double?] = spec.numeric.map { _ in
        random.next() % 7 == 0 ? nil : Double(random.next() % 1000) / 10
      }
      var seq: [String?] = []
      if !spec.sequence.isEmpty {
        let length = Int(random.next() % UInt64(spec.maxSequenceLength + 1))
        for _ in 0..<(length * spec.sequence.count) {
          seq.append("v\(random.next() % 30)")
        }
      }
      return RawRow(cat: cat, num: num, seq: seq, label: Float(random.next() % 2))
    }
  }

  static func encode(_ rows: [RawRow], spec: FeatureSpec) -> EncodedBatch {
    let encoder = FeatureEncoder(spec: spec)
    var batch = EncodedBatch(spec: spec, capacity: rows.count)
    for row in rows {
      encoder.append(cat: row.cat, num: row.num, seq: row.seq, label: row.label, to: &batch)
    }
    return batch
  }

  static func batch(spec: FeatureSpec, count: Int, seed: UInt64) -> EncodedBatch {
    encode(rows(spec: spec, count: count, seed: seed), spec: spec)
  }
}
