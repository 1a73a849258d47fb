// Internal stand-ins for CTR.FeatureSpec and ImpressionRecord until those branches are merged.
// Delete this file when they land; the generator uses the same names and initializers.

import Foundation

enum FieldRole: String, Codable, Sendable { case user, ad, context }

struct CategoricalField: Codable, Sendable, Equatable {
  var name: String
  var role: FieldRole
  var buckets: Int
}

struct NumericField: Codable, Sendable, Equatable {
  var name: String
  var role: FieldRole
  var buckets: Int
}

struct SequenceField: Codable, Sendable, Equatable {
  var name: String
  var sharesEmbeddingWith: String
}

struct FeatureSpec: Codable, Sendable, Equatable {
  var categorical: [CategoricalField]
  var numeric: [NumericField] = []
  var sequence: [SequenceField] = []
  var maxSequenceLength: Int = 0
  var embeddingDimension: Int = 16
}

struct ImpressionRecord: Sendable, Equatable {
  var dataset: String
  var time: Date
  var requestId: String
  var userId: String? = nil
  var adId: String? = nil
  var campaignId: String? = nil
  var split: String = "train"
  var cat: [String?] = []
  var num: [Double?] = []
  var seq: [String?] = []
  var click: Int16
  var costMicros: Int64 = 0
  var loggedPCTR: Double? = nil
  var truePCTR: Double? = nil
}
