// Tests of Dice in the final MLP: a hand-computed forward pass, the layer's backward pass
// against differences, moving statistics, batch-independent scores, threads and model files.
// Whole-model gradient checks with Dice are in GradientTests.swift.

import Testing

@testable import CTR

private final class Values {
  var values: [Float]
  init(_ values: [Float]) { self.values = values }
}

private func diceConfig() -> TrainingConfig {
  var config = Fixtures.smallConfig()
  config.mlpActivation = .dice
  config.learningRate = 0.01
  return config
}

/// Returns the central difference of `objective` along `direction` at `indices` of `box`.
private func difference(
  _ box: Values, indices: [Int], direction: [Float], step: Float, objective: () -> Double
) -> Double {
  let saved = indices.map { box.values[$0] }
  for (n, index) in indices.enumerated() { box.values[index] = saved[n] + step * direction[n] }
  let plus = objective()
  for (n, index) in indices.enumerated() { box.values[index] = saved[n] - step * direction[n] }
  let minus = objective()
  for (n, index) in indices.enumerated() { box.values[index] = saved[n] }
  return (plus - minus) / (2 * Double(step))
}

@Test func diceForwardMatchesHandComputation() {
  // Two units with alphas 0.5 and -0.2, two rows: unit 0 gets 1 and 3 (mean 2, variance 1),
  // unit 1 gets 2 twice (variance 0).
  let dice = DiceActivation(width: 2, alphaOffset: 1, statisticsOffset: 0)
  let parameters: [Float] = [9, 0.5, -0.2]
  let input: [Float] = [1, 2, 3, 2]
  let (output, cache) = dice.forward(parameters, input: input, rows: 2, normalization: .batch)
  #expect(cache.statistics.mean == [2, 2])
  #expect(cache.statistics.variance == [1, 0])
  // 1 / sqrt(1 + 1e-8) rounds to 1 in Float; 1 / sqrt(0 + 1e-8) = 1e4.
  #expect(cache.inverseDeviation == [1, 10_000])
  // sigmoid(-1) = 0.2689414214, sigmoid(1) = 0.7310585786, sigmoid(0) = 0.5.
  // Row 0, unit 0: 0.2689414214 * 1 + 0.7310585786 * 0.5 * 1 = 0.6344707107.
  // Row 1, unit 0: 0.7310585786 * 3 + 0.2689414214 * 0.5 * 3 = 2.5965878679.
  // Unit 1: 0.5 * 2 + 0.5 * -0.2 * 2 = 0.8 in both rows.
  let expected: [Float] = [0.634_470_71, 0.8, 2.596_587_9, 0.8]
  for (index, value) in expected.enumerated() {
    #expect(abs(output[index] - value) <= 1e-6, "output \(index): \(output[index])")
  }
  #expect(cache.normalized == [-1, 0, 1, 0])

  // Moving statistics: unit 0 mean 1 and variance 4, so 3 normalizes to 1 and 1 to 0.
  let moving = DiceStatistics(mean: [1, 0], variance: [4, 1])
  let (predicted, _) = dice.forward(
    parameters, input: input, rows: 2, normalization: .moving(moving))
  // Row 0, unit 0: 0.5 * 1 + 0.5 * 0.5 * 1 = 0.75. Row 1, unit 0: 2.5965878679 as above.
  // Unit 1: 2 normalizes to 2 / sqrt(1 + 1e-8) = 2 (in Float): sigmoid(2) = 0.8807970780,
  // 0.8807970780 * 2 + 0.1192029220 * -0.2 * 2 = 1.7139129872.
  let expectedMoving: [Float] = [0.75, 1.713_913_0, 2.596_587_9, 1.713_913_0]
  for (index, value) in expectedMoving.enumerated() {
    #expect(abs(predicted[index] - value) <= 1e-6, "moving output \(index): \(predicted[index])")
  }
}

@Test(arguments: [true, false])
func diceLayerBackwardMatchesDifferences(batchStatistics: Bool) {
  let rows = 7
  let width = 3
  let dice = DiceActivation(width: width, alphaOffset: 2, statisticsOffset: 1)
  var random = SplitMix64(seed: 31)
  let parameters = Values([0, 0] + (0..<width).map { _ in random.nextFloat(in: -0.5..<0.5) })
  let input = Values((0..<(rows * width)).map { _ in random.nextFloat(in: -2..<2) })
  let probe = (0..<(rows * width)).map { _ in random.nextFloat(in: -1..<1) }
  let moving = DiceStatistics(mean: [9, 0.3, -0.2, 0.1], variance: [9, 1.5, 0.7, 2])
  let normalization: DiceNormalization = batchStatistics ? .batch : .moving(moving)
  // Objective: sum of y * probe, so dy = probe.
  func objective() -> Double {
    let (output, _) = dice.forward(
      parameters.values, input: input.values, rows: rows, normalization: normalization)
    return zip(output, probe).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
  }

  let (_, cache) = dice.forward(
    parameters.values, input: input.values, rows: rows, normalization: normalization)
  #expect(cache.usesBatchStatistics == batchStatistics)
  var gradients = [Float](repeating: 0, count: parameters.values.count)
  let inputGradient = dice.backward(
    parameters.values, gradients: &gradients, cache: cache, outputGradient: probe, rows: rows)
  #expect(gradients[0] == 0)
  #expect(gradients[1] == 0)

  for unit in 0..<width {
    let index = dice.alphaOffset + unit
    let numeric = difference(
      parameters, indices: [index], direction: [1], step: 1e-2, objective: objective)
    let analytic = Double(gradients[index])
    #expect(abs(analytic) > 1e-3, "alpha \(unit) has no gradient")
    #expect(abs(numeric - analytic) <= 1e-3 + 0.01 * abs(analytic), "alpha \(unit)")
  }
  // Every input on its own: under batch statistics each one moves its column's mean and
  // variance, so a backward pass without those terms fails here.
  for index in 0..<(rows * width) {
    let numeric = difference(
      input, indices: [index], direction: [1], step: 1e-3, objective: objective)
    let analytic = Double(inputGradient[index])
    #expect(
      abs(numeric - analytic) <= 1e-3 + 0.01 * abs(analytic),
      "input \(index): numeric \(numeric) analytic \(analytic)")
  }
}

@Test func movingStatisticsFollowUpdateRule() {
  var moving = DiceMovingStatistics.initial(units: 1)
  #expect(moving.values == DiceStatistics(mean: [0], variance: [1]))
  // The first update replaces the starting values.
  moving.update(shares: [(2, DiceStatistics(mean: [2], variance: [1]))])
  #expect(moving.values == DiceStatistics(mean: [2], variance: [1]))
  #expect(moving.updates == 1)
  // Two shares of 1 and 3 rows: the step's mean is (4 + 0 * 3) / 4 = 1 and its variance
  // (0 + 2 * 3) / 4 = 1.5. After one update the old value keeps weight 1 / 2.
  moving.update(shares: [
    (1, DiceStatistics(mean: [4], variance: [0])), (3, DiceStatistics(mean: [0], variance: [2])),
  ])
  #expect(moving.values == DiceStatistics(mean: [1.5], variance: [1.25]))
  #expect(moving.updates == 2)
  // From 100 updates on, the old value keeps weight 0.99.
  moving.updates = 500
  moving.update(shares: [(5, DiceStatistics(mean: [101.5], variance: [1.25]))])
  #expect(abs(moving.values.mean[0] - 2.5) <= 1e-5)
  #expect(moving.values.variance[0] == 1.25)
}

@Test func diceKeepsReLULayoutAndDraws() throws {
  let spec = Fixtures.sequenceSpec()
  let relu = try AttentionModel(spec: spec, config: Fixtures.smallConfig(), seed: 8)
  let dice = try AttentionModel(spec: spec, config: diceConfig(), seed: 8)
  #expect(relu.mlpActivation == .relu)
  #expect(dice.mlpActivation == .dice)
  #expect(relu.diceStatistics == nil)
  // One alpha per hidden unit (7 + 5) after the ReLU model's weights, starting at 0.
  #expect(dice.dense.count == relu.dense.count + 12)
  #expect(Array(dice.dense[0..<relu.dense.count]) == relu.dense)
  #expect(dice.dense[relu.dense.count...].allSatisfy { $0 == 0 })
  #expect(dice.embeddings == relu.embeddings)
  #expect(dice.diceStatistics == .initial(units: 12))
}

@Test func diceScoresIgnoreBatch() throws {
  for spec in [Fixtures.sequenceSpec(), Fixtures.profileSpec(), Fixtures.plainSpec()] {
    let config = diceConfig()
    let model = try AttentionModel(spec: spec, config: config, seed: 4)
    let trainer = try Trainer(model: model, config: config)
    for seed in 0..<4 {
      _ = try trainer.trainStep(Fixtures.batch(spec: spec, count: 30, seed: UInt64(60 + seed)))
    }
    let moving = try #require(model.diceStatistics)
    #expect(moving.updates == 4)
    #expect(moving != .initial(units: 12))

    let batch = Fixtures.batch(spec: spec, count: 9, seed: 70)
    let together = model.predict(batch)
    for row in 0..<batch.count {
      #expect(model.predict(batch.slice(row..<(row + 1))) == [together[row]], "row \(row)")
    }
    #expect(model.predict(batch, threads: 3) == together)
    // Training statistics would give other scores: the moving ones are really used.
    let trainingLogits = model.forward(batch, batchStatistics: true).logits
    let predictionLogits = model.forward(batch).logits
    #expect(trainingLogits != predictionLogits)
  }
}

@Test func diceTrainingIsDeterministicWithTwoThreads() throws {
  let spec = Fixtures.sequenceSpec()
  let batches = (0..<4).map { Fixtures.batch(spec: spec, count: 33, seed: UInt64(80 + $0)) }
  var config = diceConfig()
  config.threads = 2
  var runs: [(dense: [Float], statistics: DiceMovingStatistics?, losses: [Float])] = []
  for _ in 0..<2 {
    let model = try AttentionModel(spec: spec, config: config, seed: 3)
    let trainer = try Trainer(model: model, config: config)
    let losses = try batches.map { try trainer.trainStep($0) }
    runs.append((model.dense, model.diceStatistics, losses))
  }
  #expect(runs[0].dense == runs[1].dense)
  #expect(runs[0].statistics == runs[1].statistics)
  #expect(runs[0].losses == runs[1].losses)

  // One step with two threads: rows 0..<16 and 16..<33 are normalized separately, and the
  // moving statistics take their row-weighted mean.
  let model = try AttentionModel(spec: spec, config: config, seed: 3)
  let shares = [batches[0].slice(0..<16), batches[0].slice(16..<33)].map {
    model.forward($0, batchStatistics: true).mlpDice
  }
  let trainer = try Trainer(model: model, config: config)
  _ = try trainer.trainStep(batches[0])
  let moving = try #require(model.diceStatistics)
  var offset = 0
  for layer in 0..<2 {
    for unit in 0..<shares[0][layer].statistics.mean.count {
      let mean =
        (16 * Double(shares[0][layer].statistics.mean[unit])
          + 17 * Double(shares[1][layer].statistics.mean[unit])) / 33
      let variance =
        (16 * Double(shares[0][layer].statistics.variance[unit])
          + 17 * Double(shares[1][layer].statistics.variance[unit])) / 33
      #expect(abs(Double(moving.values.mean[offset]) - mean) <= 1e-6 * max(1, abs(mean)))
      #expect(abs(Double(moving.values.variance[offset]) - variance) <= 1e-6 * max(1, variance))
      offset += 1
    }
  }
  #expect(offset == 12)
}

@Test func snapshotRestoresDiceStatistics() throws {
  let spec = Fixtures.profileSpec()
  let config = diceConfig()
  let model = try AttentionModel(spec: spec, config: config, seed: 2)
  let trainer = try Trainer(model: model, config: config)
  _ = try trainer.trainStep(Fixtures.batch(spec: spec, count: 20, seed: 1))
  let snapshot = trainer.snapshot()
  let saved = model.diceStatistics
  _ = try trainer.trainStep(Fixtures.batch(spec: spec, count: 20, seed: 2))
  #expect(model.diceStatistics != saved)
  try trainer.restore(snapshot)
  #expect(model.diceStatistics == saved)
}

/// Returns `body` (a model file without its CRC) with its length field and CRC fixed.
private func sealed(_ body: [UInt8]) -> [UInt8] {
  var bytes = body
  let length = UInt64(bytes.count + 4)
  for index in 0..<8 {
    bytes[12 + index] = UInt8(truncatingIfNeeded: length >> (8 * UInt64(index)))
  }
  let crc = CRC32.checksum(bytes[...])
  for index in 0..<4 {
    bytes.append(UInt8(truncatingIfNeeded: crc >> (8 * UInt32(index))))
  }
  return bytes
}

private func trainedDiceModel() throws -> (AttentionModel, EncodedBatch) {
  let spec = Fixtures.sequenceSpec()
  let config = diceConfig()
  let model = try AttentionModel(spec: spec, config: config, seed: 6)
  let trainer = try Trainer(model: model, config: config)
  let batch = Fixtures.batch(spec: spec, count: 40, seed: 12)
  for _ in 0..<3 { _ = try trainer.trainStep(batch) }
  return (model, batch)
}

@Test func diceModelFileRoundTripIsBitExact() throws {
  let (model, batch) = try trainedDiceModel()
  let bytes = model.serialized()
  let loaded = try #require(try loadModel(bytes) as? AttentionModel)
  #expect(loaded.mlpActivation == .dice)
  #expect(loaded.diceStatistics == model.diceStatistics)
  #expect(loaded.diceStatistics?.updates == 3)
  #expect(loaded.dense == model.dense)
  #expect(loaded.predict(batch) == model.predict(batch))
  #expect(loaded.serialized() == bytes)
}

@Test func diceFileWithBadStatisticsIsRejected() throws {
  let (model, _) = try trainedDiceModel()
  let bytes = model.serialized()
  let units = 12
  // The file ends with "dice", the means, the variances, the update count and the CRC.
  let statisticsSize = 2 * (8 + 4 * units) + 8
  let activationEnd = bytes.count - 4 - statisticsSize
  #expect(Array(bytes[(activationEnd - 8)..<activationEnd]) == [4, 0, 0, 0] + Array("dice".utf8))

  func message(_ body: [UInt8]) -> String? {
    do {
      _ = try loadModel(sealed(body))
      return nil
    } catch {
      #expect(error.kind == .invalidModelFile)
      return error.message
    }
  }
  // The statistics are missing.
  let missing = message(Array(bytes[..<activationEnd]))
  #expect(
    missing?.contains("the activation is 'dice' but its moving statistics are missing") == true)
  // The update count is cut off.
  let cut = message(Array(bytes[..<(bytes.count - 4 - 8)]))
  #expect(cut?.contains("moving statistics are missing or cut short") == true)
  // One mean too few: rewrite the means' count and drop their last value.
  var short = Array(bytes[..<activationEnd])
  short += [UInt8(units - 1), 0, 0, 0, 0, 0, 0, 0]
  short += bytes[(activationEnd + 8)..<(activationEnd + 8 + 4 * (units - 1))]
  short += bytes[(activationEnd + 8 + 4 * units)..<(bytes.count - 4)]
  #expect(
    message(short) == "invalid model file: the Dice moving means have 11 values, the "
      + "final MLP's hidden layers have 12 units")
  // A negative variance.
  var negative = Array(bytes.dropLast(4))
  let firstVariance = activationEnd + 8 + 4 * units + 8
  let bits = Float(-1).bitPattern
  for index in 0..<4 {
    negative[firstVariance + index] = UInt8(truncatingIfNeeded: bits >> (8 * UInt32(index)))
  }
  #expect(message(negative)?.contains("a Dice moving variance is -1.0, below 0") == true)
  // The unchanged bytes still load.
  #expect(message(Array(bytes.dropLast(4))) == nil)
}
