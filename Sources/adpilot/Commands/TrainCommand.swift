// `adpilot train` trains a data set's attention model and logistic baseline, prints their
// validation metrics side by side and moves the champion alias; `adpilot models` lists models.

import AdPilot
import CTR
import Foundation

let trainCommand = Command(
  name: "train",
  summary: "train the attention CTR model and its logistic baseline from logged impressions",
  usage:
    "train --dataset NAME [--model-name NAME] [--epochs N] [--batch-size N] [--threads N] "
    + "[--seed N] [--learning-rate X] [--learning-rate-decay X] [--l2 X] "
    + "[--logistic-learning-rate X] [--promotion-margin X] [--negative-rate W] "
    + "[--activation relu|dice] [--threshold X] [--validation-days N] [--warm-start]",
  options: [
    .value("dataset", "NAME", "data set to train on (see `adpilot summary`)"),
    .value("model-name", "NAME", "registry name of the models (default: the data set's name)"),
    .value(
      "epochs", "N",
      "maximum passes over the training rows, 1 to 100 (default "
        + "\(TrainOptions(dataset: "").maxEpochs))"),
    .value(
      "batch-size", "N",
      "rows per mini-batch, 16 to 65536 (default: the largest power of two from 256 to 1024 "
        + "that gives 100 steps per epoch)"),
    .value(
      "learning-rate", "X",
      "Adam step size in (0, 1] of the attention model in the first epoch (default 0.002)"),
    .value(
      "learning-rate-decay", "X",
      "factor in (0, 1] applied to the attention model's step size after each epoch (default "
        + "\(TrainOptions(dataset: "").learningRateDecay))"),
    .value(
      "l2", "X",
      "L2 coefficient in [0, 1] on dense weights and the embedding rows a step touches, both models; "
        + "a row's L2 counts every step since its last update "
        + "(default \(TrainOptions(dataset: "").l2))"),
    .value(
      "logistic-learning-rate", "X",
      "Adam step size in (0, 1] of the logistic baseline (default "
        + "\(TrainOptions(dataset: "").logisticLearningRate))"
    ),
    .value(
      "threads", "N",
      "threads per training step (default: the number of processors, here "
        + "\(ProcessInfo.processInfo.activeProcessorCount)); a seed and a thread count fix the "
        + "model bit for bit"),
    .value("seed", "N", "seed of initialization, shuffling and negative sampling (default 1)"),
    .value("promotion-margin", "X", "relative log-loss gain a challenger needs (default 0.001)"),
    .value(
      "negative-rate", "W",
      "keep every click and each non-click with probability W, 0 < W <= 1, chosen from the "
        + "impression id and --seed (default 1); predictions are corrected for W and "
        + "validation rows are never sampled"),
    .value(
      "activation", "relu|dice",
      "activation of the attention model's final-MLP hidden layers (default relu, or the "
        + "champion's with --warm-start); dice "
        + "normalizes with each training thread's share of a batch and predicts with moving "
        + "averages of those statistics"),
    .value(
      "threshold", "X",
      "pCTR at or above which a validation row counts as a predicted click for precision, "
        + "recall and F1, 0 < X < 1 (default: the click rate of the training rows)"),
    .value(
      "validation-days", "N",
      "calendar days held out for validation, ending with the last logged day, when the data "
        + "set has no 'test' split; 1 to 366 (default 1)"),
    .flag(
      "warm-start",
      "start from the champion's weights (fresh Adam moments) and train on the rows logged "
        + "after its training window"),
  ],
  run: { parsed, context in
    var options = TrainOptions(dataset: try required(parsed, "dataset"))
    options.modelName = try parsed.name("model-name")
    options.maxEpochs = try parsed.int("epochs", default: options.maxEpochs)
    if parsed.value("batch-size") != nil {
      options.batchSize = try parsed.int("batch-size", default: 0)
    }
    options.learningRate = Float(
      try parsed.float("learning-rate", default: Double(options.learningRate)))
    options.logisticLearningRate = Float(
      try parsed.float("logistic-learning-rate", default: Double(options.logisticLearningRate)))
    options.learningRateDecay = Float(
      try parsed.float("learning-rate-decay", default: Double(options.learningRateDecay)))
    options.l2 = Float(try parsed.float("l2", default: Double(options.l2)))
    options.threads = try parsed.int("threads", default: options.threads)
    options.seed = try parsed.uint64("seed", default: options.seed)
    options.promotionMargin = try parsed.double(
      "promotion-margin", default: options.promotionMargin)
    // The trainer keeps the rate as a 32-bit float.
    options.negativeRate = try parsed.float("negative-rate", default: options.negativeRate)
    options.warmStart = parsed.flag("warm-start")
    options.validationDays = try parsed.int("validation-days", default: options.validationDays)
    if let name = parsed.value("activation") {
      guard let activation = MLPActivation(rawValue: name) else {
        throw UsageError(message: "--activation must be relu or dice, got '\(name)'")
      }
      options.mlpActivation = activation
    }
    if parsed.value("threshold") != nil {
      let threshold = try parsed.double("threshold", default: 0)
      guard threshold > 0 && threshold < 1 else {
        throw UsageError(
          message: "--threshold must be in (0, 1), got \(threshold); try 0.05, or leave it "
            + "out to use the training click rate")
      }
      options.threshold = threshold
    }
    // The models store the rate as a Float, so a value that rounds to 0 there is rejected too.
    guard options.negativeRate <= 1 && Float(options.negativeRate) > 0 else {
      throw UsageError(
        message: "--negative-rate must be in (0, 1], got \(options.negativeRate); "
          + "try 0.1 to keep a tenth of the non-clicks")
    }
    guard (1...100).contains(options.maxEpochs) else {
      throw UsageError(message: "--epochs must be between 1 and 100, got \(options.maxEpochs)")
    }
    if let batchSize = options.batchSize, !(16...65_536).contains(batchSize) {
      throw UsageError(message: "--batch-size must be between 16 and 65536, got \(batchSize)")
    }
    guard options.learningRateDecay > 0 && options.learningRateDecay <= 1 else {
      throw UsageError(
        message: "--learning-rate-decay must be in (0, 1], got \(options.learningRateDecay); "
          + "try 0.5 to halve the step size after each epoch")
    }
    guard (1...366).contains(options.validationDays) else {
      throw UsageError(
        message: "--validation-days must be between 1 and 366, got \(options.validationDays)")
    }
    guard (1...256).contains(options.threads) else {
      throw UsageError(message: "--threads must be between 1 and 256, got \(options.threads)")
    }
    guard options.promotionMargin >= 0 && options.promotionMargin < 1 else {
      throw UsageError(
        message: "--promotion-margin must be in [0, 1), got \(options.promotionMargin); "
          + "try 0.001 to ask a challenger for a 0.1% lower log loss")
    }
    // Useful L2 weights are far below 1, and the default is 5e-5.
    guard options.l2 >= 0 && options.l2 <= 1 else {
      throw UsageError(message: "--l2 must be in [0, 1], got \(options.l2); try 1e-5")
    }
    // Adam moves each weight by up to about its step size per step, while embeddings start
    // within 0.05 of zero. The defaults are 0.002 and 0.02.
    for (name, rate, suggestion) in [
      ("learning-rate", options.learningRate, "0.002"),
      ("logistic-learning-rate", options.logisticLearningRate, "0.02"),
    ] where !(rate > 0 && rate <= 1) {
      throw UsageError(message: "--\(name) must be in (0, 1], got \(rate); try \(suggestion)")
    }

    let processors = ProcessInfo.processInfo.activeProcessorCount
    if options.threads > processors {
      context.print(
        "note: --threads \(options.threads) is more than this machine's \(processors) "
          + "processors, so steps run no faster than with \(processors); the model is still "
          + "the one \(options.threads) threads give on any machine")
    }
    keepFreedMemoryForReuse()
    let connection = try context.connect()
    defer { connection.close() }
    let outcome = try TrainingPipeline(connection: connection, logger: context.logger).run(options)
    printTrainOutcome(
      outcome, context, validationDaysGiven: parsed.value("validation-days") != nil)
  })

/// Stops glibc from unmapping or trimming freed memory, so each training step reuses the pages
/// of the previous one.
///
/// A training step allocates activation buffers of several megabytes each and frees them at
/// the end. By default glibc returns such blocks to the kernel, and the next step takes a page
/// fault and a page clear for every 4 KiB again: `adpilot bench train --threads 1` ran about
/// 1.7 times faster with these settings on a 2-core x86-64 machine. The process keeps its peak
/// heap in exchange.
// TODO: reuse per-step buffers in the CTR module instead, which helps every allocator.
func keepFreedMemoryForReuse() {
  #if os(Linux)
    // The values of M_TRIM_THRESHOLD and M_MMAP_THRESHOLD in glibc's <malloc.h>. 32 MiB is
    // the largest mmap threshold glibc accepts on 64-bit targets; larger blocks stay mapped.
    let trimThreshold: Int32 = -1
    let mmapThreshold: Int32 = -3
    _ = glibcMallopt(mmapThreshold, 32 << 20)
    _ = glibcMallopt(trimThreshold, Int32.max)
  #endif
}

#if os(Linux)
  /// glibc's `int mallopt(int param, int value)`, which the Glibc module does not export
  /// because it does not include <malloc.h>.
  @_silgen_name("mallopt")
  private func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32
#endif

func printTrainOutcome(
  _ outcome: TrainOutcome, _ context: Context, validationDaysGiven: Bool = false
) {
  context.print(
    "data set \(outcome.dataset.name): trained on \(outcome.trainRows) rows for "
      + "\(outcome.epochs) epoch\(outcome.epochs == 1 ? "" : "s"); validated on "
      + "\(outcome.validationRows) rows")
  context.print(outcome.validationDescription)
  if outcome.epochs > 1 {
    context.print(
      "kept each model's weights from its epoch of lowest validation log loss: "
        + "\(outcome.attention.record.kind) epoch \(outcome.bestEpoch.attention), logistic epoch "
        + "\(outcome.bestEpoch.logistic)")
  }
  if validationDaysGiven, outcome.dataset.validation == "split" {
    context.print(
      "the data set validates on its 'test' split, so --validation-days was not used; leave it "
        + "out for data sets with splits")
  }
  if let start = outcome.warmStartedFrom {
    // The champion seeds only the model of its own kind. The other model's kind is `dnn` on
    // data sets without user or ad fields.
    let fresh =
      start.kind == "logistic"
      ? "the \(outcome.attention.record.kind) model" : "the logistic baseline"
    context.print(
      "warm start from champion \(start.id) (\(start.kind)); \(fresh) starts from fresh "
        + "weights: first-step training loss attention "
        + "\(fixed(Double(outcome.firstStepLoss.attention))), logistic "
        + "\(fixed(Double(outcome.firstStepLoss.logistic)))")
    if outcome.dataset.validation == "split" {
      context.print(
        "the data set has train and test splits, not days, so the warm start trained on split "
          + "'train' as it is loaded now; import the newer rows into it first")
    }
  }
  if outcome.negativeRate < 1 {
    context.print(
      "negative downsampling: kept each non-click with probability \(outcome.negativeRate) "
        + "and dropped \(outcome.droppedNegatives) of them; predictions are corrected for it")
  }
  if outcome.attention.record.kind == "dnn" {
    context.print("no user or ad fields in this data set, so the model ran as a plain DNN")
  }
  if let warning = outcome.sparseValidation {
    context.print(warning)
  }
  let report = outcome.attention.report
  if report.clicks == 0 || report.clicks == Double(report.count) {
    context.print(
      "warning: the validation rows are all \(report.clicks == 0 ? "non-clicks" : "clicks"), so "
        + "AUC is undefined and log loss alone chose the champion; validate on days with both "
        + "clicks and non-clicks")
  }
  if outcome.mlpActivation != .relu {
    context.print(
      "the \(outcome.attention.record.kind) model's final MLP uses \(outcome.mlpActivation.rawValue)"
    )
  }
  context.print(
    "precision, recall and F1 count rows with pCTR >= \(thresholdText(outcome.threshold)) "
      + "as predicted clicks")
  context.print(
    rightPad("model", 30) + rightPad("kind", 10) + leftPad("AUC", 8) + leftPad("95% CI", 16)
      + leftPad("gAUC", 8) + leftPad("logloss", 9) + leftPad("NE", 8) + leftPad("calib", 8)
      + leftPad("prec", 8) + leftPad("recall", 8) + leftPad("F1", 8))
  var rows = [outcome.attention, outcome.logistic]
  // The previous champion gets its own row unless retraining reproduced it byte for byte.
  if let previous = outcome.previousChampion,
    !rows.contains(where: { $0.record.id == previous.record.id })
  {
    rows.append(previous)
  }
  for evaluation in rows {
    let report = evaluation.report
    let interval = report.aucInterval.map {
      "[\(String(format: "%.3f", $0.lowerBound)), \(String(format: "%.3f", $0.upperBound))]"
    }
    context.print(
      rightPad(evaluation.record.id, 30) + rightPad(evaluation.record.kind, 10)
        + leftPad(optionalFixed(report.auc), 8) + leftPad(interval ?? "n/a", 16)
        + leftPad(optionalFixed(report.gauc), 8) + leftPad(fixed(report.logLoss), 9)
        + leftPad(optionalFixed(report.normalizedEntropy), 8)
        + leftPad(optionalFixed(report.calibration), 8)
        + leftPad(optionalFixed(report.classification?.precision), 8)
        + leftPad(optionalFixed(report.classification?.recall), 8)
        + leftPad(optionalFixed(report.classification?.f1), 8))
  }
  context.print("champion: \(outcome.champion?.id ?? "none") (\(outcome.championReason))")
  if let note = outcome.datasetChangeNote {
    context.print(note)
  }
  if let note = outcome.warmStartSplitNote {
    context.print(note)
  }

  let championReport = rows.first { $0.record.id == outcome.champion?.id }?.report
  if let entropy = championReport?.normalizedEntropy, entropy >= 1 {
    context.print(
      "note: the champion's normalized entropy is \(fixed(entropy)), so on the validation rows "
        + "it predicts no better than their click rate would; a click rate that differs "
        + "between training and validation rows also does this. Check the training rows, or "
        + "roll back with `adpilot models promote MODEL_ID --reason TEXT`")
  }
  if let championReport, !championReport.reliability.isEmpty {
    context.print("reliability of the champion on the validation rows:")
    context.print(
      rightPad("  predicted range", 22) + leftPad("rows", 9) + leftPad("mean pCTR", 12)
        + leftPad("click rate", 12))
    for bin in championReport.reliability where bin.count > 0 {
      let range = String(format: "  %.3f - %.3f", bin.lowerBound, bin.upperBound)
      context.print(
        rightPad(range, 22) + leftPad("\(bin.count)", 9)
          + leftPad(String(format: "%.5f", bin.meanPrediction), 12)
          + leftPad(String(format: "%.5f", bin.observedRate), 12))
    }
  }
}

func fixed(_ value: Double) -> String {
  value.isFinite ? String(format: "%.4f", value) : "n/a"
}

func optionalFixed(_ value: Double?) -> String {
  value.map(fixed) ?? "n/a"
}

let modelsCommand = Command(
  name: "models",
  summary: "list registered models, promote one to champion by hand, or show a name's history",
  usage:
    "models [--name NAME] | models promote MODEL_ID --reason TEXT | models history --name NAME",
  options: [
    .value("name", "NAME", "only models of this registry name (list, history)"),
    .value("reason", "TEXT", "why the model is promoted, kept in the history (promote)"),
  ],
  maxPositionals: 2,
  run: { parsed, context in
    if parsed.value("name")?.isEmpty == true {
      throw UsageError(message: "--name needs a model name; list every model with `adpilot models`")
    }
    // A model id names its model name, so promote reads no --name; history and the list no
    // --reason.
    if parsed.positionals.first == "promote", parsed.value("name") != nil {
      throw UsageError(
        message: "--name does not apply to models promote: the model id names the model name")
    }
    if parsed.positionals.first != "promote", parsed.value("reason") != nil {
      throw UsageError(message: "--reason applies to models promote only")
    }
    if parsed.positionals.first == "history", parsed.positionals.count > 1 {
      throw UsageError(
        message: "unexpected argument '\(parsed.positionals[1])'; history takes the model name "
          + "from --name")
    }
    let connection = try context.connect()
    defer { connection.close() }
    let registry = ModelRegistry(connection: connection)
    switch parsed.positionals.first {
    case nil:
      try listModels(registry, name: parsed.value("name"), context)
    case "promote":
      guard parsed.positionals.count == 2 else {
        throw UsageError(
          message: "promote needs a model id, such as `models promote NAME-v3-1a2b3c4d`")
      }
      let reason = try required(parsed, "reason")
      let (record, previous) = try registry.promote(id: parsed.positionals[1], reason: reason)
      context.print(
        "champion of \(record.name): \(previous ?? "none") -> \(record.id) (\(record.kind))")
    case "history":
      let name = try required(parsed, "name")
      let moves = try registry.history(of: name)
      guard !moves.isEmpty else {
        throw PipelineError(
          "model name '\(name)' has no alias history; list names with `adpilot models`")
      }
      for move in moves {
        context.print("\(move.setAt)  \(move.alias)  \(move.modelId)  \(move.reason)")
      }
    case let action?:
      throw UsageError(message: "unknown models action '\(action)': expected promote or history")
    }
  })

/// Prints the registered models, newest first, marking each name's champion.
private func listModels(_ registry: ModelRegistry, name: String?, _ context: Context) throws {
  let records = try registry.list(name: name)
  if let name, records.isEmpty {
    throw PipelineError("no models named '\(name)'; list every model with `adpilot models`")
  }
  guard !records.isEmpty else {
    context.print("no models registered; train one with `adpilot train --dataset NAME`")
    return
  }
  var champions: [String: String] = [:]
  for name in Set(records.map(\.name)) {
    champions[name] = try registry.alias("champion", of: name)
  }
  // Model names may take 63 characters, so the id column widens to fit the longest id.
  let idWidth = max(34, (records.map(\.id.count).max() ?? 0) + 2)
  context.print(
    rightPad("id", idWidth) + rightPad("kind", 10) + leftPad("valid logloss", 14) + "  created")
  for record in records {
    let mark = champions[record.name] == record.id ? "  champion" : ""
    context.print(
      rightPad(record.id, idWidth) + rightPad(record.kind, 10)
        + leftPad(record.validationLogLoss.map(fixed) ?? "n/a", 14) + "  " + record.createdAt
        + mark)
  }
}

/// Formats a pCTR threshold with five decimals, or in full where five decimals would round
/// it to 0 or 1 (1e-30 to 0.00000, 0.99999994 to 1.00000).
func thresholdText(_ threshold: Double) -> String {
  let rounded = String(format: "%.5f", threshold)
  guard let value = Double(rounded), value > 0 && value < 1 else { return "\(threshold)" }
  return rounded
}
