// The training loop's single step and early-stopping bookkeeping, for every model kind.
// The caller streams batches; the trainer never reads data and never applies a step whose loss
// or gradients are not finite.

import Dispatch

/// The weights and the forward and backward passes that a trainer drives.
protocol TrainableModel: ClickModel {
  var embeddings: [Float] { get set }
  var dense: [Float] { get set }
  var negativeSampleRate: Float { get set }
  /// The rows of `embeddings` that a step has updated; the trainer creates and fills it.
  var trainedRows: TrainedRows? { get set }
  /// Returns the Adam step size that this model kind takes from `config`.
  static func learningRate(_ config: TrainingConfig) -> Float
  /// The width of one row of `embeddings`.
  var embeddingWidth: Int { get }
  /// Returns the mean cross-entropy, the dense gradients, and adds the embedding-row gradients.
  func lossAndGradients(_ batch: EncodedBatch, sparse: inout SparseGradient)
    -> (loss: Double, dense: [Float])
  /// Returns the mean cross-entropy of the batch (no gradients), reading untrained rows as
  /// their field's row 0 like `predict`.
  func loss(_ batch: EncodedBatch) -> Double
  /// Returns what ``lossAndGradients(_:sparse:)`` returns and the Dice batch statistics of the
  /// rows, nil for a model without Dice.
  func trainingStep(_ batch: EncodedBatch, sparse: inout SparseGradient)
    -> (loss: Double, dense: [Float], statistics: DiceStatistics?)
  /// The moving Dice statistics, nil for a model without Dice.
  var diceStatistics: DiceMovingStatistics? { get set }
}

extension TrainableModel {
  func trainingStep(_ batch: EncodedBatch, sparse: inout SparseGradient)
    -> (loss: Double, dense: [Float], statistics: DiceStatistics?)
  {
    let (loss, dense) = lossAndGradients(batch, sparse: &sparse)
    return (loss, dense, nil)
  }
}

/// Mean binary cross-entropy of logits, summed in Double in row order.
func meanCrossEntropy(logits: [Float], labels: [Float]) -> Double {
  guard !logits.isEmpty else { return 0 }
  var sum = 0.0
  for (z, y) in zip(logits, labels) {
    sum += Double(Probability.crossEntropy(logit: z, label: y))
  }
  return sum / Double(logits.count)
}

/// d(mean cross-entropy) / d logit = (sigmoid(z) - y) / B per row.
func crossEntropyGradient(logits: [Float], labels: [Float]) -> [Float] {
  let scale = 1 / Float(max(logits.count, 1))
  return zip(logits, labels).map { (Probability.sigmoid($0) - $1) * scale }
}

extension TrainableModel {
  public var weightsAreFinite: Bool {
    embeddings.allSatisfy { $0.isFinite } && dense.allSatisfy { $0.isFinite }
  }
}

extension AttentionModel: TrainableModel {
  var embeddingWidth: Int { spec.embeddingDimension }

  static func learningRate(_ config: TrainingConfig) -> Float { config.learningRate }

  /// Returns the loss and gradients of a training step: Dice layers normalize with the
  /// statistics of `batch` itself.
  func lossAndGradients(_ batch: EncodedBatch, sparse: inout SparseGradient)
    -> (loss: Double, dense: [Float])
  {
    let (loss, dense, _) = trainingStep(batch, sparse: &sparse)
    return (loss, dense)
  }

  func trainingStep(_ batch: EncodedBatch, sparse: inout SparseGradient)
    -> (loss: Double, dense: [Float], statistics: DiceStatistics?)
  {
    let cache = forward(batch, batchStatistics: true)
    let loss = meanCrossEntropy(logits: cache.logits, labels: batch.labels)
    let dz = crossEntropyGradient(logits: cache.logits, labels: batch.labels)
    let gradients = backward(cache, batch: batch, logitGradient: dz, sparse: &sparse)
    guard !cache.mlpDice.isEmpty else { return (loss, gradients, nil) }
    var statistics = DiceStatistics(mean: [], variance: [])
    for layer in cache.mlpDice {
      statistics.mean += layer.statistics.mean
      statistics.variance += layer.statistics.variance
    }
    return (loss, gradients, statistics)
  }

  /// Returns the mean loss, running the forward pass in chunks so memory stays bounded.
  func loss(_ batch: EncodedBatch) -> Double {
    FloatMode.flushingSubnormals { chunkedLoss(resolvingUntrainedRows(batch)) }
  }

  /// Returns the mean loss of `batch`, whose untrained rows are already resolved.
  private func chunkedLoss(_ batch: EncodedBatch) -> Double {
    guard batch.count > Self.predictionChunk else {
      return meanCrossEntropy(logits: forward(batch).logits, labels: batch.labels)
    }
    var sum = 0.0
    var start = 0
    while start < batch.count {
      let end = min(start + Self.predictionChunk, batch.count)
      let chunk = batch.slice(start..<end)
      sum +=
        meanCrossEntropy(logits: forward(chunk).logits, labels: chunk.labels)
        * Double(chunk.count)
      start = end
    }
    return sum / Double(batch.count)
  }
}

extension LogisticModel: TrainableModel {
  var embeddingWidth: Int { 1 }

  var diceStatistics: DiceMovingStatistics? {
    get { nil }
    set {}
  }

  static func learningRate(_ config: TrainingConfig) -> Float { config.logisticLearningRate }

  func lossAndGradients(_ batch: EncodedBatch, sparse: inout SparseGradient)
    -> (loss: Double, dense: [Float])
  {
    let z = logits(batch)
    let dz = crossEntropyGradient(logits: z, labels: batch.labels)
    let gradients = backward(batch, logitGradient: dz, sparse: &sparse)
    return (meanCrossEntropy(logits: z, labels: batch.labels), gradients)
  }

  func loss(_ batch: EncodedBatch) -> Double {
    meanCrossEntropy(logits: logits(resolvingUntrainedRows(batch)), labels: batch.labels)
  }
}

/// A copy of a model's weights, for keeping the best epoch.
public struct ModelSnapshot: Sendable {
  let embeddings: [Float]
  let dense: [Float]
  let trainedRows: TrainedRows?
  let diceStatistics: DiceMovingStatistics?
}

/// The trainer of an ``AttentionModel`` or a ``LogisticModel``: Adam on dense weights, lazy
/// row-wise Adam on embedding rows, L2 on dense parameters and touched rows, early stopping.
public final class Trainer {
  /// The model being trained; its weights change with every step.
  public var model: any ClickModel { trainable }
  public let config: TrainingConfig
  /// The lowest validation loss recorded so far.
  public private(set) var bestValidationLoss: Double?
  /// Validation records since the best one.
  public private(set) var epochsWithoutImprovement = 0
  /// The number of steps taken.
  public private(set) var steps = 0

  private var trainable: any TrainableModel
  private var denseOptimizer: DenseAdam
  private var embeddingOptimizer: LazyAdam
  private var sparse: SparseGradient
  /// One gradient buffer per worker when `config.threads > 1`.
  private var workerSparse: [SparseGradient] = []
  private var best: ModelSnapshot?

  /// Creates a trainer; the model's negative sample rate is set from `config`.
  public init(model: any ClickModel, config: TrainingConfig) throws(CTRError) {
    try config.validate()
    guard let trainable = model as? any TrainableModel else {
      throw CTRError(
        .invalidConfig,
        "model kind '\(model.kind.rawValue)' is not trainable: use AttentionModel or LogisticModel")
    }
    trainable.negativeSampleRate = config.negativeSampleRate
    self.trainable = trainable
    self.config = config
    let learningRate = type(of: trainable).learningRate(config)
    denseOptimizer = DenseAdam(
      count: trainable.dense.count, learningRate: learningRate, l2: config.l2)
    embeddingOptimizer = LazyAdam(
      count: trainable.embeddings.count, width: trainable.embeddingWidth,
      learningRate: learningRate, l2: config.l2)
    sparse = SparseGradient(
      tableRows: trainable.embeddings.count / trainable.embeddingWidth,
      width: trainable.embeddingWidth)
  }

  /// The Adam step size of the next steps, for dense weights and embedding rows alike. It
  /// starts at the model kind's rate in ``config``, and a caller may lower it between epochs.
  public var learningRate: Float {
    get { denseOptimizer.learningRate }
    set {
      denseOptimizer.learningRate = newValue
      embeddingOptimizer.learningRate = newValue
    }
  }

  /// Takes one optimizer step on `batch` and returns its mean loss before the step.
  ///
  /// Throws when the loss or a gradient is NaN or infinite; the weights are then left as they
  /// were before the call. An empty batch returns 0 and changes nothing.
  public func trainStep(_ batch: EncodedBatch) throws(CTRError) -> Float {
    try checkShape(batch)
    guard batch.count > 0 else { return 0 }
    let (loss, gradients, statistics) = FloatMode.flushingSubnormals { lossAndGradients(batch) }
    guard loss.isFinite else {
      throw CTRError(
        .nonFinite,
        "training loss is \(loss) at step \(steps + 1): lower the learning rate or check the input")
    }
    guard gradients.allSatisfy({ $0.isFinite }) && sparse.isFinite else {
      throw CTRError(
        .nonFinite,
        "a gradient is NaN or infinite at step \(steps + 1): lower the learning rate")
    }
    FloatMode.flushingSubnormals {
      denseOptimizer.update(&trainable.dense, gradients: gradients)
      embeddingOptimizer.update(&trainable.embeddings, gradient: sparse, threads: config.threads)
    }
    if !statistics.isEmpty {
      trainable.diceStatistics?.update(shares: statistics)
    }
    markTrainedRows()
    steps += 1
    return Float(loss)
  }

  /// Returns the mean loss and dense gradients of `batch`, leaving embedding gradients in
  /// `sparse`. With several threads, each takes a contiguous share of the rows, and the shares
  /// are reduced in row order, so a given thread count always gives the same result.
  ///
  /// Dice layers normalize each share with that share's own statistics, as unsynchronized
  /// batch normalization does in data-parallel training, so a thread count fixes the model bit
  /// for bit. The shares' statistics are returned in row order with their row counts, empty
  /// for a model without Dice.
  private func lossAndGradients(_ batch: EncodedBatch) -> (
    loss: Double, dense: [Float], statistics: [(rows: Int, statistics: DiceStatistics)]
  ) {
    sparse.reset()
    let parts = min(config.threads, batch.count)
    guard parts > 1 else {
      let (loss, dense, statistics) = trainable.trainingStep(batch, sparse: &sparse)
      return (loss, dense, statistics.map { [(batch.count, $0)] } ?? [])
    }

    let bounds = (0...parts).map { batch.count * $0 / parts }
    while workerSparse.count < parts {
      workerSparse.append(SparseGradient(tableRows: sparse.tableRows, width: sparse.width))
    }
    var results = [(loss: Double, dense: [Float], statistics: DiceStatistics?)](
      repeating: (0, [], nil), count: parts)
    let model = trainable
    results.withUnsafeMutableBufferPointer { results in
      workerSparse.withUnsafeMutableBufferPointer { workers in
        guard let resultBase = results.baseAddress, let workerBase = workers.baseAddress
        else { return }
        let resultSlots = DisjointSlots(base: resultBase)
        let workerSlots = DisjointSlots(base: workerBase)
        // Workers only read the model's weights; each writes its own result and buffer.
        DispatchQueue.concurrentPerform(iterations: parts) { part in
          workerSlots.base[part].reset()
          let share = batch.slice(bounds[part]..<bounds[part + 1])
          resultSlots.base[part] = FloatMode.flushingSubnormals {
            model.trainingStep(share, sparse: &workerSlots.base[part])
          }
        }
      }
    }

    // Each share's mean is weighted by its share of the rows.
    var loss = 0.0
    var dense = [Float](repeating: 0, count: trainable.dense.count)
    var statistics: [(rows: Int, statistics: DiceStatistics)] = []
    var weights: [Float] = []
    for part in 0..<parts {
      let rows = bounds[part + 1] - bounds[part]
      let weight = Float(rows) / Float(batch.count)
      weights.append(weight)
      loss += results[part].loss * Double(rows) / Double(batch.count)
      for index in dense.indices {
        dense[index] += weight * results[part].dense[index]
      }
      if let shareStatistics = results[part].statistics {
        statistics.append((rows, shareStatistics))
      }
    }
    sparse.merge(Array(workerSparse.prefix(parts)), weights: weights, threads: config.threads)
    return (loss, dense, statistics)
  }

  /// Records the rows this step updated, so that prediction stops replacing them.
  private func markTrainedRows() {
    var trained =
      trainable.trainedRows
      ?? TrainedRows(count: trainable.embeddings.count / trainable.embeddingWidth)
    for row in sparse.rows {
      trained.insert(Int(row))
    }
    trainable.trainedRows = trained
  }

  /// Returns the mean loss of `batch` without changing the model.
  public func loss(_ batch: EncodedBatch) throws(CTRError) -> Double {
    try checkShape(batch)
    return trainable.loss(batch)
  }

  private func checkShape(_ batch: EncodedBatch) throws(CTRError) {
    try trainable.check(batch)
  }

  /// Returns a copy of the current weights.
  public func snapshot() -> ModelSnapshot {
    ModelSnapshot(
      embeddings: trainable.embeddings, dense: trainable.dense,
      trainedRows: trainable.trainedRows, diceStatistics: trainable.diceStatistics)
  }

  /// Puts back weights from `snapshot`; throws when it was taken from a model of another shape.
  public func restore(_ snapshot: ModelSnapshot) throws(CTRError) {
    guard
      snapshot.embeddings.count == trainable.embeddings.count
        && snapshot.dense.count == trainable.dense.count
        && (snapshot.diceStatistics == nil) == (trainable.diceStatistics == nil)
    else {
      throw CTRError(
        .batchMismatch,
        "snapshot has \(snapshot.embeddings.count) embedding and \(snapshot.dense.count) dense "
          + "values, the model \(trainable.embeddings.count) and \(trainable.dense.count): "
          + "restore snapshots of this trainer's model only")
    }
    trainable.embeddings = snapshot.embeddings
    trainable.dense = snapshot.dense
    trainable.trainedRows = snapshot.trainedRows
    trainable.diceStatistics = snapshot.diceStatistics
  }

  /// Records an epoch's validation loss; returns true, and snapshots the weights, when it is the
  /// best so far.
  @discardableResult
  public func recordValidation(loss: Double) -> Bool {
    if let bestValidationLoss, !(loss < bestValidationLoss) {
      epochsWithoutImprovement += 1
      return false
    }
    bestValidationLoss = loss
    epochsWithoutImprovement = 0
    best = snapshot()
    return true
  }

  /// True once `config.patience` validation records in a row failed to improve.
  public var shouldStop: Bool {
    bestValidationLoss != nil && epochsWithoutImprovement >= max(config.patience, 1)
  }

  /// Puts back the weights of the best recorded validation; returns false when none was recorded.
  @discardableResult
  public func restoreBest() -> Bool {
    guard let best else { return false }
    trainable.embeddings = best.embeddings
    trainable.dense = best.dense
    trainable.trainedRows = best.trainedRows
    trainable.diceStatistics = best.diceStatistics
    return true
  }
}

/// A buffer whose elements are each written by exactly one concurrent worker.
private struct DisjointSlots<Element>: @unchecked Sendable {
  let base: UnsafeMutablePointer<Element>
}
