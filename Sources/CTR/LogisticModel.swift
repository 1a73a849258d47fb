// The hashed logistic-regression baseline on the same encoded fields as the attention model.
// It has one weight per field bucket, one per bag-of-items id, and a bias; no interactions.

/// Hashed logistic regression: `logit = bias + sum of field-bucket weights + sum of item weights`.
///
/// Field buckets use the encoder's global rows. Behaviour items form a bag: every sub-field value
/// of every real item adds the weight of its row in a second table of the same size, separate
/// from the field weights, so "the user clicked X before" and "the ad is X" are learned apart.
public final class LogisticModel: ClickModel, @unchecked Sendable {
  public var kind: ModelKind { .logistic }
  public let spec: FeatureSpec
  /// The fraction of negatives kept in training; predictions are corrected for it.
  public internal(set) var negativeSampleRate: Float = 1

  let layout: EmbeddingLayout
  /// The spec's table fingerprint, compared with every batch.
  let fingerprint: UInt64
  /// `[2 * totalRows]`: field-bucket weights, then bag-of-items weights.
  var embeddings: [Float]
  /// `[1]`: the bias.
  var dense: [Float]
  /// The rows of `embeddings` training has updated, or nil for a model no trainer has stepped
  /// (and for files of format version 1), whose weights are all used as they are.
  var trainedRows: TrainedRows?

  /// Creates a model with zero weights, the usual start for logistic regression, and the bias
  /// at the log-odds of ``TrainingConfig/baseRate`` when it is set. The `seed` is unused, so
  /// the call matches ``AttentionModel``'s.
  public convenience init(spec: FeatureSpec, config: TrainingConfig, seed: UInt64)
    throws(CTRError)
  {
    try spec.validate()
    try config.validate()
    self.init(validSpec: spec)
    if let baseRate = config.baseRate {
      dense[0] = Probability.logit(baseRate)
    }
  }

  init(validSpec spec: FeatureSpec) {
    self.spec = spec
    layout = EmbeddingLayout(spec: spec)
    fingerprint = spec.tableFingerprint
    embeddings = [Float](repeating: 0, count: 2 * layout.totalRows)
    dense = [0]
  }

  /// Adds `delta` to the bias.
  public func shiftOutputBias(by delta: Float) {
    dense[0] += delta
  }

  /// Returns `batch` with the rows training never updated replaced by their field's row 0.
  func resolvingUntrainedRows(_ batch: EncodedBatch) -> EncodedBatch {
    guard let trainedRows else { return batch }
    return layout.replacingUntrainedRows(
      batch, trained: trainedRows, sequenceBase: layout.totalRows)
  }

  /// Returns pCTR per row, corrected for negative downsampling; traps when `batch` was encoded
  /// for another spec (see ``ClickModel/check(_:)``). A weight that training never updated is
  /// read as its field's row 0, the missing-value weight.
  public func predict(_ batch: EncodedBatch) -> [Float] {
    guard batch.specFingerprint == fingerprint else {
      fatalError("predict: batch encoded for a different feature spec than the model's")
    }
    return logits(resolvingUntrainedRows(batch)).map {
      Probability.corrected(logit: $0, negativeSampleRate: negativeSampleRate)
    }
  }

  // Forward. batch of B rows -> logits [B], each summed in field order, then item order.
  func logits(_ batch: EncodedBatch) -> [Float] {
    var result = [Float](repeating: 0, count: batch.count)
    let bag = layout.totalRows
    for b in 0..<batch.count {
      var z = dense[0]
      for f in 0..<batch.fieldCount {
        z += embeddings[Int(batch.fieldRows[b * batch.fieldCount + f])]
      }
      let itemValues = Int(batch.sequenceLengths[b]) * batch.subfieldCount
      for index in 0..<itemValues {
        z += embeddings[bag + Int(batch.sequenceRows[b * batch.sequenceStride + index])]
      }
      result[b] = z
    }
    return result
  }

  // Backward. dlogit [B] -> d bias (returned as [1]) and one gradient per weight used (added to
  // `sparse`, width 1). Every weight in a row's sum gets that row's dlogit.
  func backward(_ batch: EncodedBatch, logitGradient: [Float], sparse: inout SparseGradient)
    -> [Float]
  {
    var bias: Float = 0
    let bag = Int32(layout.totalRows)
    for b in 0..<batch.count {
      let g = logitGradient[b]
      bias += g
      for f in 0..<batch.fieldCount {
        sparse.add(row: batch.fieldRows[b * batch.fieldCount + f], g)
      }
      let itemValues = Int(batch.sequenceLengths[b]) * batch.subfieldCount
      for index in 0..<itemValues {
        sparse.add(row: bag + batch.sequenceRows[b * batch.sequenceStride + index], g)
      }
    }
    return [bias]
  }
}
