// The feature spec: which fields a model reads, their roles, table sizes and shapes.
// Stored with every model and in adpilot.datasets as JSON (synthesized Codable, default keys);
// renaming a stored property breaks saved specs.

/// A field's role in the attention model: whose attribute it is.
public enum FieldRole: String, Codable, Sendable {
  case user, ad, context
}

/// A categorical field, hashed into `buckets` embedding rows (row 0 is reserved for missing).
public struct CategoricalField: Codable, Sendable, Equatable {
  public var name: String
  public var role: FieldRole
  /// The number of embedding rows, including row 0 for missing values; at least 2.
  public var buckets: Int

  /// Creates a categorical field.
  public init(name: String, role: FieldRole, buckets: Int) {
    self.name = name
    self.role = role
    self.buckets = buckets
  }
}

/// A numeric field, log-bucketized into `buckets` embedding rows (row 0 is reserved for missing).
public struct NumericField: Codable, Sendable, Equatable {
  public var name: String
  public var role: FieldRole
  /// The number of embedding rows, including row 0 for missing values; at least 2.
  public var buckets: Int

  /// Creates a numeric field.
  public init(name: String, role: FieldRole, buckets: Int) {
    self.name = name
    self.role = role
    self.buckets = buckets
  }
}

/// A sub-field of the behaviour sequence items, embedded with the table of an ad categorical field.
public struct SequenceField: Codable, Sendable, Equatable {
  public var name: String
  /// The name of the ad categorical field whose hashing and embedding table this sub-field uses.
  public var sharesEmbeddingWith: String

  /// Creates a sequence sub-field.
  public init(name: String, sharesEmbeddingWith: String) {
    self.name = name
    self.sharesEmbeddingWith = sharesEmbeddingWith
  }
}

/// The input description of a CTR model: fields, roles, table sizes and sequence shape.
public struct FeatureSpec: Codable, Sendable, Equatable {
  public var categorical: [CategoricalField]
  public var numeric: [NumericField]
  /// The sub-fields of each behaviour item; empty when the data has no behaviour sequences.
  public var sequence: [SequenceField]
  /// The number of behaviour items kept per row (the most recent ones, which come first).
  public var maxSequenceLength: Int
  /// The width of every embedding vector.
  public var embeddingDimension: Int

  /// Creates a feature spec.
  public init(
    categorical: [CategoricalField],
    numeric: [NumericField] = [],
    sequence: [SequenceField] = [],
    maxSequenceLength: Int = 0,
    embeddingDimension: Int = 16
  ) {
    self.categorical = categorical
    self.numeric = numeric
    self.sequence = sequence
    self.maxSequenceLength = maxSequenceLength
    self.embeddingDimension = embeddingDimension
  }

  /// The number of embedded fields (categorical, then numeric).
  public var fieldCount: Int { categorical.count + numeric.count }

  /// Checks table sizes, names and sequence references, throwing on the first problem found.
  public func validate() throws(CTRError) {
    if categorical.isEmpty && numeric.isEmpty {
      throw CTRError(.invalidSpec, "feature spec has no fields: add categorical or numeric fields")
    }
    if embeddingDimension < 1 || embeddingDimension > 1024 {
      throw CTRError(
        .invalidSpec,
        "embeddingDimension must be in 1...1024, got \(embeddingDimension)")
    }
    var names = Set<String>()
    var totalRows = 0
    for field in categorical {
      try Self.check(name: field.name, buckets: field.buckets, names: &names)
      totalRows += field.buckets
    }
    for field in numeric {
      try Self.check(name: field.name, buckets: field.buckets, names: &names)
      totalRows += field.buckets
    }
    if totalRows > Int(Int32.max) {
      throw CTRError(
        .invalidSpec,
        "feature spec has \(totalRows) embedding rows in total, more than \(Int32.max): "
          + "lower the buckets")
    }
    try validateSequence(names: &names)
  }

  private func validateSequence(names: inout Set<String>) throws(CTRError) {
    if maxSequenceLength < 0 || maxSequenceLength > 100_000 {
      throw CTRError(
        .invalidSpec,
        "maxSequenceLength must be in 0...100000, got \(maxSequenceLength)")
    }
    if !sequence.isEmpty && maxSequenceLength < 1 {
      throw CTRError(
        .invalidSpec,
        "the spec has sequence fields but maxSequenceLength is \(maxSequenceLength): set it >= 1")
    }
    for field in sequence {
      if !names.insert(field.name).inserted {
        throw CTRError(.invalidSpec, "field name '\(field.name)' is used twice: rename one")
      }
      guard let shared = categorical.first(where: { $0.name == field.sharesEmbeddingWith }) else {
        throw CTRError(
          .invalidSpec,
          "sequence field '\(field.name)': sharesEmbeddingWith '\(field.sharesEmbeddingWith)' "
            + "is not a categorical field of the spec")
      }
      if shared.role != .ad {
        throw CTRError(
          .invalidSpec,
          "sequence field '\(field.name)': shared field '\(shared.name)' has role "
            + "\(shared.role.rawValue), expected ad")
      }
    }
  }

  private static func check(name: String, buckets: Int, names: inout Set<String>)
    throws(CTRError)
  {
    if name.isEmpty {
      throw CTRError(.invalidSpec, "a field has an empty name: name every field")
    }
    if !names.insert(name).inserted {
      throw CTRError(.invalidSpec, "field name '\(name)' is used twice: rename one")
    }
    if buckets < 2 {
      throw CTRError(
        .invalidSpec,
        "field '\(name)': buckets must be >= 2 (row 0 is for missing values), got \(buckets)")
    }
  }
}
