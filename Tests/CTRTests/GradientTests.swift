// Finite-difference checks of every hand-written backward pass: dense layer, MLP, loss, and the
// whole attention model in sequence, profile and plain modes, with ReLU and with Dice in the
// final MLP, one parameter group at a time.
//
// Tolerance: the forward runs in Float32, so a loss near 0.7 carries rounding error near 1e-7.
// Central differences with step h then carry about 1e-7 / h of noise, plus O(h^2) truncation
// error and the error of any ReLU kink the step crosses. Model checks move along a random unit
// direction with h = 1e-3 (and 2.5e-4 when a kink is near), which keeps all three below the
// 2e-4 + 2 % allowed. A wrong backward (a dropped term, a swapped sign) is off by far more, as
// changing one term in the backward pass showed while these tests were written.

import Testing

@testable import CTR

/// Central difference of `loss` along `direction` applied at `indices` of `parameters`.
/// Parameters reached through closures, so the loss closure can read them while they change.
private struct Access {
  var get: (Int) -> Float
  var set: (Int, Float) -> Void
}

private final class Box {
  var values: [Float]
  init(_ values: [Float]) { self.values = values }
  var access: Access { Access(get: { self.values[$0] }, set: { self.values[$0] = $1 }) }
}

private func denseAccess(_ model: some TrainableModel) -> Access {
  Access(get: { model.dense[$0] }, set: { model.dense[$0] = $1 })
}

private func embeddingAccess(_ model: some TrainableModel) -> Access {
  Access(get: { model.embeddings[$0] }, set: { model.embeddings[$0] = $1 })
}

private func directionalDifference(
  _ parameters: Access, indices: [Int], direction: [Float], step: Float,
  loss: () -> Double
) -> Double {
  let saved = indices.map { parameters.get($0) }
  for (n, index) in indices.enumerated() { parameters.set(index, saved[n] + step * direction[n]) }
  let plus = loss()
  for (n, index) in indices.enumerated() { parameters.set(index, saved[n] - step * direction[n]) }
  let minus = loss()
  for (n, index) in indices.enumerated() { parameters.set(index, saved[n]) }
  return (plus - minus) / (2 * Double(step))
}

/// Returns a random direction of unit length with entries +-1/sqrt(count), so a step h moves the
/// parameters by h in total and crosses few ReLU kinks, whatever the group's size.
/// Returns the central difference at h = 1e-3 or at h = 2.5e-4, whichever is closer to
/// `analytic`. A ReLU kink within one step distorts that difference only, and a wrong backward
/// pass would have to match at one of two scales by chance to pass.
private func modelDifference(
  _ parameters: Access, indices: [Int], direction: [Float], analytic: Double,
  loss: () -> Double
) -> Double {
  let coarse = directionalDifference(
    parameters, indices: indices, direction: direction, step: 1e-3, loss: loss)
  let fine = directionalDifference(
    parameters, indices: indices, direction: direction, step: 2.5e-4, loss: loss)
  return abs(coarse - analytic) <= abs(fine - analytic) ? coarse : fine
}

private func randomSigns(_ count: Int, seed: UInt64) -> [Float] {
  var random = SplitMix64(seed: seed)
  let scale = 1 / Float(count).squareRoot()
  return (0..<count).map { _ in random.next() & 1 == 0 ? scale : -scale }
}

private func expectClose(_ numeric: Double, _ analytic: Double, _ label: String) {
  let tolerance = 2e-4 + 0.02 * abs(analytic)
  #expect(abs(numeric - analytic) <= tolerance, "\(label): numeric \(numeric) analytic \(analytic)")
}

@Test func denseLayerBackwardMatchesDifferences() {
  var offset = 0
  let layer = DenseLayer(inputs: 5, outputs: 19, offset: &offset)
  var initial = [Float](repeating: 0, count: offset)
  var random = SplitMix64(seed: 1)
  layer.initialize(&initial, random: &random)
  for index in layer.biasOffset..<offset { initial[index] = random.nextFloat(in: -1..<1) }
  let parameterBox = Box(initial)
  let rows = 6
  let inputBox = Box((0..<(rows * 5)).map { _ in random.nextFloat(in: -1..<1) })
  let probe = (0..<(rows * 19)).map { _ in random.nextFloat(in: -1..<1) }

  // Objective: sum of y * probe, so dy = probe.
  func objective() -> Double {
    var output = [Float](repeating: 0, count: rows * 19)
    parameterBox.values.withUnsafeBufferPointer { p in
      inputBox.values.withUnsafeBufferPointer { x in
        output.withUnsafeMutableBufferPointer { y in
          layer.forward(
            p.baseAddress!, input: x.baseAddress!, output: y.baseAddress!, rows: rows, relu: false)
        }
      }
    }
    return zip(output, probe).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
  }

  var gradients = [Float](repeating: 0, count: offset)
  var inputGradient = [Float](repeating: 0, count: rows * 5)
  parameterBox.values.withUnsafeBufferPointer { p in
    gradients.withUnsafeMutableBufferPointer { g in
      inputBox.values.withUnsafeBufferPointer { x in
        probe.withUnsafeBufferPointer { dy in
          inputGradient.withUnsafeMutableBufferPointer { dx in
            layer.backward(
              p.baseAddress!, gradients: g.baseAddress!, input: x.baseAddress!,
              outputGradient: dy.baseAddress!, inputGradient: dx.baseAddress!, rows: rows)
          }
        }
      }
    }
  }
  // The objective is linear in each value, so single-coordinate differences are exact up to
  // rounding.
  for index in [0, 7, 40, 94, layer.biasOffset, layer.biasOffset + 18] {
    let numeric = directionalDifference(
      parameterBox.access, indices: [index], direction: [1], step: 1e-2, loss: objective)
    expectClose(numeric, Double(gradients[index]), "parameter \(index)")
  }
  for index in [0, 3, 11, 29] {
    let numeric = directionalDifference(
      inputBox.access, indices: [index], direction: [1], step: 1e-2, loss: objective)
    expectClose(numeric, Double(inputGradient[index]), "input \(index)")
  }
}

@Test func mlpBackwardMatchesDifferences() {
  var offset = 0
  let mlp = MLP(inputs: 6, hidden: [9, 4], outputs: 2, offset: &offset)
  var initial = [Float](repeating: 0, count: offset)
  var random = SplitMix64(seed: 2)
  for layer in mlp.layers { layer.initialize(&initial, random: &random) }
  let parameterBox = Box(initial)
  let rows = 5
  let input = (0..<(rows * 6)).map { _ in random.nextFloat(in: -1..<1) }
  let inputBox = Box(input)
  let probe = (0..<(rows * 2)).map { _ in random.nextFloat(in: -1..<1) }
  let parameters = initial
  func objective() -> Double {
    let output = mlp.forward(parameterBox.values, input: inputBox.values, rows: rows).last!
    return zip(output, probe).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
  }
  var gradients = [Float](repeating: 0, count: offset)
  let activations = mlp.forward(parameters, input: input, rows: rows)
  let inputGradient = mlp.backward(
    parameters, gradients: &gradients, input: input, activations: activations,
    outputGradient: probe, rows: rows, needInputGradient: true)
  for (number, layer) in mlp.layers.enumerated() {
    let indices = Array(layer.weightOffset..<(layer.biasOffset + layer.outputs))
    let direction = randomSigns(indices.count, seed: UInt64(number))
    let analytic = zip(indices, direction).reduce(0.0) {
      $0 + Double(gradients[$1.0]) * Double($1.1)
    }
    let numeric = directionalDifference(
      parameterBox.access, indices: indices, direction: direction, step: 1e-3, loss: objective)
    expectClose(numeric, analytic, "layer \(number)")
  }
  let direction = randomSigns(input.count, seed: 9)
  let analytic = zip(inputGradient, direction).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
  let numeric = directionalDifference(
    inputBox.access, indices: Array(input.indices), direction: direction, step: 1e-3,
    loss: objective)
  expectClose(numeric, analytic, "input")
}

@Test func crossEntropyGradientMatchesDifferences() {
  let labels: [Float] = [1, 0, 1, 0]
  let logits = Box([-3, -0.5, 0.7, 12])
  let analytic = crossEntropyGradient(logits: logits.values, labels: labels)
  for index in logits.values.indices {
    let numeric = directionalDifference(
      logits.access, indices: [index], direction: [1], step: 1e-2
    ) { meanCrossEntropy(logits: logits.values, labels: labels) }
    expectClose(numeric, Double(analytic[index]), "logit \(index)")
  }
  // Stable at extreme logits: log(1 + e^-50) ~ 2e-22 and 50 + that.
  #expect(Probability.crossEntropy(logit: 50, label: 1) < 1e-20)
  #expect(Probability.crossEntropy(logit: 50, label: 0) == 50)
  #expect(Probability.crossEntropy(logit: -200, label: 1) == 200)
}

/// Checks one model's gradients, group by group, against central differences of its loss.
private func checkModelGradients(
  spec: FeatureSpec, expectedKind: ModelKind, config: TrainingConfig = Fixtures.smallConfig(),
  embeddingScale: Float = 10, batchSeed: UInt64 = 5
) throws {
  let model = try AttentionModel(spec: spec, config: config, seed: 11)
  #expect(model.kind == expectedKind)
  // Larger embeddings than the default initialization give the attention weights some spread.
  for index in model.embeddings.indices { model.embeddings[index] *= embeddingScale }
  // Nonzero biases: with zero biases a row whose hidden units are all dead sits exactly on a
  // ReLU kink, where differences give half the slope and the backward pass gives 0.
  var random = SplitMix64(seed: 99)
  for index in model.dense.indices { model.dense[index] += random.nextFloat(in: -0.05..<0.05) }
  let batch = Fixtures.batch(spec: spec, count: 6, seed: batchSeed)
  var sparse = SparseGradient(tableRows: model.layout.totalRows, width: spec.embeddingDimension)
  let (_, dense) = model.lossAndGradients(batch, sparse: &sparse)
  // The loss of a training step: Dice layers normalize with the batch's own statistics.
  func trainingLoss() -> Double {
    meanCrossEntropy(
      logits: model.forward(batch, batchStatistics: true).logits, labels: batch.labels)
  }

  // Each dense layer is a group: user-field projections, then the activation unit, then the MLP.
  let structure = model.structure
  var groups: [(String, DenseLayer)] = []
  for (number, layer) in structure.projections.enumerated() {
    groups.append(("user-field projection \(number)", layer))
  }
  for (number, layer) in (structure.attention?.layers ?? []).enumerated() {
    groups.append(("activation unit layer \(number)", layer))
  }
  for (number, layer) in structure.mlp.layers.enumerated() {
    groups.append(("MLP layer \(number)", layer))
  }
  #expect(groups.map(\.1) == structure.allLayers)
  for (number, (name, layer)) in groups.enumerated() {
    let indices = Array(layer.weightOffset..<(layer.biasOffset + layer.outputs))
    let direction = randomSigns(indices.count, seed: UInt64(number))
    let analytic = zip(indices, direction).reduce(0.0) {
      $0 + Double(dense[$1.0]) * Double($1.1)
    }
    let numeric = modelDifference(
      denseAccess(model), indices: indices, direction: direction, analytic: analytic
    ) { trainingLoss() }
    #expect(abs(analytic) > 1e-4, "\(name) has no gradient")
    expectClose(numeric, analytic, "\(expectedKind) \(name)")
  }
  // Dice alphas, one group per hidden layer.
  for (number, dice) in structure.mlp.dice.enumerated() {
    let indices = Array(dice.alphaOffset..<(dice.alphaOffset + dice.width))
    let direction = randomSigns(indices.count, seed: UInt64(50 + number))
    let analytic = zip(indices, direction).reduce(0.0) {
      $0 + Double(dense[$1.0]) * Double($1.1)
    }
    let numeric = modelDifference(
      denseAccess(model), indices: indices, direction: direction, analytic: analytic
    ) { trainingLoss() }
    #expect(abs(analytic) > 1e-4, "Dice alphas \(number) have no gradient")
    expectClose(numeric, analytic, "\(expectedKind) Dice alphas \(number)")
  }
  #expect(structure.mlp.dice.count == (config.mlpActivation == .dice ? config.mlpHidden.count : 0))

  // Embedding rows: all touched rows along one random direction, then each row on its own.
  let d = spec.embeddingDimension
  var indices: [Int] = []
  var analyticValues: [Float] = []
  for (slot, row) in sparse.rows.enumerated() {
    for j in 0..<d {
      indices.append(Int(row) * d + j)
      analyticValues.append(sparse.values[slot * d + j])
    }
  }
  let direction = randomSigns(indices.count, seed: 77)
  let analytic = zip(analyticValues, direction).reduce(0.0) {
    $0 + Double($1.0) * Double($1.1)
  }
  let numeric = modelDifference(
    embeddingAccess(model), indices: indices, direction: direction, analytic: analytic
  ) { trainingLoss() }
  expectClose(numeric, analytic, "\(expectedKind) embeddings")
  for slot in 0..<sparse.rows.count {
    let rowIndices = Array((Int(sparse.rows[slot]) * d)..<(Int(sparse.rows[slot]) * d + d))
    let rowDirection = randomSigns(d, seed: UInt64(slot))
    let rowAnalytic = (0..<d).reduce(0.0) {
      $0 + Double(sparse.values[slot * d + $1]) * Double(rowDirection[$1])
    }
    let rowNumeric = modelDifference(
      embeddingAccess(model), indices: rowIndices, direction: rowDirection, analytic: rowAnalytic
    ) { trainingLoss() }
    expectClose(rowNumeric, rowAnalytic, "\(expectedKind) embedding row \(sparse.rows[slot])")
  }
  // Rows the batch never used have no gradient at all.
  let untouched = Set(0..<model.layout.totalRows).subtracting(sparse.rows.map { Int($0) })
  if let row = untouched.min() {
    let numeric = directionalDifference(
      embeddingAccess(model), indices: Array((row * d)..<(row * d + d)),
      direction: [Float](repeating: 1, count: d), step: 1e-2
    ) { trainingLoss() }
    #expect(numeric == 0)
  }
}

@Test func sequenceModelGradientsMatchDifferences() throws {
  try checkModelGradients(spec: Fixtures.sequenceSpec(), expectedKind: .attention)
}

@Test func linearUnitGradientsMatchDifferences() throws {
  // Without hidden layers the unit's first layer is its linear output, with no ReLU. Its key
  // weights are unbounded and the loss is more curved, so embeddings are scaled less.
  var config = Fixtures.smallConfig()
  config.attentionHidden = []
  try checkModelGradients(
    spec: Fixtures.sequenceSpec(), expectedKind: .attention, config: config, embeddingScale: 3,
    batchSeed: 6)
  try checkModelGradients(
    spec: Fixtures.profileSpec(), expectedKind: .attention, config: config, embeddingScale: 3)
}

@Test func profileModelGradientsMatchDifferences() throws {
  try checkModelGradients(spec: Fixtures.profileSpec(), expectedKind: .attention)
}

@Test func plainModelGradientsMatchDifferences() throws {
  try checkModelGradients(spec: Fixtures.plainSpec(), expectedKind: .dnn)
}

@Test(arguments: [
  (Fixtures.sequenceSpec(), ModelKind.attention), (Fixtures.profileSpec(), .attention),
  (Fixtures.plainSpec(), .dnn),
])
func diceModelGradientsMatchDifferences(spec: FeatureSpec, kind: ModelKind) throws {
  var config = Fixtures.smallConfig()
  config.mlpActivation = .dice
  try checkModelGradients(spec: spec, expectedKind: kind, config: config)
}

@Test func logisticGradientsMatchDifferences() throws {
  let spec = Fixtures.sequenceSpec()
  let model = try LogisticModel(spec: spec, config: TrainingConfig(), seed: 1)
  var random = SplitMix64(seed: 4)
  for index in model.embeddings.indices { model.embeddings[index] = random.nextFloat(in: -1..<1) }
  let batch = Fixtures.batch(spec: spec, count: 8, seed: 6)
  var sparse = SparseGradient(tableRows: model.embeddings.count, width: 1)
  let (_, dense) = model.lossAndGradients(batch, sparse: &sparse)
  let bias = directionalDifference(
    denseAccess(model), indices: [0], direction: [1], step: 1e-2
  ) { model.loss(batch) }
  expectClose(bias, Double(dense[0]), "bias")
  for slot in 0..<sparse.rows.count {
    let numeric = directionalDifference(
      embeddingAccess(model), indices: [Int(sparse.rows[slot])], direction: [1], step: 1e-2
    ) { model.loss(batch) }
    expectClose(numeric, Double(sparse.values[slot]), "weight \(sparse.rows[slot])")
  }
}
