// Trains a data set's attention model and its hashed logistic baseline on the same streamed
// rows, validates both on the same held-out rows, registers both and moves the champion alias.
// Rows stream from PostgreSQL once into an on-disk cache, so memory does not grow with the log.

import CTR
import Foundation
import Postgres

/// Settings of one training run.
public struct TrainOptions: Sendable {
  public var dataset: String
  /// The registry name; the data set's name when nil.
  public var modelName: String?
  public var maxEpochs = 8
  /// Epochs without a better validation log loss before training stops.
  public var patience = 1
  /// Rows per training step, or nil to let the pipeline choose from the number of training rows
  /// (see ``TrainingPipeline/automaticBatchSize(trainingRows:)``).
  public var batchSize: Int?
  /// The attention model's Adam step size in the first epoch.
  public var learningRate: Float = 0.002
  /// The factor in (0, 1] applied to the attention model's step size after each epoch.
  public var learningRateDecay: Float = 0.5
  /// The L2 coefficient of both models (see ``TrainingConfig/l2``).
  public var l2: Float = 5e-5
  /// The logistic baseline's Adam step size.
  public var logisticLearningRate: Float = TrainingConfig().logisticLearningRate
  /// Threads per training step. A seed and a thread count fix the model bit for bit; another
  /// thread count rounds differently. The default is the number of active processors.
  public var threads = ProcessInfo.processInfo.activeProcessorCount
  public var seed: UInt64 = 1
  /// Rows shuffled together before batching; bounds memory.
  public var shuffleBuffer = 65_536
  /// Relative log-loss improvement a challenger needs to replace the champion.
  public var promotionMargin = 0.001
  /// The fraction w of non-clicked training rows kept, in (0, 1]; every click is kept. The
  /// models store w and correct their predictions with q = p / (p + (1 - p) / w).
  public var negativeRate = 1.0
  /// Starts from the current champion's weights instead of fresh ones and trains on the rows
  /// logged after the champion's training window (see ``TrainingPipeline/run(_:)``).
  public var warmStart = false
  /// The activation of the attention model's final-MLP hidden layers. Nil takes the champion's
  /// on a warm start, and ReLU otherwise.
  public var mlpActivation: MLPActivation?
  /// The pCTR in (0, 1) at or above which a validation row counts as a predicted click for
  /// precision, recall and F1. Nil uses the click rate of the training rows.
  public var threshold: Double?
  /// Days at the end of the log held out for validation, for data sets without a 'test'
  /// split. Two days or more let a weekly pattern be validated on weekdays seen in training.
  public var validationDays = 1

  public init(dataset: String) {
    self.dataset = dataset
  }
}

/// The held-out evaluation of one model.
public struct ModelEvaluation: Sendable {
  public var label: String
  public var record: ModelRecord
  public var report: EvaluationReport
}

/// The result of a training run: row counts, both models' evaluations and the champion.
public struct TrainOutcome: Sendable {
  public var dataset: DatasetInfo
  public var trainRows: Int
  public var validationRows: Int
  public var epochs: Int
  public var attention: ModelEvaluation
  public var logistic: ModelEvaluation
  /// The previous champion evaluated on the same validation rows, when there was one.
  public var previousChampion: ModelEvaluation?
  /// The model the champion alias points at after the run. Nil when the data set changed
  /// during the run and the name had no champion, or one that cannot serve the data set.
  public var champion: ModelRecord?
  public var championReason: String
  public var validationDescription: String
  /// The fraction of non-clicks kept (1 without downsampling).
  public var negativeRate: Double
  /// Non-clicked training rows that downsampling dropped.
  public var droppedNegatives: Int
  /// The champion a warm start began from, or nil for fresh weights.
  public var warmStartedFrom: ModelRecord?
  /// The mean training loss of the first step, before its update, per model.
  public var firstStepLoss: (attention: Float, logistic: Float)
  /// The attention model's validation log loss after each epoch, first epoch first.
  public var epochLogLosses: [Double] = []
  /// The epoch whose weights each model kept: the one with the lowest validation log loss,
  /// the earliest of equal ones.
  public var bestEpoch: (attention: Int, logistic: Int) = (1, 1)
  /// The threshold of the evaluations' precision, recall and F1.
  public var threshold: Double
  /// The activation of the attention model's final-MLP hidden layers.
  public var mlpActivation: MLPActivation
  /// A warning when the validation days have far fewer rows a day than the training days.
  public var sparseValidation: String? = nil
  /// A note when an import or `adpilot generate` replaced the data set after the run read its
  /// rows, which kept the champion alias where it was.
  public var datasetChangeNote: String? = nil
  /// A note when a warm start continued a champion trained on another 'train' split of the
  /// data set, whose 'test' split may contain rows that the champion learned from.
  public var warmStartSplitNote: String? = nil
}

/// Trains, evaluates and registers models for one data set.
public struct TrainingPipeline {
  let connection: Connection
  let logger: Logger
  /// Runs after the training rows are cached and before the validation rows are read (tests
  /// change the data set here).
  var afterTrainingRowsCached: (() throws -> Void)?
  /// Runs after the last epoch and before the models are registered (tests end the
  /// connection's backend here).
  var beforeRegistering: (() throws -> Void)?

  public init(connection: Connection, logger: Logger) {
    self.connection = connection
    self.logger = logger
  }

  /// Runs the whole training job described by `options`.
  ///
  /// The first epoch streams the training rows from PostgreSQL into a private cache file, and
  /// later epochs and every validation pass read the cache. With `options.warmStart`, the
  /// champion of the model name supplies the starting weights of the model of its kind, and
  /// the other model starts fresh. Adam's moments start at zero. Training then reads the rows
  /// from the end of the champion's training window up to the validation day.
  public func run(_ options: TrainOptions) throws -> TrainOutcome {
    // Every read up to the cached rows uses one snapshot, so an import that replaces the data
    // set meanwhile cannot leave training rows of the old data and validation rows of the new.
    try connection.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
    var snapshotOpen = true
    defer {
      if snapshotOpen { _ = try? connection.execute("ROLLBACK") }
    }
    let dataset = try loadDataset(connection, name: options.dataset)
    let datasetRead = try datasetVersion(dataset)
    guard dataset.hasFeatures else {
      throw PipelineError(
        "data set '\(dataset.name)' logs no features (it carries an outside model's pCTR); "
          + "train on a data set with features, such as synthetic, criteo or ipinyou_2997")
    }
    if let threshold = options.threshold, !(threshold > 0 && threshold < 1) {
      throw PipelineError(
        "threshold must be in (0, 1), got \(threshold); pass a pCTR such as 0.05, or leave it "
          + "out to use the training click rate")
    }
    guard options.negativeRate > 0 && options.negativeRate <= 1 else {
      throw PipelineError(
        "negative rate must be in (0, 1], got \(options.negativeRate); pass a fraction such "
          + "as 0.25 to keep a quarter of the non-clicks, or 1 to keep them all")
    }
    guard options.learningRateDecay > 0 && options.learningRateDecay <= 1 else {
      throw PipelineError(
        "learning rate decay must be in (0, 1], got \(options.learningRateDecay); pass 0.5 to "
          + "halve the step size after each epoch, or 1 to keep it")
    }
    let name = options.modelName ?? dataset.name
    try checkModelName(name, dataset: dataset)
    var windows = try trainingWindows(dataset, validationDays: options.validationDays)
    let start = try options.warmStart ? warmStartPoint(name: name, dataset: dataset) : nil
    var options = options
    let activation =
      options.mlpActivation ?? (start?.model as? AttentionModel)?.mlpActivation ?? .relu
    options.mlpActivation = activation
    if let start {
      try checkWarmStart(start, dataset: dataset, activation: activation)
      windows = try warmStartWindows(
        windows, dataset: dataset, after: start, validationDays: options.validationDays)
    }

    let statistics = try impressionStatistics(connection, windows.train)
    guard statistics.rows > 0 else {
      let fix =
        dataset.validation == "split"
        ? "load its 'train' split first (for example `adpilot import ipinyou FILE --split train`)"
        : "load more days of logs"
      throw PipelineError(
        "data set '\(dataset.name)' has no training rows (\(windows.description)); \(fix)")
    }
    // Training rows of one class teach the models to predict 0 (or 1) for every row. Such a
    // model can still win the log-loss comparison on a validation window of the same class.
    guard statistics.clicks > 0 && statistics.clicks < statistics.rows else {
      let content = statistics.clicks == 0 ? "no clicks" : "only clicks"
      let widen =
        dataset.validation == "split"
        ? "import a training split with both clicks and non-clicks" : "train over a longer window"
      throw PipelineError(
        "data set '\(dataset.name)' has \(content) in its \(statistics.rows) training rows "
          + "(\(windows.description)); check that the click column was loaded, or \(widen)")
    }
    let validationRows = try impressionStatistics(connection, windows.validation).rows
    guard validationRows > 0 else {
      throw PipelineError(
        "data set '\(dataset.name)' has no validation rows (\(windows.description)); load "
          + "them first, for a data set with splits its 'test' split (for example `adpilot "
          + "import ipinyou FILE --split test`)")
    }
    let sparseValidation =
      dataset.validation == "time"
      ? Self.sparseValidationWarning(
        train: (statistics.rows, try loggedDayCount(connection, windows.train)),
        validation: (validationRows, try loggedDayCount(connection, windows.validation)),
        validationStart: windows.trainTo) : nil
    options.batchSize = options.batchSize ?? Self.automaticBatchSize(trainingRows: statistics.rows)
    options.threshold = options.threshold ?? Self.defaultThreshold(statistics)
    let config = trainingConfig(options, statistics: statistics)
    logger.debug(
      "training rows counted",
      [
        "train.rows": "\(statistics.rows)", "train.click_rate": format(statistics.clickRate),
        "train.batch_size": "\(config.batchSize)", "train.threads": "\(config.threads)",
        "train.negative_rate": "\(options.negativeRate)",
        "train.activation": activation.rawValue,
      ])

    let models = try startingModels(dataset: dataset, config: config, options: options, from: start)
    let attentionTrainer = try Trainer(model: models.attention, config: config)
    let logisticTrainer = try Trainer(model: models.logistic, config: config)

    let sampling =
      options.negativeRate < 1
      ? NegativeSampling(rate: options.negativeRate, seed: options.seed) : nil
    let rows = try CachedRows(connection: connection, spec: dataset.spec, sampling: sampling)
    // Every click is kept, so the cache contains both classes unless sampling dropped every
    // non-click.
    let cached = try rows.cacheTrainingRows(windows.train)
    guard cached.read - cached.droppedNegatives > statistics.clicks else {
      throw PipelineError(
        "negative downsampling at rate \(options.negativeRate) kept none of the "
          + "\(cached.read - statistics.clicks) non-clicks of the training rows, so only "
          + "clicks are left to train on; raise --negative-rate")
    }
    try afterTrainingRowsCached?()
    try rows.cacheValidationRows(windows.validation)
    try connection.execute("COMMIT")
    snapshotOpen = false

    var best: (attention: [UInt8], logistic: [UInt8]) = (
      models.attention.serialized(), models.logistic.serialized()
    )
    var bestLoss = (attention: Double.infinity, logistic: Double.infinity)
    var bestEpoch = (attention: 1, logistic: 1)
    var epochsWithoutGain = 0
    var trainRows = 0
    var epochsRun = 0
    var firstStepLoss: (attention: Float, logistic: Float)?
    var epochLogLosses: [Double] = []
    for epoch in 1...max(1, options.maxEpochs) {
      let started = Date()
      var lossSum = (attention: 0.0, logistic: 0.0)
      var batches = 0
      trainRows = try rows.forEachTrainingBatch(
        windows.train, shuffleBuffer: options.shuffleBuffer,
        batchSize: config.batchSize, seed: options.seed &* 1_000_003 &+ UInt64(epoch)
      ) { batch in
        let loss = (
          attention: try attentionTrainer.trainStep(batch),
          logistic: try logisticTrainer.trainStep(batch)
        )
        if firstStepLoss == nil { firstStepLoss = loss }
        lossSum.attention += Double(loss.attention)
        lossSum.logistic += Double(loss.logistic)
        batches += 1
      }
      let meanLoss = (
        attention: lossSum.attention / Double(max(batches, 1)),
        logistic: lossSum.logistic / Double(max(batches, 1))
      )
      try Self.checkDivergence(
        epoch: epoch, meanLoss: meanLoss, baseRate: config.baseRate, options: options)
      let validation = try predict(
        models: [models.attention, models.logistic], rows: rows, filter: windows.validation)
      let attentionLoss = Metrics.logLoss(
        predictions: validation.predictions[0], labels: validation.labels)
      let logisticLoss = Metrics.logLoss(
        predictions: validation.predictions[1], labels: validation.labels)
      epochsRun = epoch
      epochLogLosses.append(attentionLoss)
      let seconds = Date().timeIntervalSince(started)
      logger.info(
        "epoch finished",
        [
          "epoch": "\(epoch)", "train.rows": "\(trainRows)",
          "train.loss": format(meanLoss.attention),
          "valid.logloss": format(attentionLoss), "baseline.valid.logloss": format(logisticLoss),
          "train.samples_per_s": "\(Int(Double(trainRows) / max(seconds, 1e-9)))",
        ])
      attentionTrainer.learningRate *= options.learningRateDecay
      if logisticLoss < bestLoss.logistic {
        bestLoss.logistic = logisticLoss
        bestEpoch.logistic = epoch
        best.logistic = models.logistic.serialized()
      }
      if attentionLoss < bestLoss.attention {
        bestLoss.attention = attentionLoss
        bestEpoch.attention = epoch
        best.attention = models.attention.serialized()
        epochsWithoutGain = 0
      } else {
        epochsWithoutGain += 1
        if epochsWithoutGain > options.patience { break }
      }
    }

    // Early stopping restores the weights of the best epoch of each model.
    let finalAttention = try loadModel(best.attention)
    let finalLogistic = try loadModel(best.logistic)
    try refitOutputBiases(
      [("attention", finalAttention), ("logistic", finalLogistic)], rows: rows,
      batchSize: config.batchSize)
    try beforeRegistering?()
    try reconnectIfLost()
    var outcome = try evaluateAndRegister(
      dataset: dataset, datasetRead: datasetRead, name: name, windows: windows, options: options,
      rows: rows, models: (finalAttention, finalLogistic), trainRows: trainRows, epochs: epochsRun,
      trainIds: dataset.validation == "split"
        ? "\(cached.read)-\(String(cached.idFingerprint, radix: 16))" : nil,
      warmStartedFrom: start?.record)
    outcome.droppedNegatives = rows.trainCounts.droppedNegatives
    outcome.sparseValidation = sparseValidation
    outcome.firstStepLoss = firstStepLoss ?? (0, 0)
    outcome.epochLogLosses = epochLogLosses
    outcome.bestEpoch = bestEpoch
    return outcome
  }

  // MARK: - Steps

  /// Reconnects when the server closed the connection while the models trained, as a restart
  /// of the server does. Training keeps no transaction open after it caches the rows, so the
  /// models can still be registered on a new connection.
  private func reconnectIfLost() throws {
    do throws(PostgresError) {
      try connection.execute("SELECT 1")
    } catch  where connection.isLost {
      logger.warning(
        "connection lost while training; reconnecting to register the models",
        ["error": error.message, "server": connection.target])
      try connection.reconnect()
    }
  }

  /// Returns a warning when the validation days average under a tenth of the training days'
  /// rows a day, as when one stray timestamp far past the log makes its own last logged day.
  /// Each average counts only the UTC days that have rows.
  static func sparseValidationWarning(
    train: (rows: Int, days: Int), validation: (rows: Int, days: Int), validationStart: Date
  ) -> String? {
    let trainPerDay = Double(train.rows) / Double(max(train.days, 1))
    let validationPerDay = Double(validation.rows) / Double(max(validation.days, 1))
    guard validationPerDay < trainPerDay / 10 else { return nil }
    return "warning: the validation days average \(Int(validationPerDay.rounded())) rows a day, "
      + "against \(Int(trainPerDay.rounded())) a day in training; if a stray timestamp made the "
      + "last logged day (\(isoInstant(validationStart)) on), fix or delete those rows"
  }

  /// Returns the end of a registered model's training window, or nil when it has none stored.
  private func trainingEnd(of record: ModelRecord) throws -> Date? {
    let rows = try connection.query(
      "SELECT extract(epoch FROM train_to)::float8 FROM adpilot.models WHERE id = $1",
      [.text(record.id)])
    guard let row = rows.first, let seconds = try row.optionalDouble(0) else { return nil }
    return Date(timeIntervalSince1970: seconds)
  }

  /// Returns the data set and the ``EncodedStreamCounts/idFingerprint`` text of the rows a
  /// registered model was trained on, or nil for a model registered without them.
  private func trainingRows(of record: ModelRecord) throws -> (dataset: String, ids: String)? {
    let rows = try connection.query(
      """
      SELECT hyperparameters->>'train_dataset', hyperparameters->>'train_ids'
      FROM adpilot.models WHERE id = $1
      """,
      [.text(record.id)])
    guard let row = rows.first, let dataset = try row.optionalString(0),
      let ids = try row.optionalString(1)
    else { return nil }
    return (dataset, ids)
  }

  /// Throws when `name` is another data set's name and that data set has another layout. The
  /// champion of a name scores the requests of the data set of that name, so a model of another
  /// layout would set every one of them aside.
  private func checkModelName(_ name: String, dataset: DatasetInfo) throws {
    guard name != dataset.name,
      !(try connection.query("SELECT 1 FROM adpilot.datasets WHERE name = $1", [.text(name)]))
        .isEmpty
    else { return }
    guard try loadDataset(connection, name: name).spec == dataset.spec else {
      throw PipelineError(
        "model name '\(name)' is the name of another data set, whose feature spec differs from "
          + "data set '\(dataset.name)'s; its champion scores that data set's requests, so "
          + "choose another --model-name")
    }
  }

  private func evaluateAndRegister(
    dataset: DatasetInfo, datasetRead: DatasetVersion, name: String, windows: TrainingWindows,
    options: TrainOptions, rows: CachedRows,
    models: (attention: any ClickModel, logistic: any ClickModel), trainRows: Int, epochs: Int,
    trainIds: String?, warmStartedFrom: ModelRecord?
  ) throws -> TrainOutcome {
    try connection.transaction {
      try connection.advisoryXactLock(Connection.advisoryKey("adpilot.model:\(name)"))
      let registry = ModelRegistry(connection: connection)
      // A champion that cannot serve this data set is replaced as if there were none, and the
      // alias history records which one and why.
      var current: (record: ModelRecord, model: any ClickModel)?
      var replaced: String?
      do {
        current = try registry.champion(of: name)
      } catch let error as PipelineError {
        replaced = try registry.alias("champion", of: name).map {
          "replaces champion \($0), which cannot be loaded (\(error.message))"
        }
      } catch let error as CTRError {
        replaced = try registry.alias("champion", of: name).map {
          "replaces champion \($0), which cannot be loaded (\(error))"
        }
      }
      if let existing = current, existing.model.spec != dataset.spec {
        replaced = "replaces champion \(existing.record.id), whose feature spec differs"
        current = nil
      }
      if let replaced {
        logger.warning("champion replaced as if there were none", ["reason": replaced])
      }

      var candidates: [any ClickModel] = [models.attention, models.logistic]
      if let current { candidates.append(current.model) }
      let validation = try predict(models: candidates, rows: rows, filter: windows.validation)
      guard !validation.labels.isEmpty else {
        throw PipelineError(
          "data set '\(dataset.name)' has no validation rows in \(windows.description)")
      }
      let threshold = options.threshold ?? 0.5
      let reports = validation.predictions.map {
        Metrics.evaluate(
          predictions: $0, labels: validation.labels, groups: validation.groups,
          threshold: threshold)
      }
      for report in reports.prefix(2) where !report.logLoss.isFinite {
        throw PipelineError(
          "validation log loss is not finite (\(report.logLoss)); the model was not registered")
      }

      // Once the lock is granted, an import or generation of the data set that started earlier
      // has committed, and one that starts later waits for this transaction. The row compared
      // here therefore stays unchanged until the alias moves.
      try lockDataset(connection, name: dataset.name)
      let datasetChange = try self.datasetChange(since: datasetRead)

      var hyper = hyperparameters(options)
      if let warmStartedFrom { hyper["warm_start_from"] = warmStartedFrom.id }
      hyper["train_dataset"] = dataset.name
      if let trainIds { hyper["train_ids"] = trainIds }
      // A model that continued a champion of another 'train' split learned from that split's
      // rows too. Its stored ids name both splits, so that it never matches the split loaded
      // now and is kept out of log-loss comparisons on it, as its champion is. In this run it
      // is kept out too, also when another run promoted a model of the split loaded now after
      // this one read the champion.
      var continued = hyper
      var inheritedSplit: String?
      if let warmStartedFrom, let trainIds, let trained = try trainingRows(of: warmStartedFrom),
        trained.dataset == dataset.name, trained.ids != trainIds
      {
        continued["train_ids"] = "\(trainIds) after \(trained.ids)"
        inheritedSplit = warmStartedFrom.id
      }
      let continuedIsLogistic = warmStartedFrom?.kind == ModelKind.logistic.rawValue
      let window = (from: windows.trainFrom, to: windows.trainTo)
      let attentionRecord = try registry.register(
        models.attention, name: name, metrics: Self.metricsDictionary(reports[0]),
        hyperparameters: continuedIsLogistic ? hyper : continued,
        validationLogLoss: reports[0].logLoss, trainWindow: window)
      let logisticRecord = try registry.register(
        models.logistic, name: name, metrics: Self.metricsDictionary(reports[1]),
        hyperparameters: continuedIsLogistic ? continued : hyper,
        validationLogLoss: reports[1].logLoss, trainWindow: window)
      let warmStartSplitNote = inheritedSplit.map { championId in
        let model = continuedIsLogistic ? logisticRecord : attentionRecord
        return "note: champion \(championId) was trained on another 'train' split of data set "
          + "'\(dataset.name)' than the one loaded now, so the 'test' split may contain rows it "
          + "learned from, and the metrics of \(model.id), which continued it, may count them. "
          + "The registry keeps \(model.id) out of log-loss comparisons on this split; train "
          + "without --warm-start for a model that can be compared"
      }

      let challengerIsAttention = reports[0].logLoss < reports[1].logLoss
      let challenger = challengerIsAttention ? attentionRecord : logisticRecord
      let challengerLoss = challengerIsAttention ? reports[0].logLoss : reports[1].logLoss
      let challengerInherited = inheritedSplit.flatMap { championId in
        challengerIsAttention == !continuedIsLogistic ? championId : nil
      }
      var champion: ModelRecord? = challenger
      var reason: String
      var previous: ModelEvaluation?
      if let current {
        let currentLoss = reports[2].logLoss
        previous = ModelEvaluation(
          label: "previous champion", record: current.record, report: reports[2])
        if let championId = challengerInherited, championId != current.record.id {
          // Another run promoted this champion while this one trained from the one before.
          champion = current.record
          reason =
            "kept: challenger \(challenger.id) continued champion \(championId), which was "
            + "trained on another 'train' split of data set '\(dataset.name)' than the one "
            + "loaded now, so its log loss is not comparable; train without --warm-start"
        } else if let validationFrom = windows.validation.from,
          let trainedTo = try trainingEnd(of: current.record), trainedTo > validationFrom
        {
          // The champion's log loss would count rows it learned from.
          champion = current.record
          reason =
            "kept: champion \(current.record.id) trained on rows up to "
            + "\(isoInstant(trainedTo)), after the validation rows start "
            + "(\(isoInstant(validationFrom))), so its log loss is not comparable; validate on "
            + "later days, or promote a model by hand with `adpilot models promote`"
        } else if dataset.validation == "split",
          let trained = try trainingRows(of: current.record), trained.dataset == dataset.name,
          trained.ids != trainIds
        {
          // A reload can move rows the champion learned from into the 'test' split, as a
          // Criteo import with another --seed does, and its log loss would count them.
          champion = current.record
          reason =
            "kept: champion \(current.record.id) was trained on another 'train' split of data "
            + "set '\(dataset.name)' than the one loaded now, so the 'test' split may contain "
            + "rows it learned from and its log loss is not comparable; promote a model by hand "
            + "with `adpilot models promote`"
        } else if challengerLoss < currentLoss * (1 - options.promotionMargin) {
          reason =
            "log loss \(format(challengerLoss)) beats champion \(current.record.id) "
            + "(\(format(currentLoss))) by more than \(options.promotionMargin * 100)%"
        } else {
          champion = current.record
          reason =
            "kept: challenger log loss \(format(challengerLoss)) is not better than "
            + "\(format(currentLoss)) by \(options.promotionMargin * 100)%"
        }
      } else if challengerIsAttention {
        reason =
          "first model: the \(models.attention.kind.rawValue) model's log loss beats the "
          + "logistic baseline"
      } else {
        reason = "first model: the logistic baseline has the lower log loss"
      }
      if current == nil, let replaced {
        reason = "\(replaced); \(reason)"
      }
      var datasetChangeNote: String?
      if let datasetChange {
        // The models were trained and validated on rows the data set no longer has.
        champion = current?.record
        reason =
          (current == nil ? "not moved: " : "kept: ")
          + "data set '\(dataset.name)' changed after training read its rows"
        datasetChangeNote = Self.datasetChangeNote(
          datasetChange, dataset: dataset.name, modelName: name)
        logger.warning(
          "champion alias not moved because the data set changed during training",
          ["dataset": dataset.name, "change": datasetChange])
      }
      if let champion, champion.id != current?.record.id {
        try registry.setAlias("champion", of: name, to: champion.id, reason: reason)
      }
      return TrainOutcome(
        dataset: dataset, trainRows: trainRows, validationRows: validation.labels.count,
        epochs: epochs,
        attention: ModelEvaluation(
          label: models.attention.kind.rawValue, record: attentionRecord, report: reports[0]),
        logistic: ModelEvaluation(label: "logistic", record: logisticRecord, report: reports[1]),
        previousChampion: previous, champion: champion, championReason: reason,
        validationDescription: windows.description, negativeRate: options.negativeRate,
        droppedNegatives: 0, warmStartedFrom: warmStartedFrom, firstStepLoss: (0, 0),
        threshold: threshold, mlpActivation: options.mlpActivation ?? .relu,
        datasetChangeNote: datasetChangeNote, warmStartSplitNote: warmStartSplitNote)
    }
  }

  /// Returns the batch size used when the caller sets none: the largest power of two that
  /// gives at least 100 steps per epoch, within 256...1024.
  ///
  /// Adam moves a weight by about one learning rate per step, so a small data set cut into
  /// 1024-row batches (26 steps per epoch for 27,000 rows) ends training before the weights
  /// have moved far enough. Large data sets keep 1024 rows, which the kernels run fastest.
  public static func automaticBatchSize(trainingRows: Int) -> Int {
    var size = 1024
    while size > 256 && trainingRows / size < 100 {
      size /= 2
    }
    return size
  }

  /// Throws when an epoch's mean training loss shows that a model diverged: above ten times the
  /// loss of predicting the kept rows' click rate for every row, and above 1. Such a model
  /// predicts confidently wrong; NaN and infinite losses stop the trainer itself.
  static func checkDivergence(
    epoch: Int, meanLoss: (attention: Double, logistic: Double), baseRate: Float?,
    options: TrainOptions
  ) throws {
    let p = Double(baseRate ?? 0.5)
    let constantLoss = -(p * log(p) + (1 - p) * log(1 - p))
    let limit = max(10 * constantLoss, 1)
    let checks = [
      ("attention model", meanLoss.attention, "--learning-rate", options.learningRate),
      (
        "logistic baseline", meanLoss.logistic, "--logistic-learning-rate",
        options.logisticLearningRate
      ),
    ]
    for (model, loss, option, rate) in checks where loss > limit {
      throw PipelineError(
        "training diverged: the \(model)'s mean training loss in epoch \(epoch) is "
          + "\(String(format: "%.4g", loss)), against \(String(format: "%.4f", constantLoss)) "
          + "for predicting the click rate on every row; nothing was registered. Lower "
          + "\(option) (it was \(rate))")
    }
  }

  /// Returns the default threshold of precision, recall and F1: the click rate of the training
  /// rows, before negative downsampling. Predictions are corrected for downsampling, so they
  /// are on that scale, and a row at or above it is likelier than average to be clicked.
  /// Training rows with no clicks or only clicks give 0.5, since 0 and 1 would make every row,
  /// or none, a predicted click.
  static func defaultThreshold(_ statistics: ImpressionStatistics) -> Double {
    let rate = statistics.clickRate
    return rate > 0 && rate < 1 ? rate : 0.5
  }

  private func trainingConfig(
    _ options: TrainOptions, statistics: ImpressionStatistics
  ) -> TrainingConfig {
    // The models see the click rate of the kept rows: clicks / (clicks + w * non-clicks).
    let keptNegatives = Double(statistics.rows - statistics.clicks) * options.negativeRate
    let clicks = Double(statistics.clicks)
    let baseRate = clicks + keptNegatives > 0 ? clicks / (clicks + keptNegatives) : 0
    var config = TrainingConfig()
    config.batchSize = options.batchSize ?? config.batchSize
    config.learningRate = options.learningRate
    config.logisticLearningRate = options.logisticLearningRate
    config.l2 = options.l2
    config.threads = options.threads
    config.seed = options.seed
    config.negativeSampleRate = Float(options.negativeRate)
    config.mlpActivation = options.mlpActivation ?? .relu
    // A click rate of exactly 0 or 1 has no finite log-odds; the bias then starts at 0. The
    // check is on the Float because a rate just below 1, from a tiny --negative-rate, rounds
    // to 1 as a Float.
    let rate = Float(baseRate)
    config.baseRate = rate > 0 && rate < 1 ? rate : nil
    return config
  }

  private func hyperparameters(_ options: TrainOptions) -> [String: String] {
    [
      "batch_size": "\(options.batchSize ?? TrainingConfig().batchSize)",
      "learning_rate": "\(options.learningRate)",
      "learning_rate_decay": "\(options.learningRateDecay)",
      "logistic_learning_rate": "\(options.logisticLearningRate)",
      "l2": "\(options.l2)",
      "threads": "\(options.threads)",
      "seed": "\(options.seed)", "max_epochs": "\(options.maxEpochs)",
      "patience": "\(options.patience)", "negative_rate": "\(options.negativeRate)",
      "mlp_activation": (options.mlpActivation ?? .relu).rawValue,
      "validation_days": "\(options.validationDays)",
    ]
  }

  /// Returns the metrics the registry stores for one evaluation. Figures that are nil, such as
  /// an AUC without both classes or a precision without predicted clicks, are left out.
  static func metricsDictionary(_ report: EvaluationReport) -> [String: Double] {
    var metrics: [String: Double] = [
      "log_loss": report.logLoss, "rows": Double(report.count), "clicks": report.clicks,
    ]
    metrics["auc"] = report.auc
    metrics["gauc"] = report.gauc
    metrics["normalized_entropy"] = report.normalizedEntropy
    metrics["calibration"] = report.calibration
    if let classification = report.classification {
      metrics["threshold"] = classification.threshold
      metrics["predicted_clicks"] = Double(classification.predictedPositives)
      metrics["precision"] = classification.precision
      metrics["recall"] = classification.recall
      metrics["f1"] = classification.f1
    }
    return metrics
  }

  /// Predictions of several models over the same validation rows, with labels and user groups.
  struct ValidationPredictions {
    var predictions: [[Float]]
    var labels: [Float] = []
    var groups: [UInt64]?
  }

  /// Moves each model's output bias so that its predictions over the training rows sum to their
  /// clicks (see ``OutputBias``). Rows and clicks are those of the training stream, after any
  /// negative downsampling, so the predictions are taken back to the sampled rate first.
  private func refitOutputBiases(
    _ models: [(name: String, model: any ClickModel)], rows: CachedRows, batchSize: Int
  ) throws {
    let keptRate = rows.sampling?.rate ?? 1
    var histograms = Array(repeating: OutputBias(), count: models.count)
    var clicks = 0.0
    try rows.forEachCachedTrainingBatch(batchSize: max(batchSize, 4096)) { batch in
      for (index, entry) in models.enumerated() {
        let scores = entry.model.predict(
          batch, threads: ProcessInfo.processInfo.activeProcessorCount)
        // Corrected q has odds w times those of the sampled-rate prediction p.
        for q in scores {
          histograms[index].add(
            keptRate == 1 ? q : Float(Double(q) / (Double(q) + (1 - Double(q)) * keptRate)))
        }
      }
      clicks += batch.labels.reduce(0.0) { $0 + Double($1) }
    }
    var fields: [String: String] = [:]
    for (index, entry) in models.enumerated() {
      // No finite shift exists when, for example, the training rows are all clicks or all
      // non-clicks.
      guard let shift = histograms[index].shift(clicks: clicks) else {
        fields["\(entry.name).shift"] = "none"
        continue
      }
      entry.model.shiftOutputBias(by: Float(shift))
      fields["\(entry.name).shift"] = String(format: "%.5f", shift)
    }
    logger.info("output bias refitted to the training clicks", fields)
  }

  private func predict(
    models: [any ClickModel], rows: CachedRows, filter: ImpressionFilter
  ) throws -> ValidationPredictions {
    var result = ValidationPredictions(predictions: Array(repeating: [], count: models.count))
    var groups: [UInt64] = []
    var sawUser = false
    try rows.forEachValidationBatch(filter, batchSize: 4096) { batch, batchGroups in
      for (index, model) in models.enumerated() {
        result.predictions[index].append(
          contentsOf: model.predict(batch, threads: ProcessInfo.processInfo.activeProcessorCount))
      }
      result.labels.append(contentsOf: batch.labels)
      groups.append(contentsOf: batchGroups)
      if !sawUser { sawUser = batchGroups.contains { $0 != Metrics.noGroup } }
    }
    result.groups = sawUser ? groups : nil
    return result
  }

  private func format(_ value: Double) -> String {
    String(format: "%.5f", value)
  }
}

/// The rows a run trains on and the rows it validates on.
struct TrainingWindows {
  var train: ImpressionFilter
  var validation: ImpressionFilter
  var trainFrom: Date
  var trainTo: Date
  var description: String
}

extension TrainingPipeline {
  /// Chooses the training and validation rows: the 'test' split, or the last `validationDays`
  /// logged days (UTC).
  func trainingWindows(_ dataset: DatasetInfo, validationDays: Int = 1) throws -> TrainingWindows {
    guard validationDays >= 1 else {
      throw PipelineError(
        "validation days must be 1 or more, got \(validationDays); pass 1 to validate on the "
          + "last logged day")
    }
    guard let range = try impressionTimeRange(connection, dataset: dataset.name) else {
      throw PipelineError(
        "data set '\(dataset.name)' has no impressions; load it with `adpilot import` "
          + "or `adpilot generate`")
    }
    if dataset.validation == "split" {
      return TrainingWindows(
        train: ImpressionFilter(dataset: dataset.name, split: "train"),
        validation: ImpressionFilter(dataset: dataset.name, split: "test"),
        trainFrom: range.first, trainTo: range.last,
        description: "training rows: split 'train'; validation rows: split 'test'")
    }
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = TimeZone(identifier: "UTC") ?? calendar.timeZone
    let lastDay = calendar.startOfDay(for: range.last)
    let validationFrom = lastDay.addingTimeInterval(-86_400 * Double(validationDays - 1))
    guard validationFrom > range.first else {
      throw PipelineError(
        "data set '\(dataset.name)' has no rows before "
          + Self.validationText(days: validationDays, from: validationFrom)
          + ", so nothing is left for training; generate or import more days"
          + (validationDays > 1 ? ", or lower --validation-days" : ""))
    }
    return TrainingWindows(
      train: ImpressionFilter(dataset: dataset.name, to: validationFrom),
      validation: ImpressionFilter(dataset: dataset.name, from: validationFrom),
      trainFrom: range.first, trainTo: validationFrom,
      description: "training rows: before \(isoInstant(validationFrom)); validation rows: "
        + Self.validationText(days: validationDays, from: validationFrom))
  }

  /// Returns "the last day, from <instant>" or "the last N days, from <instant>".
  static func validationText(days: Int, from start: Date) -> String {
    (days == 1 ? "the last day" : "the last \(days) days") + ", from \(isoInstant(start))"
  }
}
