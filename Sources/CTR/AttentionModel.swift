// The DIN-style attention CTR model (Zhou et al., "Deep Interest Network", KDD 2018): shapes,
// parameters, initialization and prediction. Forward and backward passes are in their own files;
// nothing here performs I/O.

/// The source of the attention keys and query, decided from the spec.
enum AttentionMode: UInt8, Sendable {
  /// Keys are behaviour items; the query is the ad fields the sequence sub-fields share.
  case sequence = 0
  /// Keys are user-field embeddings projected to the query width; the query is all ad fields.
  case profile = 1
  /// No attention: an MLP over the field embeddings.
  case plain = 2
}

/// The shapes of an attention model and where each layer sits in the flat dense array.
struct AttentionStructure: Sendable, Equatable {
  var mode: AttentionMode
  /// The embedding width D.
  var dimension: Int
  /// The number of embedded fields F (categorical, then numeric).
  var fieldCount: Int
  /// The field whose embedding fills each D-wide slot of the query.
  var queryFields: [Int]
  /// The user fields that become keys in profile mode.
  var userFields: [Int]
  /// One `D -> Q` linear map per user field (profile mode only).
  var projections: [DenseLayer]
  /// The fields of the ad request (user and context roles): in prediction, rows that share
  /// them share their part of the final MLP's first layer.
  var requestFields: [Int]
  /// The ad fields: with the interest, the per-candidate part of the final MLP's first layer.
  var adFields: [Int]
  /// The activation unit: `4Q -> attentionHidden -> 1` (absent in plain mode).
  var attention: ActivationUnit?
  /// The final MLP: `Q + F * D -> mlpHidden -> 1` (`F * D` inputs in plain mode), with its Dice
  /// alphas, if any, at the end of the dense array.
  var mlp: MLP
  /// The length of the flat dense array.
  var denseCount: Int

  /// The query and key width Q.
  var queryWidth: Int { queryFields.count * dimension }
  /// The width of the interest vector at the head of the MLP input (0 in plain mode).
  var interestWidth: Int { mode == .plain ? 0 : queryWidth }
  /// The width of all field embeddings of one row, F * D.
  var fieldsWidth: Int { fieldCount * dimension }

  init(
    spec: FeatureSpec, attentionHidden: [Int], mlpHidden: [Int],
    mlpActivation: MLPActivation = .relu
  ) {
    dimension = spec.embeddingDimension
    fieldCount = spec.fieldCount
    let roles = spec.categorical.map(\.role) + spec.numeric.map(\.role)
    let adFields = roles.indices.filter { roles[$0] == .ad }
    let userFields = roles.indices.filter { roles[$0] == .user }
    requestFields = roles.indices.filter { roles[$0] != .ad }
    self.adFields = adFields
    if !spec.sequence.isEmpty {
      mode = .sequence
      queryFields = EmbeddingLayout(spec: spec).sequenceFieldIndex
      self.userFields = []
    } else if !adFields.isEmpty && !userFields.isEmpty {
      mode = .profile
      queryFields = adFields
      self.userFields = userFields
    } else {
      mode = .plain
      queryFields = []
      self.userFields = []
    }

    var offset = 0
    let queryWidth = queryFields.count * dimension
    projections = self.userFields.map { _ in
      DenseLayer(inputs: spec.embeddingDimension, outputs: queryWidth, offset: &offset)
    }
    attention =
      mode == .plain
      ? nil : ActivationUnit(queryWidth: queryWidth, hidden: attentionHidden, offset: &offset)
    let mlpInputs = (mode == .plain ? 0 : queryWidth) + spec.fieldCount * spec.embeddingDimension
    mlp = MLP(
      inputs: mlpInputs, hidden: mlpHidden, outputs: 1, offset: &offset, activation: mlpActivation)
    denseCount = offset
  }

  /// Every dense layer in parameter order.
  var allLayers: [DenseLayer] {
    projections + (attention?.layers ?? []) + mlp.layers
  }
}

/// The DIN-style attention model, or a plain DNN when the spec declares no user and ad fields.
///
/// Each field is embedded (width `spec.embeddingDimension`). With behaviour sequences, the query
/// is the concatenated embeddings of the ad fields the sequence sub-fields share, and each item is
/// a key. Without sequences but with user and ad fields, the query is all ad-field embeddings and
/// each user-field embedding, mapped to the query width by its own linear layer, is a key. An
/// activation unit (an MLP over `[k, q, k - q, k * q]`) gives each real key a weight, without
/// softmax as in DIN, and the interest is the weighted sum of keys. The final MLP reads the
/// interest and every field embedding, has ReLU or Dice hidden layers, and ends in one logit;
/// pCTR is its sigmoid.
public final class AttentionModel: ClickModel, @unchecked Sendable {
  /// `.attention`, or `.dnn` when the spec has no sequences and lacks user or ad fields.
  public let kind: ModelKind
  public let spec: FeatureSpec
  /// The architecture widths the model was built with.
  public let attentionHidden: [Int]
  /// The final MLP's hidden widths.
  public let mlpHidden: [Int]
  /// The activation of the final MLP's hidden layers.
  public var mlpActivation: MLPActivation { structure.mlp.activation }
  /// The fraction of negatives kept in training; predictions are corrected for it.
  public internal(set) var negativeSampleRate: Float = 1

  let layout: EmbeddingLayout
  let structure: AttentionStructure
  /// The spec's table fingerprint, compared with every batch.
  let fingerprint: UInt64
  /// The embedding matrix `[layout.totalRows x D]`, all fields' tables stacked.
  var embeddings: [Float]
  /// Every dense layer's weights and biases, at the offsets in `structure`.
  var dense: [Float]
  /// The embedding rows training has updated, or nil for a model no trainer has stepped (and
  /// for files of format version 1), whose rows are all used as they are.
  var trainedRows: TrainedRows?
  /// The moving Dice statistics that prediction normalizes with, or nil for a ReLU MLP.
  var diceStatistics: DiceMovingStatistics?

  /// Creates a model with weights drawn from `seed`; the widths and the starting output bias
  /// (see ``TrainingConfig/baseRate``) come from `config`.
  ///
  /// Row 0 of every field, the missing-value slot, starts at zero, so a value that training never
  /// sees contributes nothing until a step updates it.
  public convenience init(spec: FeatureSpec, config: TrainingConfig, seed: UInt64) throws(CTRError)
  {
    try spec.validate()
    try config.validate()
    self.init(
      validSpec: spec, attentionHidden: config.attentionHidden, mlpHidden: config.mlpHidden,
      mlpActivation: config.mlpActivation)
    var random = SplitMix64(seed: seed)
    for index in embeddings.indices {
      embeddings[index] = random.nextFloat(in: -0.05..<0.05)
    }
    let d = spec.embeddingDimension
    for offset in layout.offsets {
      for j in 0..<d { embeddings[offset * d + j] = 0 }
    }
    for layer in structure.allLayers {
      layer.initialize(&dense, random: &random)
    }
    if let baseRate = config.baseRate {
      let output = structure.mlp.layers[structure.mlp.layers.count - 1]
      dense[output.biasOffset] = Probability.logit(baseRate)
    }
  }

  /// Creates a model with zero weights (Dice alphas included) from a validated spec; Dice moving
  /// statistics start at mean 0 and variance 1.
  init(
    validSpec spec: FeatureSpec, attentionHidden: [Int], mlpHidden: [Int],
    mlpActivation: MLPActivation = .relu
  ) {
    self.spec = spec
    self.attentionHidden = attentionHidden
    self.mlpHidden = mlpHidden
    layout = EmbeddingLayout(spec: spec)
    fingerprint = spec.tableFingerprint
    structure = AttentionStructure(
      spec: spec, attentionHidden: attentionHidden, mlpHidden: mlpHidden,
      mlpActivation: mlpActivation)
    kind = structure.mode == .plain ? .dnn : .attention
    embeddings = [Float](repeating: 0, count: layout.totalRows * spec.embeddingDimension)
    dense = [Float](repeating: 0, count: structure.denseCount)
    if mlpActivation == .dice {
      diceStatistics = .initial(units: structure.mlp.diceUnits)
    }
  }

  /// The number of rows one forward pass handles in `predict`, bounding its memory.
  static let predictionChunk = 256

  /// Adds `delta` to the bias of the final MLP's output unit.
  public func shiftOutputBias(by delta: Float) {
    let output = structure.mlp.layers[structure.mlp.layers.count - 1]
    dense[output.biasOffset] += delta
  }

  /// Returns `batch` with the rows training never updated replaced by their field's row 0.
  func resolvingUntrainedRows(_ batch: EncodedBatch) -> EncodedBatch {
    guard let trainedRows else { return batch }
    return layout.replacingUntrainedRows(batch, trained: trainedRows)
  }

  /// Returns pCTR per row, corrected for negative downsampling; traps when `batch` was encoded
  /// for another spec (see ``ClickModel/check(_:)``). An embedding row that training never
  /// updated is read as its field's row 0, the missing-value slot.
  public func predict(_ batch: EncodedBatch) -> [Float] {
    guard batch.specFingerprint == fingerprint else {
      fatalError("predict: batch encoded for a different feature spec than the model's")
    }
    var result: [Float] = []
    result.reserveCapacity(batch.count)
    var start = 0
    while start < batch.count {
      let end = min(start + Self.predictionChunk, batch.count)
      let chunk = start == 0 && end == batch.count ? batch : batch.slice(start..<end)
      let logits = FloatMode.flushingSubnormals { predictionLogits(resolvingUntrainedRows(chunk)) }
      for logit in logits {
        result.append(Probability.corrected(logit: logit, negativeSampleRate: negativeSampleRate))
      }
      start = end
    }
    return result
  }
}

/// Logistic functions shared by the models.
enum Probability {
  /// Returns sigmoid(z) without overflow for large |z|.
  @inline(__always) static func sigmoid(_ z: Float) -> Float {
    if z >= 0 {
      return 1 / (1 + Math.exponential(-z))
    }
    let e = Math.exponential(z)
    return e / (1 + e)
  }

  /// Returns binary cross-entropy from the logit: max(z, 0) - z * y + log(1 + exp(-|z|)).
  @inline(__always) static func crossEntropy(logit z: Float, label y: Float) -> Float {
    max(z, 0) - z * y + Math.logarithmOnePlus(Math.exponential(-abs(z)))
  }

  /// Returns the log-odds log(p / (1 - p)), with p clamped to [1e-6, 1 - 1e-6].
  static func logit(_ p: Float) -> Float {
    let clamped = min(max(p, 1e-6), 1 - 1e-6)
    return Math.logarithm(clamped / (1 - clamped))
  }

  /// Returns sigmoid(z) corrected for negatives kept at rate w: q = p / (p + (1 - p) / w).
  @inline(__always) static func corrected(logit z: Float, negativeSampleRate w: Float) -> Float {
    let p = sigmoid(z)
    if w == 1 { return p }
    return p / (p + (1 - p) / w)
  }
}
