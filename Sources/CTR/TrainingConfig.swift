// Hyper-parameters of the CTR models and their trainer, with the defaults the pipeline uses.
// Values are checked by validate(); models and the trainer call it.

/// Training and architecture hyper-parameters.
public struct TrainingConfig: Sendable, Equatable {
  /// Rows per training step. The caller cuts its batches to this size; the trainer takes any.
  public var batchSize: Int = 1024
  /// The Adam step size for the attention model's dense weights and embedding rows.
  public var learningRate: Float = 0.001
  /// The Adam step size for the logistic baseline. Adam moves each weight by about this much
  /// per step. The baseline has no hidden layers to amplify a step, so it needs a larger one
  /// than the attention model to reach its weights within a few epochs.
  public var logisticLearningRate: Float = 0.02
  /// The click rate of the training rows, in (0, 1), or nil when unknown. Both models start
  /// their output bias at its log-odds, so the first steps need not learn the base rate.
  public var baseRate: Float?
  /// The L2 coefficient, applied to every dense weight and bias and to the embedding rows a step
  /// touches (never to untouched rows). A touched row's L2 is weighted by the steps since its
  /// last update, so that every row is regularized as if L2 had reached it at each step.
  public var l2: Float = 1e-6
  /// The seed of weight initialization, for the caller to pass as the model initializer's `seed`
  /// (the initializers take it explicitly and do not read this value).
  public var seed: UInt64 = 42
  /// Hidden widths of the final MLP, before the one-logit output.
  public var mlpHidden: [Int] = [200, 80]
  /// The activation of the final MLP's hidden layers. Dice normalizes with the statistics of
  /// each thread's share of a training step and with moving averages of them in prediction
  /// (see ``MLPActivation/dice``).
  public var mlpActivation: MLPActivation = .relu
  /// Hidden widths of the attention activation unit (ReLU), before the one-weight output.
  public var attentionHidden: [Int] = [80, 40]
  /// The epoch limit of the caller's training loop; the trainer does not read it.
  public var maxEpochs: Int = 10
  /// Validation records without a better loss before `Trainer.shouldStop` turns true (at least 1).
  public var patience: Int = 2
  /// Threads per step, each taking a contiguous share of the batch. A model trained with a given
  /// seed and thread count is the same bit for bit on every run; other thread counts round
  /// differently.
  public var threads: Int = 1
  /// The fraction w of negatives kept when the caller downsampled them, in (0, 1]. Predictions
  /// are corrected with q = p / (p + (1 - p) / w).
  public var negativeSampleRate: Float = 1

  /// Creates the default configuration.
  public init() {}

  /// Checks every value, throwing on the first that is out of range.
  public func validate() throws(CTRError) {
    func fail(_ message: String) -> CTRError { CTRError(.invalidConfig, message) }
    if batchSize < 1 { throw fail("batchSize must be >= 1, got \(batchSize)") }
    if !(learningRate > 0 && learningRate.isFinite) {
      throw fail("learningRate must be a positive number, got \(learningRate)")
    }
    if !(logisticLearningRate > 0 && logisticLearningRate.isFinite) {
      throw fail("logisticLearningRate must be a positive number, got \(logisticLearningRate)")
    }
    if let baseRate, !(baseRate > 0 && baseRate < 1) {
      throw fail("baseRate must be in (0, 1), got \(baseRate)")
    }
    if !(l2 >= 0 && l2.isFinite) { throw fail("l2 must be >= 0, got \(l2)") }
    if mlpHidden.contains(where: { $0 < 1 }) {
      throw fail("mlpHidden widths must be >= 1, got \(mlpHidden)")
    }
    if attentionHidden.contains(where: { $0 < 1 }) {
      throw fail("attentionHidden widths must be >= 1, got \(attentionHidden)")
    }
    if maxEpochs < 1 { throw fail("maxEpochs must be >= 1, got \(maxEpochs)") }
    if patience < 0 { throw fail("patience must be >= 0, got \(patience)") }
    if threads < 1 { throw fail("threads must be >= 1, got \(threads)") }
    if !(negativeSampleRate > 0 && negativeSampleRate <= 1) {
      throw fail("negativeSampleRate must be in (0, 1], got \(negativeSampleRate)")
    }
  }
}
