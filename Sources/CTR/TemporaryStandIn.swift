// Temporary stand-in for the CTR feature spec types while the real module is written on another
// branch. Delete this file when the module lands.

public enum FieldRole: String, Codable, Sendable { case user, ad, context }

public struct CategoricalField: Codable, Sendable, Equatable {
  public var name: String
  public var role: FieldRole
  public var buckets: Int
  public init(name: String, role: FieldRole, buckets: Int) {
    self.name = name
    self.role = role
    self.buckets = buckets
  }
}

public struct NumericField: Codable, Sendable, Equatable {
  public var name: String
  public var role: FieldRole
  public var buckets: Int
  public init(name: String, role: FieldRole, buckets: Int) {
    self.name = name
    self.role = role
    self.buckets = buckets
  }
}

public struct SequenceField: Codable, Sendable, Equatable {
  public var name: String
  public var sharesEmbeddingWith: String
  public init(name: String, sharesEmbeddingWith: String) {
    self.name = name
    self.sharesEmbeddingWith = sharesEmbeddingWith
  }
}

public struct FeatureSpec: Codable, Sendable, Equatable {
  public var categorical: [CategoricalField]
  public var numeric: [NumericField]
  public var sequence: [SequenceField]
  public var maxSequenceLength: Int
  public var embeddingDimension: Int
  public init(
    categorical: [CategoricalField], numeric: [NumericField], sequence: [SequenceField] = [],
    maxSequenceLength: Int = 0, embeddingDimension: Int = 16
  ) {
    self.categorical = categorical
    self.numeric = numeric
    self.sequence = sequence
    self.maxSequenceLength = maxSequenceLength
    self.embeddingDimension = embeddingDimension
  }
}
